/**
 * api-memory-calculator.md: inference and training memory by model name or by raw parameters, compare, config
 * options, the model list and detail. This spec answers bad input with 400, and prints memory as "14.00 GB".
 */
import { z } from 'zod';
import { catalog, modelSpec } from '../../catalog/index.js';
import { countParameters } from '../../core/arch/index.js';
import { kvBlockSizeFor, SERVING_DEFAULTS } from '../../core/defaults.js';
import { inferenceMemory, modelDtype } from '../../core/memory/inference.js';
import { OPTIMIZERS } from '../../core/memory/optimizers.js';
import { RUNTIME_IDS, RUNTIME_PROFILES } from '../../core/memory/runtime.js';
import { trainingMemory } from '../../core/memory/training.js';
import { FORMAT_IDS, getFormat, kvElementBytes, KV_DTYPES } from '../../core/numerics/formats.js';
import { SINGLE } from '../../core/parallel/plan.js';
import {
  resolveModel,
  specFromUserConfig,
  type App,
  type AppContext,
  type ResolvedModel,
} from '../context.js';
import { configShape } from '../../store/index.js';
import { attentionKind, configSummary, gbString, modelClass } from '../describe.js';
import { ApiError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { configFromShape, kvPrecision, weightPrecision } from '../memory.js';
import { explainQuery, wantsExplain } from '../schemas.js';

const TAG = 'memory calculator (api-memory-calculator.md)';
/** This spec documents 400 for wrong or missing parameters. */
const SPEC_400 = { validationStatus: 400 };

const count = (max: number) => z.number().int().min(1).max(max);

/** By model_name, or by raw shape fields (model_size in billions of parameters). */
const shapeFields = {
  model_name: z.string().min(1).max(LIMITS.idLength).optional(),
  model_size: z
    .number()
    .positive()
    .max(1e5)
    .optional()
    .describe('billions of parameters (raw-parameter requests)'),
  precision: z
    .string()
    .min(1)
    .max(40)
    .optional()
    .describe('float32, float16, bfloat16, int8, int4, or any format'),
  batch_size: count(LIMITS.batch).default(1),
  sequence_length: count(LIMITS.seq).default(2048),
  hidden_size: count(1_000_000).optional(),
  num_hidden_layers: count(LIMITS.configLayers).optional(),
  num_attention_heads: count(100_000).optional(),
  num_key_value_heads: count(100_000).optional(),
  intermediate_size: count(10_000_000).optional(),
  vocab_size: count(10_000_000).optional(),
  head_dim: count(100_000).optional(),
};

const inferenceBody = z.object({
  ...shapeFields,
  kv_precision: z.string().min(1).max(40).optional(),
  runtime: z.enum(RUNTIME_IDS).default(SERVING_DEFAULTS.runtime),
});
type InferenceBody = z.infer<typeof inferenceBody>;

const trainingBody = z.object({
  ...shapeFields,
  optimizer: z.string().min(1).max(60).default('AdamW'),
  trainable_parameters: z.number().min(0).max(100).default(100).describe('percent of parameters trained'),
  zero_stage: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]).default(0),
  data_parallel: count(LIMITS.parallel).default(1),
  recompute: z.enum(['none', 'selective', 'full']).default('none'),
});
type TrainingBody = z.infer<typeof trainingBody>;

interface Built {
  model: ResolvedModel | null;
  spec: ResolvedModel['spec'];
  modelId: string | null;
  warnings: string[];
}

