/**
 * config.json of a Hub repo the catalog does not have, fetched once and kept in the download cache
 * (<cache>/<org>--<name>/<revision>/, the folder a full download of the repo also uses), so that later runs,
 * offline ones included, find it there. Only config.json is fetched, and tokenizer_config.json when the config
 * states no context length (its model_max_length then stands in).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedModelDir, defaultCacheDir } from './download.js';
import { HubError, parseRepoId, type HubClient } from './index.js';

export interface CachedConfig {
  id: string;
  /** config.json, with max_position_embeddings from tokenizer_config.json's model_max_length when it had none. */
  config: Record<string, unknown>;
  /** The cached config.json. */
  path: string;
  /** True when the cache already held it and the Hub was not asked. */
  cached: boolean;
}

export interface ConfigCacheOptions {
  cacheDir?: string;
  revision?: string;
  /** Called with a fetched config before it is cached: what it throws leaves the cache untouched. */
  check?: (config: Record<string, unknown>) => void;
}

const CONTEXT_KEYS = ['max_position_embeddings', 'n_positions', 'max_sequence_length', 'seq_length', 'n_ctx'];

/** The context length a config states (at the top or in its text_config), or null when it states none. */
export function statedContext(config: Record<string, unknown>): number | null {
  const text = config['text_config'];
  for (const c of [config, text && typeof text === 'object' ? (text as Record<string, unknown>) : {}])
    for (const k of CONTEXT_KEYS) if (typeof c[k] === 'number' && c[k] > 0) return c[k];
  return null;
}

/** tokenizer_config.json's model_max_length when it is a real limit (transformers writes 1e30 for none). */
function tokenizerContext(tok: unknown): number | null {
  const n = (tok as { model_max_length?: unknown } | null)?.model_max_length;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 2 ** 31 ? n : null;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function withTokenizerContext(config: Record<string, unknown>, tok: unknown): Record<string, unknown> {
  const n = statedContext(config) === null ? tokenizerContext(tok) : null;
  return n === null ? config : { ...config, max_position_embeddings: n };
}

/** The cached config of `id`, or null when the cache does not hold it (nothing is fetched). */
export function readCachedConfig(input: string, o: ConfigCacheOptions = {}): CachedConfig | null {
  const id = parseRepoId(input);
  const dir = cachedModelDir(id, o.revision ?? 'main', o.cacheDir ?? defaultCacheDir());
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return null;
  const config = readJson(path);
  if (!isObject(config)) return null;
  const tok = readJson(join(dir, 'tokenizer_config.json'));
  return { id, config: withTokenizerContext(config, tok), path, cached: true };
}

/** Writes `text` to `path` through a temporary file, so a reader never sees half a file. */
function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** config.json of `id` from the cache, else from the Hub (then cached). */
export async function fetchConfig(
  client: HubClient,
  input: string,
  o: ConfigCacheOptions = {},
): Promise<CachedConfig> {
  const hit = readCachedConfig(input, o);
  if (hit) return hit;
  const id = parseRepoId(input);
  const revision = o.revision ?? 'main';
  const config = await client.config(id, revision);
  let tok: unknown = null;
  if (statedContext(config) === null) {
    try {
      tok = await client.getJson(
        `/${id}/resolve/${revision}/tokenizer_config.json`,
        id,
        'tokenizer_config.json',
      );
    } catch (e) {
      // A repo without a tokenizer_config.json (or a malformed one) still has its config.
      if (!(e instanceof HubError) || (e.code !== 'not_found' && e.code !== 'malformed')) throw e;
    }
  }
  const merged = withTokenizerContext(config, tok);
  o.check?.(merged);
  const dir = cachedModelDir(id, revision, o.cacheDir ?? defaultCacheDir());
  mkdirSync(dir, { recursive: true });
  if (isObject(tok)) writeAtomic(join(dir, 'tokenizer_config.json'), JSON.stringify(tok, null, 2));
  const path = join(dir, 'config.json');
  writeAtomic(path, JSON.stringify(config, null, 2));
  return { id, config: merged, path, cached: false };
}
