/** The vLLM startup records of shared/reference/calibration/vllm-logs.json, read into engine settings. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineOptions } from '../src/core/memory/engines/index.js';
import { REFERENCE } from './helpers.js';

export interface VllmLogRecord {
  id: string;
  model: string;
  version_or_date: string;
  gpu_memory_gib: number;
  tp: number;
  pp: number;
  gpu_memory_utilization: number;
  weight_dtype: string;
  kv_cache_dtype: string;
  max_model_len: number;
  max_num_seqs: string;
  max_num_batched_tokens: string;
  enforce_eager: boolean;
  values: Record<string, string>;
}

export const VLLM_LOGS: VllmLogRecord[] = JSON.parse(
  readFileSync(join(REFERENCE, 'calibration', 'vllm-logs.json'), 'utf8'),
).records;

const GiB = 2 ** 30;

/** The launch settings a record states; scheduler defaults are left for the engine profile to pick. */
export function recordOptions(r: VllmLogRecord): EngineOptions {
  const explicitDtype = /--dtype (\w+)/.exec(r.weight_dtype)?.[1];
  // `--quantization fp8` quantises a 16-bit checkpoint's linear layers at load; otherwise the checkpoint's own.
  const online = /--quantization (\w+)/.exec(r.weight_dtype)?.[1];
  const dtypes: Record<string, string> = { float16: 'fp16', half: 'fp16', bfloat16: 'bf16', float32: 'fp32' };
  return {
    engineVersion: /^\d+\.\d+\.\d+/.exec(r.version_or_date)![0],
    plan: { tp: r.tp, pp: r.pp, ep: 1 },
    maxModelLen: r.max_model_len,
    memoryFraction: r.gpu_memory_utilization,
    deviceTotalBytes: r.gpu_memory_gib * GiB,
    precision: online ?? 'auto',
    kvCacheDtype: /^fp8/.test(r.kv_cache_dtype) ? 'fp8' : 'auto',
    dtype: (explicitDtype && dtypes[explicitDtype]) ?? 'auto',
    enforceEager: r.enforce_eager,
  };
}

/** "58.11 GiB" -> 58.11; "476,016 tokens" -> 476016; "58.11x for ..." -> 58.11. */
export function num(s: string): number {
  return Number(s.replace(/,/g, '').match(/-?[\d.]+/)![0]);
}