/** The model a request names, or one built from its raw fields. */
async function modelOf(ctx: AppContext, b: z.infer<z.ZodObject<typeof shapeFields>>): Promise<Built> {
  if (b.model_name !== undefined) {
    const m = await resolveModel(ctx, b.model_name);
    return { model: m, spec: m.spec, modelId: m.id, warnings: [...m.spec.warnings] };
  }
  if (
    b.hidden_size === undefined ||
    b.num_hidden_layers === undefined ||
    b.num_attention_heads === undefined
  ) {
    const missing = (['hidden_size', 'num_hidden_layers', 'num_attention_heads'] as const).filter(
      (k) => b[k] === undefined,
    );
    throw new ApiError(
      422,
      `model_name: give model_name, or the raw parameters hidden_size, num_hidden_layers and num_attention_heads (missing ${missing.join(', ')})`,
    );
  }
  const { config, warnings } = configFromShape(
    {
      model_size: b.model_size,
      hidden_size: b.hidden_size,
      num_hidden_layers: b.num_hidden_layers,
      num_attention_heads: b.num_attention_heads,
      num_key_value_heads: b.num_key_value_heads,
      intermediate_size: b.intermediate_size,
      vocab_size: b.vocab_size,
      head_dim: b.head_dim,
    },
    b.sequence_length,
  );
  const spec = specFromUserConfig(config, 'parameters');
  return { model: null, spec, modelId: null, warnings };
}

/** The request echoed with the defaults used and the model's own shape. */
function echo(b: z.infer<z.ZodObject<typeof shapeFields>>, built: Built, precision: string) {
  const s = configSummary(built.spec);
  const params = countParameters(built.spec).total;
  return {
    ...(b.model_name !== undefined ? { model_name: b.model_name } : {}),
    model_size: b.model_size ?? billions(params),
    precision,
    batch_size: b.batch_size,
    sequence_length: b.sequence_length,
    hidden_size: s['hidden_size'],
    num_hidden_layers: s['num_hidden_layers'],
    num_attention_heads: s['num_attention_heads'],
    num_key_value_heads: s['num_key_value_heads'],
    intermediate_size: s['intermediate_size'],
    vocab_size: s['vocab_size'],
  };
}

function modelInfo(built: Built) {
  const c = countParameters(built.spec);
  return {
    model_id: built.modelId,
    source: built.model?.source ?? 'parameters',
    total_parameters: c.total,
    active_parameters: c.active,
  };
}

async function inference(ctx: AppContext, b: InferenceBody, explain: boolean) {
  const built = await modelOf(ctx, b);
  const askedPrecision = b.precision ?? (built.model ? dtypeName(modelDtype(built.spec)) : 'float16');
  const key = { ...b, model_name: built.modelId ?? undefined, precision: askedPrecision, explain };
  return ctx.cache.get('memory.inference', key, () => {
    const precision = weightPrecision(askedPrecision);
    const kv = kvPrecision(built.spec, precision, b.kv_precision);
    const mem = inferenceMemory(built.spec, {
      precision,
      kvPrecision: kv,
      batch: b.batch_size,
      seq: b.sequence_length,
      plan: SINGLE,
      runtime: b.runtime,
      blockSize: kvBlockSizeFor(b.runtime),
      explain,
    });
    const lines: Record<string, number> = {
      model_weights: mem.weights_bytes,
      kv_cache: mem.kv_cache_bytes,
      activation_memory: mem.activation_bytes,
      ...(mem.state_bytes ? { state_memory: mem.state_bytes } : {}),
      ...(mem.image_bytes ? { image_memory: mem.image_bytes } : {}),
      runtime_overhead: mem.overhead_bytes,
      inference_memory: mem.total_bytes,
    };
    return {
      calculation_type: 'inference',
      parameters: { ...echo(b, built, askedPrecision), kv_precision: kv },
      memory_requirements: Object.fromEntries(Object.entries(lines).map(([k, v]) => [k, gbString(v)])),
      memory_requirements_bytes: lines,
      kv_cache_bytes_per_token: mem.kv_cache_bytes_per_token,
      model: modelInfo(built),
      warnings: built.warnings,
      ...(explain ? { trace: mem.trace } : {}),
    };
  });
}

