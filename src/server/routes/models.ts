/**
 * api-models-and-memory.md: the model registry (validate, config, popular, list, filter, import from the Hub or
 * from a config) and memory (calculate, compare, analyze). Thin adapters: validate, resolve, call the core, shape.
 */
import { z } from 'zod';
import { catalog, NotFoundError } from '../../catalog/index.js';
import { countParameters } from '../../core/arch/index.js';
import { inferenceMemory } from '../../core/memory/inference.js';
import { RUNTIME_IDS } from '../../core/memory/runtime.js';
import { weightLayout } from '../../core/memory/weights.js';
import { SINGLE } from '../../core/parallel/plan.js';
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
  firstAttention,
  gb,
  MODEL_TYPES,
  modelClass,
  parameterLabel,
} from '../describe.js';
import { ApiError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { kvPrecision, recommendations, weightPrecision } from '../memory.js';
import { explainQuery, wantsExplain } from '../schemas.js';
import { modelDetail } from './memory.js';

const TAG = 'models and memory (api-models-and-memory.md)';

const calcRequest = z.object({
  model_id: z.string().min(1).max(LIMITS.idLength).describe('catalog id or alias, or an imported model id'),
  precision: z
    .string()
    .min(1)
    .max(40)
    .default('fp16')
    .describe('fp32, fp16, bf16, int8, int4, fp8, or any format'),
  batch_size: z.number().int().min(1).max(LIMITS.batch).default(1),
  seq_length: z.number().int().min(1).max(LIMITS.seq).default(2048),
  num_images: z.number().int().min(0).max(LIMITS.images).default(0),
  include_gradients: z.boolean().default(false),
  decode_length: z.number().int().min(0).max(LIMITS.seq).default(0),
  kv_precision: z
    .string()
    .min(1)
    .max(40)
    .optional()
    .describe('KV-cache dtype (default: the weight precision if float, else the model dtype)'),
  runtime: z.enum(RUNTIME_IDS).default('pytorch').describe('runtime overhead profile (extra_work_gb)'),
});
type CalcRequest = z.infer<typeof calcRequest>;

/** POST /api/models/calculate for one resolved model: every number from core/memory. */
function calculate(m: ResolvedModel, r: CalcRequest, explain: boolean) {
  const spec = m.spec;
  const seq = r.seq_length + r.decode_length;
  if (seq > LIMITS.seq)
    throw new ApiError(422, `seq_length + decode_length: at most ${LIMITS.seq} tokens (got ${seq})`);
  const precision = weightPrecision(r.precision);
  const kv = kvPrecision(spec, precision, r.kv_precision);
  const mem = inferenceMemory(spec, {
    precision,
    kvPrecision: kv,
    batch: r.batch_size,
    seq,
    plan: SINGLE,
    images: r.num_images,
    runtime: r.runtime,
    explain,
  });
  const params = countParameters(spec);
  const gradientBytes = r.include_gradients ? params.total * (precision === 'fp32' ? 4 : 2) : 0;
  const total = mem.total_bytes + gradientBytes;
  const warnings = [...spec.warnings];
  if (r.num_images > 0 && !spec.vision) warnings.push('num_images is ignored: the model has no vision tower');
  if (spec.maxPositionEmbeddings && seq > spec.maxPositionEmbeddings)
    warnings.push(`${seq} tokens exceed the model's max_position_embeddings (${spec.maxPositionEmbeddings})`);
  return {
    model_id: m.id,
    model_type: modelClass(spec),
    attention_type: attentionKind(spec),
    precision: r.precision,
    parameter_count: params.total,
    active_parameter_count: params.active,
    memory_breakdown: {
      weight_memory_gb: gb(mem.weights_bytes),
      kv_cache_gb: gb(mem.kv_cache_bytes),
      activation_memory_gb: gb(mem.activation_bytes),
      state_memory_gb: gb(mem.state_bytes),
      image_memory_gb: gb(mem.image_bytes),
      extra_work_gb: gb(mem.overhead_bytes),
      ...(r.include_gradients ? { gradient_memory_gb: gb(gradientBytes) } : {}),
    },
    total_memory_gb: gb(total),
    recommendations: recommendations(total),
    kv_precision: kv,
    memory_breakdown_bytes: {
      weight_bytes: mem.weights_bytes,
      kv_cache_bytes: mem.kv_cache_bytes,
      activation_bytes: mem.activation_bytes,
      state_bytes: mem.state_bytes,
      image_bytes: mem.image_bytes,
      extra_work_bytes: mem.overhead_bytes,
      gradient_bytes: gradientBytes,
    },
    total_memory_bytes: total,
    kv_cache_bytes_per_token: mem.kv_cache_bytes_per_token,
    warnings,
    ...(explain ? { trace: mem.trace } : {}),
  };
}

/** Rethrows an error of the i-th list item with the item named in its message. */
function itemError(field: string, i: number, e: unknown): never {
  if (e instanceof NotFoundError)
    throw new ApiError(404, `${field}[${i}]: ${e.message}`, { suggestions: e.suggestions });
  if (e instanceof ApiError) throw new ApiError(e.status, `${field}[${i}].${e.message}`, e.extra);
  if (e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError))
    throw new ApiError(422, `${field}[${i}]: ${e.message}`);
  throw e;
}

