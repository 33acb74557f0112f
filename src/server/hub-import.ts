/**
 * Importing a Hub model into the database: config.json and the Hub's metadata (with the date it was read), so a
 * model that /validate accepts or /config serves is usable by every route afterwards (issue: zephyr-7b-beta was a
 * 404 in /calculate after /validate said yes).
 */
import { countParameters, type ModelSpec } from '../core/arch/index.js';
import type { HubModelInfo } from '../hub/index.js';
import type { StoredModel } from '../store/index.js';
import { specFromUserConfig, type AppContext } from './context.js';
import { ApiError } from './errors.js';
import { LIMITS } from './limits.js';
import { attentionKind, derivedTags, modelClass } from './describe.js';

/** The Hub metadata infersim keeps with an imported model; `hub_metadata_date` says when it was read. */
export function hubMetadata(info: HubModelInfo, endpoint: string, now = new Date()): Record<string, unknown> {
  return {
    hub_id: info.id,
    downloads: info.downloads,
    likes: info.likes,
    size_bytes: info.size_bytes,
    safetensors_total: info.safetensors_total,
    safetensors_parameters: info.safetensors_parameters,
    pipeline_tag: info.pipeline_tag,
    library_name: info.library_name,
    gated: info.gated,
    last_modified: info.last_modified,
    hub_endpoint: endpoint,
    hub_metadata_date: now.toISOString().slice(0, 10),
  };
}

export interface HubFetch {
  info: HubModelInfo;
  config: Record<string, unknown>;
  spec: ModelSpec;
}

/** Reads a repo's model info and config.json from the Hub; the config is bounds-checked and read by the core. */
export async function fetchFromHub(ctx: AppContext, id: string): Promise<HubFetch> {
  const hub = ctx.hub!;
  const info = await hub.modelInfo(id);
  const config = await hub.config(id);
  return { info, config, spec: specFromUserConfig(config, `config.json of ${id}`) };
}

/** Imported models the database may hold. */
export function maxStoredModels(): number {
  const v = Number(process.env['INFERSIM_MAX_MODELS'] ?? LIMITS.storedModels);
  return Number.isInteger(v) && v >= 0 ? v : LIMITS.storedModels;
}

/** Import quotas shared by both import routes: the config's size and the database's model count. */
export async function checkImportQuota(ctx: AppContext, config: Record<string, unknown>, field: string) {
  const bytes = Buffer.byteLength(JSON.stringify(config));
  if (bytes > LIMITS.configBytes)
    throw new ApiError(413, `${field}: at most ${LIMITS.configBytes} bytes of JSON (got ${bytes})`);
  const max = maxStoredModels();
  if (ctx.store && (await ctx.store.countModels()) >= max)
    throw new ApiError(409, `the database holds its maximum of ${max} imported models: delete some first`);
}

/** Stores a fetched Hub model (idempotent: the store answers 'exists' for the same config). */
export async function storeHubModel(
  ctx: AppContext,
  id: string,
  f: HubFetch,
): Promise<{ model: StoredModel; status: string }> {
  return ctx.store!.importModel({
    id,
    name: id.split('/').pop()!,
    author: f.info.author,
    origin: 'huggingface',
    config: f.config,
    metadata: hubMetadata(f.info, ctx.hub!.endpoint),
    model_type: modelClass(f.spec),
    attention_type: attentionKind(f.spec),
    parameter_count: countParameters(f.spec).total,
    tags: [...f.info.tags.slice(0, 50), ...derivedTags(f.spec)].filter((t) => t.length <= 200),
  });
}