async function training(ctx: AppContext, b: TrainingBody, explain: boolean) {
  const built = await modelOf(ctx, b);
  const askedPrecision = b.precision ?? (built.model ? dtypeName(modelDtype(built.spec)) : 'bfloat16');
  const key = { ...b, model_name: built.modelId ?? undefined, precision: askedPrecision, explain };
  return ctx.cache.get('memory.training', key, () => {
    const t = trainingMemory(built.spec, {
      precision: weightPrecision(askedPrecision) as 'fp32',
      optimizer: b.optimizer,
      batch: b.batch_size,
      seq: b.sequence_length,
      dp: b.data_parallel,
      zero: b.zero_stage,
      recompute: b.recompute,
      trainablePercent: b.trainable_parameters,
      explain,
    });
    const c = t.components;
    const lines: Record<string, number> = {
      model_weights: c.weights,
      master_weights: c.master_weights,
      gradients: c.gradients,
      optimizer_states: c.optimizer_states,
      activation_memory: c.activations + c.logits,
      ...(c.lora_adapter ? { lora_adapter: c.lora_adapter } : {}),
      ...(c.dequant_buffer ? { dequant_buffer: c.dequant_buffer } : {}),
      training_memory: t.peak_bytes,
    };
    return {
      calculation_type: 'training',
      parameters: {
        ...echo(b, built, askedPrecision),
        optimizer: b.optimizer,
        trainable_parameters: b.trainable_parameters,
        zero_stage: b.zero_stage,
        data_parallel: b.data_parallel,
        recompute: b.recompute,
      },
      memory_requirements: Object.fromEntries(Object.entries(lines).map(([k, v]) => [k, gbString(v)])),
      memory_requirements_bytes: lines,
      phases_bytes: t.phases,
      trainable_parameters: t.trainable_parameters,
      trainable_percent: t.trainable_percent,
      model: modelInfo(built),
      warnings: built.warnings,
      ...(explain ? { trace: t.trace } : {}),
    };
  });
}

function dtypeName(d: 'fp32' | 'fp16' | 'bf16'): string {
  return d === 'fp32' ? 'float32' : d === 'fp16' ? 'float16' : 'bfloat16';
}

/** GET /api/models/{model_name}: the model's configuration and what infersim reads from it. */
export async function modelDetail(ctx: AppContext, name: string) {
  const m = await resolveModel(ctx, name);
  const c = countParameters(m.spec);
  return {
    model_name: name,
    model_id: m.id,
    name: m.name,
    source: m.source,
    model_type: modelClass(m.spec),
    attention_type: attentionKind(m.spec),
    model_size: billions(c.total),
    total_parameters: c.total,
    active_parameters: c.active,
    parameter_breakdown: c.breakdown,
    summary: configSummary(m.spec),
    config: m.config,
    warnings: m.spec.warnings,
  };
}

const DATA_TYPES: Record<string, string> = {
  float32: 'fp32',
  float16: 'fp16',
  bfloat16: 'bf16',
  int8: 'int8',
  int4: 'int4',
};

