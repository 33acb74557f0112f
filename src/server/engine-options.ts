/**
 * The engine's scheduler and cache limits as `serve` takes them, named as vLLM names them: flags
 * (--max-num-seqs, --max-num-batched-tokens, --block-size, --kv-cache-memory, --max-model-len) or the environment
 * (INFERSIM_MAX_NUM_SEQS, …), a flag winning over its variable. Sizes accept K/M/G (×1000) and Ki/Mi/Gi (×1024).
 */
import type { EngineOptions } from '../engine/engine.js';

export class EngineOptionError extends Error {}

interface Setting {
  key: keyof EngineOptions;
  flag: string;
  env: string;
  min: number;
  max: number;
  bytes?: boolean;
}

export const ENGINE_SETTINGS: readonly Setting[] = [
  { key: 'maxNumSeqs', flag: '--max-num-seqs', env: 'INFERSIM_MAX_NUM_SEQS', min: 1, max: 1024 },
  {
    key: 'maxBatchedTokens',
    flag: '--max-num-batched-tokens',
    env: 'INFERSIM_MAX_NUM_BATCHED_TOKENS',
    min: 1,
    max: 1_048_576,
  },
  { key: 'blockSize', flag: '--block-size', env: 'INFERSIM_BLOCK_SIZE', min: 1, max: 1024 },
  {
    key: 'kvCacheBytes',
    flag: '--kv-cache-memory',
    env: 'INFERSIM_KV_CACHE_MEMORY',
    min: 1,
    max: 2 ** 50,
    bytes: true,
  },
  { key: 'maxModelLen', flag: '--max-model-len', env: 'INFERSIM_MAX_MODEL_LEN', min: 2, max: 1_048_576 },
];

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  ki: 2 ** 10,
  mi: 2 ** 20,
  gi: 2 ** 30,
};

/** One setting's value from text ("8", "2GiB", "512M"), or an error naming the flag and variable. */
export function parseSetting(s: Setting, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|m|g|ki|mi|gi)?b?\s*$/i.exec(text);
  const unit = (m?.[2] ?? '').toLowerCase();
  const v = m && (s.bytes || unit === '') ? Math.round(Number(m[1]) * UNITS[unit]!) : NaN;
  if (!Number.isInteger(v) || v < s.min || v > s.max)
    throw new EngineOptionError(
      `${s.flag} (${s.env}) must be ${s.bytes ? 'a size in bytes (K/M/G, Ki/Mi/Gi allowed)' : 'an integer'} ` +
        `from ${s.min} to ${s.max} (got '${text}')`,
    );
  return v;
}

/** The settings found in the environment. */
export function engineOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): EngineOptions {
  const o: Record<string, number> = {};
  for (const s of ENGINE_SETTINGS) {
    const v = env[s.env];
    if (v !== undefined && v !== '') o[s.key] = parseSetting(s, v);
  }
  return o as EngineOptions;
}
