/**
 * api-models-and-memory.md, memory: POST /api/models/calculate, /compare and /analyze (with insights computed from
 * the model). Thin adapters: validate, resolve, call core/memory, shape.
 */
import { z } from 'zod';
import { NotFoundError } from '../../catalog/index.js';
import { countParameters } from '../../core/arch/index.js';
import { kvBlockSizeFor, SERVING_DEFAULTS } from '../../core/defaults.js';
import { inferenceMemory } from '../../core/memory/inference.js';
import { RUNTIME_IDS } from '../../core/memory/runtime.js';
import { PlanError, SINGLE, validatePlan, type ParallelPlan } from '../../core/parallel/plan.js';
import { resolveModel, type App, type AppContext, type ResolvedModel } from '../context.js';
import { attentionKind, firstAttention, gb, modelClass } from '../describe.js';
import { ApiError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { kvPrecision, recommendations, weightPrecision } from '../memory.js';
import { explainQuery, wantsExplain } from '../schemas.js';

const TAG = 'models and memory (api-models-and-memory.md)';
const par = z.number().int().min(1).max(LIMITS.parallel).default(1);

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
  runtime: z
    .enum(RUNTIME_IDS)
    .default(SERVING_DEFAULTS.runtime)
    .describe('runtime overhead profile (extra_work_gb)'),
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
    blockSize: kvBlockSizeFor(r.runtime),
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
export function registerModelMemoryRoutes(app: App, ctx: AppContext): void {
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
        // BudSimulator's client reads `comparisons` (the same per-model results); both shapes are served.
        comparisons: results,
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
          runtime: z.enum(RUNTIME_IDS).default(SERVING_DEFAULTS.runtime),
          // infersim: memory per device under a parallel plan (the web page's chart follows its plan).
          tp: par.describe('tensor parallel: the figures are per device'),
          pp: par.describe('pipeline parallel: the worst stage'),
          ep: par.describe('expert parallel'),
          cp: par.describe('context parallel: the sequence split over cp devices'),
          sp: z.boolean().default(false).describe('sequence parallel inside the TP group'),
        }),
        querystring: explainQuery,
      },
    },
    async (req) => {
      const b = req.body;
      const explain = wantsExplain(req.query);
      const m = await resolveModel(ctx, b.model_id);
      const plan: ParallelPlan = { tp: b.tp, pp: b.pp, ep: b.ep, cp: b.cp, sp: b.sp };
      try {
        validatePlan(m.spec, plan);
      } catch (e) {
        if (e instanceof PlanError) throw new ApiError(422, `${e.field ?? 'plan'}: ${e.message}`);
        throw e;
      }
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
            plan,
            runtime: b.runtime,
            blockSize: kvBlockSizeFor(b.runtime),
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
          plan,
          per_device: true,
          warnings: m.spec.warnings,
          ...(explain ? { trace: traces } : {}),
        };
      });
    },
  );
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