export function registerMemoryRoutes(app: App, ctx: AppContext): void {
  app.get(
    '/api/models',
    { schema: { tags: [TAG], summary: 'Every model available by name: built in and imported' } },
    async () => {
      const entries = catalog().models.items;
      const stored = ctx.store ? await ctx.store.listSummaries() : [];
      const builtIn = new Set(entries.map((e) => e.id.toLowerCase()));
      const models = [];
      for (const e of entries) {
        const total = countParameters(modelSpec(e)).total;
        models.push({
          model_name: e.id.split('/').pop()!,
          model_id: e.id,
          source: 'model_dict',
          model_size: billions(total),
          parameter_count: total,
          ...configShape(e.config),
        });
      }
      for (const s of stored) {
        if (builtIn.has(s.id.toLowerCase())) continue;
        models.push({
          model_name: s.id.split('/').pop()!,
          model_id: s.id,
          source: 'database',
          model_size: billions(s.parameter_count),
          parameter_count: s.parameter_count,
          ...s.shape,
        });
      }
      return { models, count: models.length };
    },
  );

  app.post(
    '/api/memory/inference',
    {
      config: SPEC_400,
      schema: {
        tags: [TAG],
        summary:
          'Inference memory by model_name or by raw parameters ("14.00 GB" strings, exact bytes beside)',
        body: inferenceBody,
        querystring: explainQuery,
      },
    },
    async (req) => inference(ctx, req.body, wantsExplain(req.query)),
  );

  app.post(
    '/api/memory/training',
    {
      config: SPEC_400,
      schema: {
        tags: [TAG],
        summary: 'Training memory per device: weights, master copy, gradients, optimizer states, activations',
        body: trainingBody,
        querystring: explainQuery,
      },
    },
    async (req) => training(ctx, req.body, wantsExplain(req.query)),
  );

  app.post(
    '/api/memory/compare',
    {
      config: SPEC_400,
      schema: {
        tags: [TAG],
        summary: 'Several inference or training configurations side by side',
        body: z.object({
          calculation_type: z.enum(['inference', 'training']).default('inference'),
          configurations: z.array(z.record(z.string(), z.unknown())).min(1).max(LIMITS.compareItems),
        }),
        querystring: explainQuery,
      },
    },
    async (req) => {
      const explain = wantsExplain(req.query);
      const type = req.body.calculation_type;
      const results = [];
      for (const [i, raw] of req.body.configurations.entries()) {
        const schema = type === 'inference' ? inferenceBody : trainingBody;
        const parsed = schema.safeParse(raw);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new ApiError(422, `configurations[${i}].${issue.path.join('.') || 'body'}: ${issue.message}`);
        }
        try {
          const r =
            type === 'inference'
              ? await inference(ctx, parsed.data as InferenceBody, explain)
              : await training(ctx, parsed.data as TrainingBody, explain);
          results.push({ index: i, ...r });
        } catch (e) {
          if (e instanceof ApiError)
            throw new ApiError(e.status, `configurations[${i}].${e.message}`, e.extra);
          throw e;
        }
      }
      const totalKey = type === 'inference' ? 'inference_memory' : 'training_memory';
      const totals = results.map((r) => r.memory_requirements_bytes[totalKey]!);
      const lo = totals.indexOf(Math.min(...totals));
      const hi = totals.indexOf(Math.max(...totals));
      return {
        calculation_type: type,
        results,
        comparison: {
          lowest_memory_index: lo,
          highest_memory_index: hi,
          difference: gbString(totals[hi]! - totals[lo]!),
          difference_bytes: totals[hi]! - totals[lo]!,
        },
      };
    },
  );

  app.get(
    '/api/config/options',
    { schema: { tags: [TAG], summary: 'Data types, optimizers, KV dtypes, runtimes and input limits' } },
    async () => ({
      data_types: Object.fromEntries(
        Object.entries(DATA_TYPES).map(([name, id]) => [
          name,
          { id, bytes_per_element: kvElementBytes(id), bytes_per_weight_with_scales: bytesPerWeight(id) },
        ]),
      ),
      precisions: FORMAT_IDS.map((id) => ({ id, bytes_per_weight: bytesPerWeight(id) })),
      kv_cache_dtypes: KV_DTYPES,
      optimizers: OPTIMIZERS.map((o) => ({
        id: o.id,
        aliases: o.aliases,
        description: o.description,
        state_bytes_per_parameter: o.bytesPerParam,
        formula: o.formula,
        source: o.source,
      })),
      training_precisions: ['float32', 'float16', 'bfloat16', 'fp8'],
      zero_stages: [0, 1, 2, 3],
      recompute: ['none', 'selective', 'full'],
      runtimes: RUNTIME_IDS.map((id) => ({ id, description: RUNTIME_PROFILES[id].description })),
      limits: LIMITS,
      defaults: { batch_size: 1, sequence_length: 2048, optimizer: 'AdamW', trainable_parameters: 100 },
    }),
  );
}

/** Billions of parameters, 2 decimals (the spec's model_size). */
function billions(n: number): number {
  return Math.round(n / 1e7) / 100;
}

function bytesPerWeight(id: string): number | null {
  const f = getFormat(id);
  return f ? f.bitsPerWeight / 8 : null;
}
