/**
 * api-models-and-memory.md: the model registry (validate, config, popular, list, filter, import from the Hub or
 * from a config). Memory (calculate, compare, analyze) is in models-memory.ts. Thin adapters.
 */
import { z } from 'zod';
import { catalog, NotFoundError, type ModelEntry } from '../../catalog/index.js';
import { countParameters } from '../../core/arch/index.js';
import { weightLayout } from '../../core/memory/weights.js';
import { HubError, parseRepoId, type HubModelInfo } from '../../hub/index.js';
import { canonicalJson, sha256 } from '../../store/index.js';
import {
  catalogModel,
  resolveModel,
  specFromUserConfig,
  storedModel,
  type App,
  type AppContext,
  type ResolvedModel,
} from '../context.js';
import {
  architectureName,
  ATTENTION_TYPES,
  attentionKind,
  configSummary,
  derivedTags,
  describeModel,
  gb,
  MODEL_TYPES,
  modelClass,
  parameterLabel,
} from '../describe.js';
import { ApiError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { modelDetail } from './memory.js';
import { checkImportQuota, fetchFromHub, storeHubModel } from '../hub-import.js';

const TAG = 'models and memory (api-models-and-memory.md)';

export interface HubCounts {
  downloads: number;
  likes: number;
  /** When the Hub gave these figures (YYYY-MM-DD); null when it never has (the counts are then 0). */
  hub_metadata_date: string | null;
}

/**
 * Downloads and likes as integers (the spec's and its clients' type): a live Hub reading, else the one stored
 * at import, else the catalog's snapshot; 0 with a null date when none was ever read.
 */
export function hubCounts(
  entry: ModelEntry | null,
  stored: { metadata: Record<string, unknown>; created_at: string } | null,
  info: HubModelInfo | null = null,
): HubCounts {
  const int = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null);
  if (info && int(info.downloads) !== null)
    return {
      downloads: int(info.downloads)!,
      likes: int(info.likes) ?? 0,
      hub_metadata_date: new Date().toISOString().slice(0, 10),
    };
  const md = stored?.metadata ?? {};
  if (int(md['downloads']) !== null) {
    const date = typeof md['hub_metadata_date'] === 'string' ? md['hub_metadata_date'] : stored!.created_at;
    return {
      downloads: int(md['downloads'])!,
      likes: int(md['likes']) ?? 0,
      hub_metadata_date: date.slice(0, 10),
    };
  }
  if (entry?.hub)
    return { downloads: entry.hub.downloads, likes: entry.hub.likes, hub_metadata_date: entry.hub.as_of };
  return { downloads: 0, likes: 0, hub_metadata_date: null };
}

function metadataOf(m: ResolvedModel, info: HubModelInfo | null) {
  const stored = m.stored?.metadata ?? {};
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const sizeBytes = num(info?.size_bytes) ?? num(stored['size_bytes']) ?? weightLayout(m.spec, 'auto').total;
  const tags = info?.tags ?? m.stored?.tags ?? derivedTags(m.spec, m.entry?.family);
  return {
    ...hubCounts(m.entry, m.stored, info),
    size_gb: gb(sizeBytes),
    tags,
    size_bytes: sizeBytes,
    size_source:
      (num(info?.size_bytes) ?? num(stored['size_bytes']))
        ? 'hub safetensors info'
        : 'computed: parameters at the checkpoint dtype',
  };
}

interface ListEntry {
  model_id: string;
  name: string;
  author: string | null;
  model_type: string;
  attention_type: string | null;
  parameter_count: number;
  source: 'model_dict' | 'database' | 'both';
  in_model_dict: boolean;
  in_database: boolean;
  tags: string[];
}

/** Catalog and database models, one entry per model ('both' when an imported id is also built in). */
async function allModels(
  ctx: AppContext,
): Promise<{ entries: ListEntry[]; dictCount: number; dbCount: number }> {
  const c = catalog();
  const byId = new Map<string, ListEntry>();
  for (const e of c.models.items) {
    const m = catalogModel(e);
    byId.set(e.id.toLowerCase(), {
      model_id: e.id,
      name: e.name,
      author: e.author,
      model_type: modelClass(m.spec),
      attention_type: attentionKind(m.spec),
      parameter_count: countParameters(m.spec).total,
      source: 'model_dict',
      in_model_dict: true,
      in_database: false,
      tags: derivedTags(m.spec, e.family),
    });
  }
  const stored = ctx.store ? await ctx.store.listSummaries() : [];
  for (const s of stored) {
    const builtIn = c.models.find(s.id);
    const prior = builtIn ? byId.get(builtIn.id.toLowerCase()) : undefined;
    if (prior) {
      prior.source = 'both';
      prior.in_database = true;
      prior.tags = [...new Set([...prior.tags, ...s.tags])];
      continue;
    }
    byId.set(s.id.toLowerCase(), {
      model_id: s.id,
      name: s.name,
      author: s.author,
      model_type: s.model_type,
      attention_type: s.attention_type,
      parameter_count: s.parameter_count,
      source: 'database',
      in_model_dict: false,
      in_database: true,
      tags: s.tags,
    });
  }
  const entries = [...byId.values()].sort((a, b) => a.model_id.localeCompare(b.model_id));
  return { entries, dictCount: c.models.items.length, dbCount: stored.length };
}

