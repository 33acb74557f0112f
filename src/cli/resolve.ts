/**
 * Resolve what the user named: a catalog model, a config.json path, or a Hugging Face repo id the catalog does
 * not have (its config.json fetched once by `prepareModel`, then read from the download cache); a device or system.
 */
import { existsSync, readFileSync } from 'node:fs';
import { specFromConfig, type ModelSpec } from '../core/arch/index.js';
import { catalog, findDevice, hardwareSpec, modelSpec, NotFoundError } from '../catalog/index.js';
import type { HardwareSpec } from '../core/hardware/spec.js';
import { fetchConfig, readCachedConfig } from '../hub/config-cache.js';
import { HubClient, HubError, parseRepoId } from '../hub/index.js';

export class UsageError extends Error {}

export interface ResolvedModel {
  id: string;
  spec: ModelSpec;
}

function isPath(name: string): boolean {
  return name.endsWith('.json') || (existsSync(name) && !/^[\w.-]+\/[\w.-]+$/.test(name));
}

/** The org/name repo id `name` spells (an id or a huggingface.co URL), or null. */
function repoId(name: string): string | null {
  try {
    const id = parseRepoId(name);
    return id.includes('/') ? id : null;
  } catch {
    return null;
  }
}

const PATH_HINT = "a path to the model's config.json works too";

/**
 * The model `name` names. What the reading had to assume (an unknown model_type read as llama) goes to stderr on
 * every command, not only under --explain; --json answers carry it where they print warnings.
 */
export function resolveModel(name: string): ResolvedModel {
  const m = findResolvedModel(name);
  for (const w of m.spec.warnings) process.stderr.write(`warning: ${w}\n`);
  return m;
}

function findResolvedModel(name: string): ResolvedModel {
  if (isPath(name)) {
    if (!existsSync(name)) throw new UsageError(`no such file: ${name}`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(name, 'utf8'));
    } catch (e) {
      throw new UsageError(`${name} is not valid JSON: ${(e as Error).message}`);
    }
    return { id: name, spec: specFromConfig(raw) };
  }
  const models = catalog().models;
  const id = repoId(name);
  const entry = models.find(name) ?? (id ? models.find(id) : undefined);
  if (entry) return { id: entry.id, spec: modelSpec(entry) };
  const cached = id ? readCachedConfig(id) : null;
  if (cached) return { id: cached.id, spec: specFromConfig(cached.config) };
  const e = new NotFoundError('model', name, models.suggest(name));
  throw new UsageError(`${e.message} (a Hugging Face repo id is looked up on the Hub; ${PATH_HINT})`);
}

/** Largest layer or expert count accepted from a fetched config (a config declaring 10^9 would exhaust memory). */
const MAX_COUNT = 100_000;
const COUNT_KEY = /(^|_)(layers?|n_layer|experts)$/i;

function checkCounts(config: Record<string, unknown>, id: string, depth = 0): void {
  if (depth > 3) return;
  for (const [k, v] of Object.entries(config)) {
    if (typeof v === 'number' && COUNT_KEY.test(k) && v > MAX_COUNT)
      throw new UsageError(`config.json of ${id}: ${k} = ${v} is more than ${MAX_COUNT}`);
    if (v && typeof v === 'object' && !Array.isArray(v))
      checkCounts(v as Record<string, unknown>, id, depth + 1);
  }
}

export interface PrepareOptions {
  client?: HubClient;
  cacheDir?: string;
}

/**
 * Makes a repo id the catalog does not have resolvable: fetches its config.json from the Hub (HF_ENDPOINT,
 * HF_TOKEN) into the download cache unless it is there. Catalog names, paths and cached repos ask nothing.
 */
export async function prepareModel(name: string, o: PrepareOptions = {}): Promise<void> {
  if (isPath(name)) return;
  const id = repoId(name);
  if (!id || catalog().models.find(name) || catalog().models.find(id)) return;
  if (readCachedConfig(id, { cacheDir: o.cacheDir })) return;
  const offline = /^(1|true|yes|on)$/i.test(process.env['HF_HUB_OFFLINE'] ?? '');
  if (offline)
    throw new UsageError(
      `'${name}' is not in the catalog or the cache, and HF_HUB_OFFLINE is set so the Hub is not asked; ${PATH_HINT}`,
    );
  const client = o.client ?? new HubClient();
  try {
    await fetchConfig(client, id, {
      cacheDir: o.cacheDir,
      check: (config) => {
        checkCounts(config, id);
        try {
          specFromConfig(config);
        } catch (e) {
          throw new UsageError(`config.json of ${id} on the Hub: ${(e as Error).message}`);
        }
      },
    });
  } catch (e) {
    if (!(e instanceof HubError)) throw e;
    if (e.code === 'not_found') {
      const hint = catalog().models.suggest(name);
      throw new UsageError(
        `unknown model '${name}': not in the catalog` +
          (hint.length ? ` (did you mean ${hint.map((s) => `'${s}'`).join(', ')}?)` : '') +
          ` and not on the Hub at ${client.endpoint}`,
      );
    }
    if (e.code === 'unavailable' || e.code === 'timeout')
      throw new UsageError(
        `'${name}' is not in the catalog and its config.json could not be fetched (${e.message}); offline, ${PATH_HINT}`,
      );
    throw new UsageError(`${e.message}; ${PATH_HINT}`);
  }
}

export function resolveHardware(name: string): HardwareSpec {
  return hardwareSpec(findDevice(name));
}
