/** What the routes share: the store, the Hub client, the results cache; and how models are resolved. */
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { catalog, modelSpec, NotFoundError, type ModelEntry } from '../catalog/index.js';
import { specFromConfig, type ModelSpec } from '../core/arch/index.js';
import { ConfigError } from '../core/arch/index.js';
import { HubError, parseRepoId, type HubClient } from '../hub/index.js';
import { checkImportQuota, fetchFromHub, storeHubModel } from './hub-import.js';
import type { Store, StoredModel } from '../store/index.js';
import type { ResultCache } from './cache.js';
import { ApiError } from './errors.js';
import { LIMITS } from './limits.js';

export type App = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

export interface AppContext {
  /** null: no persistence (imports answer 503). */
  store: Store | null;
  /** null: the Hub is not used (offline). */
  hub: HubClient | null;
  cache: ResultCache;
  log: FastifyBaseLogger;
}

/** A route module: registers its routes on the app. */
export type RouteModule = (app: App, ctx: AppContext) => void | Promise<void>;

export type Source = 'model_dict' | 'database';

export interface ResolvedModel {
  /** Canonical id (the catalog's id, or the id a model was imported under). */
  id: string;
  name: string;
  author: string | null;
  source: Source;
  spec: ModelSpec;
  config: Record<string, unknown>;
  entry: ModelEntry | null;
  stored: StoredModel | null;
}

const storedSpecs = new Map<string, ModelSpec>();

export function catalogModel(entry: ModelEntry): ResolvedModel {
  return {
    id: entry.id,
    name: entry.name,
    author: entry.author,
    source: 'model_dict',
    spec: modelSpec(entry),
    config: entry.config,
    entry,
    stored: null,
  };
}

export function storedModel(m: StoredModel): ResolvedModel {
  const key = `${m.id}\n${m.created_at}`;
  let spec = storedSpecs.get(key);
  if (!spec) {
    spec = specFromConfig(m.config);
    storedSpecs.set(key, spec);
    if (storedSpecs.size > 512) storedSpecs.delete(storedSpecs.keys().next().value!);
  }
  return {
    id: m.id,
    name: m.name,
    author: m.author,
    source: 'database',
    spec,
    config: m.config,
    entry: null,
    stored: m,
  };
}

/**
 * A catalog model (by id or alias), else an imported one, else (with `fromHub`) a Hub repo fetched and stored now;
 * 404 with suggestions otherwise.
 */
export async function resolveModel(ctx: AppContext, name: string, fromHub = true): Promise<ResolvedModel> {
  if (name.length > LIMITS.idLength) throw new NotFoundError('model', name.slice(0, 60) + '…', []);
  const entry = catalog().models.find(name);
  if (entry) return catalogModel(entry);
  if (ctx.store) {
    const m = await ctx.store.getModel(name);
    if (m) return storedModel(m);
  }
  const notFound = new NotFoundError('model', name, catalog().models.suggest(name));
  const fetched = fromHub ? await hubModel(ctx, name) : null;
  if (!fetched) throw notFound;
  return fetched;
}

/** Ids the Hub said it does not have, until when: a client repeating a wrong id does not ask the Hub each time. */
const notOnHub = new Map<string, number>();
const NOT_FOUND_TTL_MS = 5 * 60_000;

/** An org/name repo id `name` spells, or null (plain names are never sent to the Hub). */
function repoIdOf(name: string): string | null {
  try {
    const id = parseRepoId(name);
    return id.includes('/') ? id : null;
  } catch {
    return null;
  }
}

/**
 * A Hub repo the catalog and the database lack: fetched on demand and stored (as add/huggingface does), so what
 * /validate accepts every route can use. null when there is no Hub or the Hub does not have it.
 */
async function hubModel(ctx: AppContext, name: string): Promise<ResolvedModel | null> {
  const id = repoIdOf(name);
  if (!ctx.hub || !id) return null;
  const key = `${ctx.hub.endpoint}\n${id.toLowerCase()}`;
  if ((notOnHub.get(key) ?? 0) > Date.now()) return null;
  let f;
  try {
    f = await fetchFromHub(ctx, id);
  } catch (e) {
    if (e instanceof HubError && e.code === 'not_found') {
      notOnHub.set(key, Date.now() + NOT_FOUND_TTL_MS);
      if (notOnHub.size > 4096) notOnHub.delete(notOnHub.keys().next().value!);
      return null;
    }
    throw e;
  }
  // Stored like an import, within the import quotas; past them the model is answered without being kept.
  const storable = ctx.store
    ? await checkImportQuota(ctx, f.config, `config.json of ${id}`).then(
        () => true,
        () => false,
      )
    : false;
  if (ctx.store && storable) return storedModel((await storeHubModel(ctx, id, f)).model);
  return {
    id,
    name: id.split('/').pop()!,
    author: f.info.author,
    source: 'database',
    spec: f.spec,
    config: f.config,
    entry: null,
    stored: null,
  };
}

/** Keys of a config whose values are layer counts or expert counts: bounded before the core reads them. */
const LAYER_KEY = /(^|_)(layers?|n_layer)$/i;
const EXPERT_KEY = /experts$/i;

/**
 * The architecture of a config sent by a client: bounds checked first (a config declaring 10^9 layers would
 * otherwise make the core allocate them), then read by the core; a config the core cannot read is a 422.
 */
export function specFromUserConfig(config: Record<string, unknown>, field = 'config'): ModelSpec {
  const check = (obj: Record<string, unknown>, path: string, depth: number) => {
    if (depth > 4) return;
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === 'number') {
        if (LAYER_KEY.test(k) && v > LIMITS.configLayers)
          throw new ApiError(422, `${path}${k}: at most ${LIMITS.configLayers} layers (got ${v})`);
        if (EXPERT_KEY.test(k) && v > LIMITS.configExperts)
          throw new ApiError(422, `${path}${k}: at most ${LIMITS.configExperts} experts (got ${v})`);
      } else if (v && typeof v === 'object' && !Array.isArray(v)) {
        check(v as Record<string, unknown>, `${path}${k}.`, depth + 1);
      }
    }
  };
  check(config, `${field}.`, 0);
  try {
    return specFromConfig(config);
  } catch (e) {
    if (e instanceof ConfigError) throw new ApiError(422, `${field}: ${e.message}`, { missing: e.missing });
    // The core rejected the config in a way it does not name: still the client's input, never a 500.
    throw new ApiError(
      422,
      `${field}: config.json cannot be read (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}