function publicEntry(e: ListEntry): Omit<ListEntry, 'tags'> {
  const out: Partial<ListEntry> = { ...e };
  delete out.tags;
  return out as Omit<ListEntry, 'tags'>;
}

/** Models shown by /api/models/popular, in this order when the Hub's download counts are unknown. */
const POPULAR = [
  'meta-llama/Llama-3.1-8B-Instruct',
  'meta-llama/Llama-3.1-8B',
  'meta-llama/Llama-2-7b-hf',
  'mistralai/Mistral-7B-v0.1',
  'Qwen/Qwen3-8B',
  'Qwen/Qwen2.5-7B',
  'google/gemma-2-9b-it',
  'microsoft/phi-4',
  'deepseek-ai/DeepSeek-V3',
  'mistralai/Mixtral-8x7B-v0.1',
  'meta-llama/Llama-3.3-70B-Instruct',
  'Qwen/Qwen3-30B-A3B',
  'openai/gpt-oss-20b',
  'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
  'openai-community/gpt2',
];

const idParam = z.string().min(1).max(LIMITS.idLength);

export function registerModelRoutes(app: App, ctx: AppContext): void {
  app.post(
    '/api/models/validate',
    {
      schema: {
        tags: [TAG],
        summary: 'Whether a model id (or huggingface.co URL) names a model infersim can read',
        body: z.object({ model_url: z.string().min(1).max(500) }),
      },
    },
    async (req) => {
      let id: string;
      try {
        id = parseRepoId(req.body.model_url);
      } catch (e) {
        if (e instanceof HubError) return { valid: false, error: e.message };
        throw e;
      }
      if (catalog().models.find(id)) return { valid: true, error: null };
      if (ctx.store && (await ctx.store.getModel(id))) return { valid: true, error: null };
      if (!ctx.hub)
        return {
          valid: false,
          error: `'${id}' is not in the catalog or the database, and Hub access is disabled`,
        };
      const v = await ctx.hub.validate(id);
      return { valid: v.valid, error: v.error };
    },
  );

  app.get(
    '/api/models/popular',
    {
      schema: {
        tags: [TAG],
        summary:
          'Popular models with their architecture (downloads and likes where the Hub metadata is stored)',
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(LIMITS.popular).default(10) }),
      },
    },
    async (req) => {
      const c = catalog();
      // Only Hub imports rank by downloads (the Hub's count at import); a config import's metadata does not.
      const stored = ctx.store ? await ctx.store.popularImports(req.query.limit) : [];
      const byId = new Map(stored.map((s) => [s.id.toLowerCase(), s]));
      const rows = [];
      for (const id of POPULAR) {
        const e = c.models.find(id);
        if (!e) continue;
        rows.push({ m: catalogModel(e), hub: hubCounts(e, byId.get(e.id.toLowerCase()) ?? null) });
      }
      for (const s of stored) {
        if (c.models.find(s.id) || typeof s.metadata['downloads'] !== 'number') continue;
        try {
          rows.push({ m: storedModel(s), hub: hubCounts(null, s) });
        } catch {
          // A stored config the current core cannot read is left out of the list.
        }
      }
      // Most downloaded first; figures never read (date null) keep the curated order after them.
      const key = (h: HubCounts) => (h.hub_metadata_date === null ? -1 : h.downloads);
      rows.sort((a, b) => key(b.hub) - key(a.hub));
      return {
        models: rows.slice(0, req.query.limit).map(({ m, hub }) => ({
          model_id: m.id,
          name: m.name,
          parameters: parameterLabel(countParameters(m.spec).total),
          model_type: modelClass(m.spec),
          attention_type: attentionKind(m.spec),
          downloads: hub.downloads,
          likes: hub.likes,
          hub_metadata_date: hub.hub_metadata_date,
          description: describeModel(m.spec),
          parameter_count: countParameters(m.spec).total,
          source: m.source,
        })),
      };
    },
  );

  app.get(
    '/api/models/list',
    { schema: { tags: [TAG], summary: 'Every model: built in (model_dict), imported (database) or both' } },
    async () => {
      const { entries, dictCount, dbCount } = await allModels(ctx);
      return {
        total_count: entries.length,
        model_dict_count: dictCount,
        database_count: dbCount,
        models: entries.map(publicEntry),
      };
    },
  );

  const csv = z.string().max(2000);
  app.get(
    '/api/models/filter',
    {
      schema: {
        tags: [TAG],
        summary: 'Models filtered by author, type, attention, parameter range, source and tags',
        querystring: z.object({
          author: z.string().min(1).max(200).optional(),
          model_type: z.enum(MODEL_TYPES).optional(),
          attention_type: z.enum(ATTENTION_TYPES).optional(),
          min_parameters: z.coerce.number().min(0).max(1e15).optional(),
          max_parameters: z.coerce.number().min(0).max(1e15).optional(),
          source: z.enum(['model_dict', 'database', 'both']).optional(),
          tags: csv.optional().describe('comma-separated; a model must have every tag'),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      if (
        q.min_parameters !== undefined &&
        q.max_parameters !== undefined &&
        q.min_parameters > q.max_parameters
      )
        throw new ApiError(
          422,
          `min_parameters: must not exceed max_parameters (${q.min_parameters} > ${q.max_parameters})`,
        );
      const tags = (q.tags ?? '')
        .split(',')
        .map((t) => t.trim().toLowerCase())
        .filter(Boolean);
      const { entries } = await allModels(ctx);
      const models = entries.filter(
        (e) =>
          (!q.author || (e.author ?? '').toLowerCase() === q.author.toLowerCase()) &&
          (!q.model_type || e.model_type === q.model_type) &&
          (!q.attention_type || e.attention_type === q.attention_type) &&
          (q.min_parameters === undefined || e.parameter_count >= q.min_parameters) &&
          (q.max_parameters === undefined || e.parameter_count <= q.max_parameters) &&
          (!q.source ||
            (q.source === 'both'
              ? e.in_model_dict && e.in_database
              : q.source === 'model_dict'
                ? e.in_model_dict
                : e.in_database)) &&
          tags.every((t) => e.tags.includes(t)),
      );
      const filters: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(q)) if (v !== undefined) filters[k] = v;
      return { total_count: models.length, filters_applied: filters, models: models.map(publicEntry) };
    },
  );

  app.post(
    '/api/models/add/huggingface',
    {
      schema: {
        tags: [TAG],
        summary: 'Import a model from the Hugging Face Hub (config.json and metadata) into the database',
        body: z.object({
          model_uri: z.string().min(1).max(500).describe("repo id 'org/name' (or a huggingface.co URL)"),
          auto_import: z.boolean().default(true),
        }),
      },
    },
    async (req) => {
      const id = parseRepoId(req.body.model_uri);
      const inCatalog = !!catalog().models.find(id);
      const store = ctx.store;
      if (!store) throw new ApiError(503, 'no database is configured: imports are unavailable');
      const existing = await store.getModel(id);
      if (existing)
        return {
          success: true,
          model_id: existing.id,
          message: 'Model already in the database',
          source: inCatalog ? 'both' : 'database',
          already_existed: true,
        };
      if (!ctx.hub) throw new ApiError(503, 'Hub access is disabled: cannot import from Hugging Face');
      const fetched = await fetchFromHub(ctx, id);
      const spec = fetched.spec;
      await checkImportQuota(ctx, fetched.config, `config.json of ${id}`);
      if (!req.body.auto_import)
        return {
          success: true,
          model_id: id,
          message: 'Model found on the Hub and readable; not imported (auto_import is false)',
          source: 'huggingface',
          already_existed: false,
        };
      const params = countParameters(spec);
      const r = await storeHubModel(ctx, id, fetched);
      return {
        success: true,
        model_id: r.model.id,
        message:
          r.status === 'created'
            ? 'Successfully imported model from HuggingFace'
            : 'Model already in the database',
        source: inCatalog ? 'both' : 'database',
        already_existed: r.status !== 'created',
        parameter_count: params.total,
        warnings: spec.warnings,
      };
    },
  );

  app.post(
    '/api/models/add/config',
    {
      schema: {
        tags: [TAG],
        summary: 'Add a model from a config.json object (atomic, idempotent)',
        body: z.object({
          model_id: z
            .string()
            .min(1)
            .max(LIMITS.idLength)
            .regex(
              /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/,
              "must be 'name' or 'org/name' (letters, digits, '-', '_', '.')",
            ),
          config: z.record(z.string(), z.unknown()),
          metadata: z.record(z.string(), z.unknown()).default({}),
        }),
      },
    },
    async (req) => {
      const b = req.body;
      const store = ctx.store;
      if (!store) throw new ApiError(503, 'no database is configured: imports are unavailable');
      const builtIn = catalog().models.find(b.model_id);
      if (builtIn)
        throw new ApiError(
          409,
          `model_id: '${b.model_id}' names the built-in model ${builtIn.id}; choose another id`,
        );
      if (JSON.stringify(b.metadata).length > LIMITS.metadataBytes)
        throw new ApiError(422, `metadata: at most ${LIMITS.metadataBytes} bytes of JSON`);
      await checkImportQuota(ctx, b.config, 'config');
      const spec = specFromUserConfig(b.config);
      const params = countParameters(spec);
      const name =
        typeof b.metadata['name'] === 'string'
          ? b.metadata['name'].slice(0, 200)
          : b.model_id.split('/').pop()!;
      const r = await store.importModel({
        id: b.model_id,
        name,
        author: b.model_id.includes('/') ? b.model_id.split('/')[0]! : null,
        origin: 'config',
        config: b.config,
        metadata: b.metadata,
        model_type: modelClass(spec),
        attention_type: attentionKind(spec),
        parameter_count: params.total,
        tags: derivedTags(spec),
      });
      if (r.status === 'conflict')
        throw new ApiError(409, `model_id: '${b.model_id}' already exists with a different config`, {
          existing_config_sha256: sha256(canonicalJson(r.model.config)),
        });
      return {
        success: true,
        model_id: r.model.id,
        message:
          r.status === 'created'
            ? 'Successfully added model from configuration'
            : 'Model already exists with the same configuration',
        source: 'database',
        already_existed: r.status !== 'created',
        parameter_count: params.total,
        warnings: spec.warnings,
      };
    },
  );
}

/**
 * GET /api/models/{model_id}/config (api-models-and-memory.md; ids contain '/') and GET /api/models/{model_name}
 * (api-memory-calculator.md) share one wildcard route; the static routes (list, filter, popular) win over it.
 */
export function registerModelPathRoutes(app: App, ctx: AppContext): void {
  app.get(
    '/api/models/*',
    {
      schema: {
        tags: [TAG],
        summary:
          'GET /api/models/{model_id}/config: configuration and metadata; GET /api/models/{model_name}: detail',
        params: z.object({ '*': z.string().max(1000) }),
      },
    },
    async (req) => {
      const rest = req.params['*'];
      if (rest.endsWith('/config') && rest.length > '/config'.length)
        return modelConfig(ctx, rest.slice(0, -'/config'.length));
      return modelDetail(ctx, rest);
    },
  );

  app.delete(
    '/api/models/*',
    {
      schema: {
        tags: [TAG],
        summary: 'Delete an imported model (needs INFERSIM_API_KEY as a Bearer token)',
        params: z.object({ '*': z.string().min(1).max(1000) }),
      },
    },
    async (req) => {
      const id = req.params['*'];
      if (!ctx.store) throw new ApiError(503, 'no database is configured: nothing to delete');
      if (!(await ctx.store.deleteModel(id)))
        throw new ApiError(
          404,
          `no imported model '${id.slice(0, 200)}' (built-in models cannot be deleted)`,
        );
      return { deleted: true, model_id: id };
    },
  );
}

/** GET /api/models/{model_id}/config: a catalog or imported model, else read from the Hub without storing it. */
export async function modelConfig(ctx: AppContext, rawId: string) {
  const id = idParam.safeParse(rawId);
  if (!id.success) throw new ApiError(404, `unknown model '${rawId.slice(0, 60)}'`);
  let m: ResolvedModel;
  let info: HubModelInfo | null = null;
  try {
    // Not fetched by resolveModel: this route reports the Hub's own metadata when it reads the Hub.
    m = await resolveModel(ctx, rawId, false);
  } catch (e) {
    if (!(e instanceof NotFoundError) || !ctx.hub) throw e;
    let repo: string;
    try {
      repo = parseRepoId(rawId);
    } catch {
      throw e;
    }
    try {
      info = await ctx.hub.modelInfo(repo);
    } catch (he) {
      if (he instanceof HubError && he.code === 'not_found') throw e;
      throw he;
    }
    const config = await ctx.hub.config(repo);
    const spec = specFromUserConfig(config, `config.json of ${repo}`);
    // Served once, usable everywhere: stored as add/huggingface would.
    if (ctx.store) await storeHubModel(ctx, repo, { info, config, spec });
    m = {
      id: repo,
      name: repo,
      author: info.author,
      source: 'database',
      spec,
      config,
      entry: null,
      stored: null,
    };
  }
  const params = countParameters(m.spec);
  return {
    model_id: m.id,
    model_type: modelClass(m.spec),
    attention_type: attentionKind(m.spec),
    parameter_count: params.total,
    architecture: architectureName(m.config, m.spec),
    config: configSummary(m.spec),
    metadata: metadataOf(m, info),
    active_parameter_count: params.active,
    source: info ? 'huggingface' : m.source,
    warnings: m.spec.warnings,
  };
}