/** KV bytes per token of the model against MHA with the same query heads: the compression of GQA/MQA/MLA. */
function kvCompression(m: ResolvedModel, kvBytes: number): { ratio: number; mhaBytesPerToken: number } {
  let mha = 0;
  let actual = 0;
  for (const g of m.spec.groups) {
    const a = g.attention;
    if (!a || g.stack === 'vision' || m.spec.structure === 'encoder') continue;
    mha += g.count * a.numHeads * (a.headDim + a.vHeadDim) * kvBytes;
    actual +=
      g.count *
      (a.mla ? a.mla.kvLoraRank + a.mla.qkRopeHeadDim : a.numKvHeads * (a.headDim + a.vHeadDim)) *
      kvBytes;
  }
  return { ratio: actual > 0 ? mha / actual : 1, mhaBytesPerToken: mha };
}

function fmtRatio(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

/** GET /api/models/{id}/config and /api/models/list entries. */
function metadataOf(m: ResolvedModel, info: HubModelInfo | null) {
  const stored = m.stored?.metadata ?? {};
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const sizeBytes = num(info?.size_bytes) ?? num(stored['size_bytes']) ?? weightLayout(m.spec, 'auto').total;
  const tags = info?.tags ?? m.stored?.tags ?? derivedTags(m.spec, m.entry?.family);
  return {
    downloads: num(info?.downloads) ?? num(stored['downloads']),
    likes: num(info?.likes) ?? num(stored['likes']),
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
  const stored = ctx.store ? await ctx.store.listModels() : [];
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

  app.post(
    '/api/models/calculate',
    {
      schema: {
        tags: [TAG],
        summary: 'Inference memory of a model at a precision, batch and sequence length (decimal GB)',
        body: calcRequest,
        querystring: explainQuery,
      },
    },
    async (req, reply) => {
      const explain = wantsExplain(req.query);
      const m = await resolveModel(ctx, req.body.model_id);
      const r = await ctx.cache.get('models.calculate', { ...req.body, model_id: m.id, explain }, () =>
        calculate(m, req.body, explain),
      );
      return reply.type('application/json; charset=utf-8').send(ctx.cache.serialized(r));
    },
  );

  app.post(
    '/api/models/compare',
    {
      schema: {
        tags: [TAG],
        summary: 'Memory of several models side by side',
        body: z.object({ models: z.array(calcRequest).min(1).max(LIMITS.compareItems) }),
        querystring: explainQuery,
      },
    },
    async (req) => {
      const explain = wantsExplain(req.query);
      const results = [];
      for (const [i, r] of req.body.models.entries()) {
        try {
          const m = await resolveModel(ctx, r.model_id);
          results.push(
            await ctx.cache.get('models.calculate', { ...r, model_id: m.id, explain }, () =>
              calculate(m, r, explain),
            ),
          );
        } catch (e) {
          itemError('models', i, e);
        }
      }
      const byTotal = [...results].sort((a, b) => a.total_memory_bytes - b.total_memory_bytes);
      const lo = byTotal[0]!;
      const hi = byTotal[byTotal.length - 1]!;
      return {
        models: results,
        comparison: {
          lowest_memory_model: lo.model_id,
          highest_memory_model: hi.model_id,
          memory_range_gb: gb(hi.total_memory_bytes - lo.total_memory_bytes),
          highest_to_lowest_ratio:
            lo.total_memory_bytes > 0 ? hi.total_memory_bytes / lo.total_memory_bytes : null,
        },
      };
    },
  );

  app.post(
    '/api/models/analyze',
    {
      schema: {
        tags: [TAG],
        summary: 'How memory grows with sequence length; KV compression and recommendations for the model',
        body: z.object({
          model_id: z.string().min(1).max(LIMITS.idLength),
          precision: z.string().min(1).max(40).default('fp16'),
          batch_size: z.number().int().min(1).max(LIMITS.batch).default(1),
          sequence_lengths: z
            .array(z.number().int().min(1).max(LIMITS.seq))
            .min(1)
            .max(LIMITS.sequenceLengths)
            .default([1024, 4096, 16384, 32768]),
          kv_precision: z.string().min(1).max(40).optional(),
          runtime: z.enum(RUNTIME_IDS).default('pytorch'),
        }),
        querystring: explainQuery,
      },
    },
    async (req) => {
      const b = req.body;
      const explain = wantsExplain(req.query);
      const m = await resolveModel(ctx, b.model_id);
      return ctx.cache.get('models.analyze', { ...b, model_id: m.id, explain }, () => {
        const precision = weightPrecision(b.precision);
        const kv = kvPrecision(m.spec, precision, b.kv_precision);
        const lengths = [...new Set(b.sequence_lengths)].sort((x, y) => x - y);
        const analysis: Record<
          string,
          {
            total_memory_gb: number;
            kv_cache_gb: number;
            kv_cache_percent: number;
            total_memory_bytes: number;
            kv_cache_bytes: number;
          }
        > = {};
        let last = null as ReturnType<typeof inferenceMemory> | null;
        const traces: Record<string, unknown> = {};
        for (const s of lengths) {
          const mem = inferenceMemory(m.spec, {
            precision,
            kvPrecision: kv,
            batch: b.batch_size,
            seq: s,
            plan: SINGLE,
            runtime: b.runtime,
            explain,
          });
          analysis[String(s)] = {
            total_memory_gb: gb(mem.total_bytes),
            kv_cache_gb: gb(mem.kv_cache_bytes),
            kv_cache_percent:
              Math.round((mem.total_bytes > 0 ? (mem.kv_cache_bytes / mem.total_bytes) * 100 : 0) * 100) /
              100,
            total_memory_bytes: mem.total_bytes,
            kv_cache_bytes: mem.kv_cache_bytes,
          };
          if (explain) traces[String(s)] = mem.trace;
          last = mem;
        }
        return {
          model_id: m.id,
          attention_type: attentionKind(m.spec),
          analysis,
          insights: insights(m, kv, last!, lengths[lengths.length - 1]!, b.batch_size),
          ...(explain ? { trace: traces } : {}),
        };
      });
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
      const stored = ctx.store ? await ctx.store.listModels() : [];
      const meta = new Map(stored.map((s) => [s.id.toLowerCase(), s.metadata]));
      const rows = [];
      for (const id of POPULAR) {
        const e = c.models.find(id);
        if (!e) continue;
        rows.push({ m: catalogModel(e), meta: meta.get(e.id.toLowerCase()) ?? {} });
      }
      for (const s of stored) {
        if (c.models.find(s.id) || typeof s.metadata['downloads'] !== 'number') continue;
        try {
          rows.push({ m: storedModel(s), meta: s.metadata });
        } catch {
          // A stored config the current core cannot read is left out of the list.
        }
      }
      const num = (v: unknown) => (typeof v === 'number' ? v : null);
      rows.sort((a, b) => (num(b.meta['downloads']) ?? -1) - (num(a.meta['downloads']) ?? -1));
      return {
        models: rows.slice(0, req.query.limit).map(({ m, meta: md }) => ({
          model_id: m.id,
          name: m.name,
          parameters: parameterLabel(countParameters(m.spec).total),
          model_type: modelClass(m.spec),
          attention_type: attentionKind(m.spec),
          downloads: num(md['downloads']),
          likes: num(md['likes']),
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
      const info = await ctx.hub.modelInfo(id);
      const config = await ctx.hub.config(id);
      const spec = specFromUserConfig(config, `config.json of ${id}`);
      if (!req.body.auto_import)
        return {
          success: true,
          model_id: id,
          message: 'Model found on the Hub and readable; not imported (auto_import is false)',
          source: 'huggingface',
          already_existed: false,
        };
      const params = countParameters(spec);
      const r = await store.importModel({
        id,
        name: id.split('/').pop()!,
        author: info.author,
        origin: 'huggingface',
        config,
        metadata: {
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
          hub_endpoint: ctx.hub.endpoint,
        },
        model_type: modelClass(spec),
        attention_type: attentionKind(spec),
        parameter_count: params.total,
        tags: [...info.tags.slice(0, 50), ...derivedTags(spec)].filter((t) => t.length <= 200),
      });
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
}

/** GET /api/models/{model_id}/config: a catalog or imported model, else read from the Hub without storing it. */
export async function modelConfig(ctx: AppContext, rawId: string) {
  const id = idParam.safeParse(rawId);
  if (!id.success) throw new ApiError(404, `unknown model '${rawId.slice(0, 60)}'`);
  let m: ResolvedModel;
  let info: HubModelInfo | null = null;
  try {
    m = await resolveModel(ctx, rawId);
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

function insights(
  m: ResolvedModel,
  kv: string,
  longest: ReturnType<typeof inferenceMemory>,
  longestSeq: number,
  batch: number,
) {
  const { ratio } = kvCompression(m, 1);
  const a = firstAttention(m.spec);
  const recs: string[] = [];
  const kind = attentionKind(m.spec);
  if (kind === 'gqa' || kind === 'mqa')
    recs.push(`${kind.toUpperCase()} provides ${fmtRatio(ratio)}x KV cache compression compared to MHA`);
  else if (kind === 'mla')
    recs.push(`MLA caches one latent per token: ${fmtRatio(ratio)}x KV cache compression compared to MHA`);
  else if (kind === 'mha' && a)
    recs.push('MHA keeps a K and V head for every query head: a GQA variant of this model would cache less');
  if (m.spec.groups.some((g) => g.attention?.window))
    recs.push('Sliding-window layers cap their KV cache at the window: memory grows slower than the context');
  if (m.spec.groups.some((g) => g.ssm))
    recs.push('SSM layers keep a constant state per sequence instead of a KV cache');
  const kvShare = longest.total_bytes > 0 ? longest.kv_cache_bytes / longest.total_bytes : 0;
  if (kvShare > 0.3 && kv !== 'fp8')
    recs.push(
      `At ${longestSeq} tokens the KV cache is ${Math.round(kvShare * 100)}% of memory: an fp8 KV cache halves it`,
    );
  const r = recommendations(longest.total_bytes);
  if (r.recommended_gpu_count > 1)
    recs.push(
      `At ${longestSeq} tokens and batch ${batch} the model needs ${gb(longest.total_bytes)} GB: at least ${r.recommended_gpu_count} x ${r.recommended_gpu} with tensor parallelism`,
    );
  else recs.push(`At ${longestSeq} tokens and batch ${batch} it fits one ${r.recommended_gpu}`);
  if (m.spec.maxPositionEmbeddings && longestSeq > m.spec.maxPositionEmbeddings)
    recs.push(
      `${longestSeq} tokens exceed the model's max_position_embeddings (${m.spec.maxPositionEmbeddings})`,
    );
  const rating = kind === null || ratio >= 4 ? 'high' : ratio >= 2 ? 'medium' : 'low';
  return {
    memory_per_token_bytes: longest.kv_cache_bytes_per_token,
    kv_compression_vs_mha: Math.round(ratio * 100) / 100,
    efficiency_rating: rating,
    recommendations: recs,
  };
}
