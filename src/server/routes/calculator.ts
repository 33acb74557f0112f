/**
 * api-inference-calculator.md: POST /api/calculate, GET /api/available_models, POST /api/model_scaling_analysis,
 * and GET /api/available_gpus. Errors of this spec are 400. Every number comes from the core; the "with overhead"
 * figures are the core's own overhead lines (runtime context, paged-block rounding), not fixed factors.
 */
import { z } from 'zod';
import { catalog, findDevice, hardwareSpec, modelSpec, systemLinks } from '../../catalog/index.js';
import { countParameters, type ModelSpec } from '../../core/arch/index.js';
import type { HardwareSpec } from '../../core/hardware/spec.js';
import { defaultKvPrecision, kvBlockSizeFor, SERVING_DEFAULTS } from '../../core/defaults.js';
import { inferenceMemory } from '../../core/memory/inference.js';
import type { RuntimeId } from '../../core/memory/runtime.js';
import { efficiencyFor, type Efficiency } from '../../core/perf/efficiency.js';
import { perf } from '../../core/perf/latency.js';
import { recommendPlans } from '../../core/parallel/recommend.js';
import { hardwareClass } from '../../core/hardware/spec.js';
import { resolveModel, specFromUserConfig, type AppContext, type App } from '../context.js';
import { gb } from '../describe.js';
import { ApiError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { capacityBlock, engineFields } from '../engine-capacity.js';
import { configFromShape } from '../memory.js';
import { explainQuery, wantsExplain } from '../schemas.js';

const TAG = 'inference calculator';
const SPEC_400 = { validationStatus: 400 };
const dim = (max: number) => z.number().int().min(1).max(max);
const PRECISIONS = ['fp16', 'fp32', 'bf16', 'int8', 'int4'] as const;

const calculateBody = z
  .object({
    calculation_type: z.string().max(40).default('model'),
    model_name: z.string().min(1).max(LIMITS.idLength).default('custom'),
    hidden_dim: dim(1 << 20).optional(),
    ff_dim: dim(1 << 22).optional(),
    num_layers: dim(LIMITS.configLayers).optional(),
    vocab_size: dim(1 << 24).optional(),
    seq_length: dim(LIMITS.seq).default(2048),
    batch_size: dim(LIMITS.batch).default(1),
    gpu: z.string().min(1).max(LIMITS.idLength).optional(),
    gpu_tflops: z.number().positive().max(1e6).default(312),
    precision: z.enum(PRECISIONS).default('fp16'),
    efficiency_factor: z
      .number()
      .gt(0)
      .max(1)
      .nullable()
      .default(0.3)
      .describe(
        "fraction of peak compute and bandwidth the GPU reaches (the spec default 0.3); null: infersim's calibrated efficiencies of the device class",
      ),
    ...engineFields,
  })
  .strict();

/** The spec's custom model: a llama-like decoder from hidden/ff/layers/vocab, with 128-wide heads. */
function customSpec(b: z.infer<typeof calculateBody>): { spec: ModelSpec; warnings: string[] } {
  const missing = (['hidden_dim', 'ff_dim', 'num_layers', 'vocab_size'] as const).filter(
    (k) => b[k] === undefined,
  );
  if (missing.length)
    throw new ApiError(422, `${missing.join(', ')}: required for a custom model (model_name 'custom')`);
  const h = b.hidden_dim!;
  const heads = h % 128 === 0 ? h / 128 : h % 64 === 0 ? h / 64 : 1;
  const { config, warnings } = configFromShape(
    {
      hidden_size: h,
      num_hidden_layers: b.num_layers!,
      num_attention_heads: heads,
      intermediate_size: b.ff_dim!,
      vocab_size: b.vocab_size!,
    },
    b.seq_length,
  );
  warnings.push(
    `num_attention_heads not given: ${heads} heads of ${h / heads} (hidden_dim / 128 where it divides)`,
  );
  return { spec: specFromUserConfig(config), warnings };
}

/** The device asked for, or the spec's TFLOPS-only device: A100 80GB's memory with the given dense TFLOPS. */
function device(b: z.infer<typeof calculateBody>): HardwareSpec {
  if (b.gpu) return hardwareSpec(findDevice(b.gpu));
  const a100 = hardwareSpec(findDevice('a100-sxm-80gb'));
  const f = b.gpu_tflops * 1e12;
  return {
    ...a100,
    id: `custom-${b.gpu_tflops}tflops`,
    name: `${b.gpu_tflops} TFLOPS device (A100 80GB memory)`,
    denseFlops: { fp32: f / 16, fp16: f, bf16: f, int8: 2 * f },
  };
}

/** The spec checks the GPU supports the precision: int8 needs int8 tensor cores, fp16/bf16 their own. */
function checkPrecision(p: (typeof PRECISIONS)[number], hw: HardwareSpec): void {
  const need = p === 'int4' ? ['fp16', 'bf16'] : p === 'fp32' ? ['fp32', 'tf32'] : [p];
  if (!need.some((d) => (hw.denseFlops as Record<string, number | undefined>)[d])) {
    throw new ApiError(
      422,
      `precision: ${hw.name} does not support ${p} (it has ${Object.keys(hw.denseFlops).join(', ')})`,
    );
  }
}

/** The calibrated efficiencies of the device's class (undefined: perf reports the class), or the given factor. */
function efficiency(hw: HardwareSpec, factor: number | null | undefined): Efficiency | undefined {
  if (factor === null || factor === undefined) return undefined;
  const cal = efficiencyFor(hardwareClass(hw));
  return { ...cal, gemm: factor, expertGemm: factor, attention: factor, memory: factor };
}

async function calculate(ctx: AppContext, b: z.infer<typeof calculateBody>, explain: boolean) {
  if (b.calculation_type !== 'model')
    throw new ApiError(
      400,
      `calculation_type: only 'model' is supported (got '${b.calculation_type.slice(0, 40)}')`,
    );
  const custom = b.model_name === 'custom';
  const { spec, warnings } = custom
    ? customSpec(b)
    : await (async () => {
        const s = (await resolveModel(ctx, b.model_name)).spec;
        return { spec: s, warnings: [...s.warnings] };
      })();
  const hw = device(b);
  checkPrecision(b.precision, hw);
  const precision = b.precision;
  const kv = defaultKvPrecision(spec, precision);
  const plans = recommendPlans(spec, hw, { precision, kvPrecision: kv, seq: b.seq_length, maxDevices: 64 });
  const best = plans.find((p) => p.fits) ?? plans[0]!;
  const plan = best.plan;
  const n = best.devices;
  const mem = (p = plan, runtime: RuntimeId = 'none', block: number | null = null) =>
    inferenceMemory(spec, {
      precision,
      kvPrecision: kv,
      batch: b.batch_size,
      seq: b.seq_length,
      plan: p,
      runtime,
      blockSize: block,
      explain,
    });
  const base = mem({ tp: 1, pp: 1, ep: 1 });
  // "with overhead": the shared serving runtime and its KV blocks, as every other adapter counts them.
  const rt = SERVING_DEFAULTS.runtime;
  const withOv = mem({ tp: 1, pp: 1, ep: 1 }, rt, kvBlockSizeFor(rt));
  const perDev = mem(plan);
  const perDevOv = mem(plan, rt, kvBlockSizeFor(rt));
  const eff = efficiency(hw, b.efficiency_factor);
  const links = b.gpu ? (systemLinks(b.gpu) ?? undefined) : undefined;
  const out = Math.max(1, Math.min(1000, b.seq_length - 1));
  const input = Math.max(1, b.seq_length - out);
  const r = perf(spec, hw, {
    precision,
    kvPrecision: kv,
    batch: b.batch_size,
    inputLen: input,
    outputLen: out,
    plan,
    efficiency: eff,
    links,
    explain,
  });
  // What the engine's KV cache holds at max_model_len = seq_length on one device of the plan.
  const capacity = capacityBlock(spec, hw, {
    engine: b.engine,
    engine_version: b.engine_version,
    plan,
    precision,
    kvPrecision: kv,
    maxModelLen: b.seq_length,
  }).json;
  const byGpu: Record<string, number> = {};
  for (const d of catalog().devices.items) {
    if (d.kind !== 'gpu') continue;
    const h = hardwareSpec(d);
    try {
      checkPrecision(b.precision, h);
      byGpu[d.id] = perf(spec, h, {
        precision,
        kvPrecision: kv,
        batch: b.batch_size,
        inputLen: input,
        outputLen: out,
        plan,
        efficiency: efficiency(h, b.efficiency_factor),
      }).tokens_per_s;
    } catch {
      // a device without this precision has no figure
    }
  }
  const ratio = (a: number, x: number) => (x > 0 ? Math.round((a / x) * 1000) / 1000 : 1);
  const wOv = withOv.weights_bytes + withOv.overhead_bytes;
  const total = base.weights_bytes + base.kv_cache_bytes + base.activation_bytes + base.state_bytes;
  const totalOv = wOv + withOv.kv_cache_bytes + withOv.activation_bytes + withOv.state_bytes;
  const perTotal =
    perDev.weights_bytes + perDev.kv_cache_bytes + perDev.activation_bytes + perDev.state_bytes;
  const perTotalOv =
    perDevOv.weights_bytes +
    perDevOv.overhead_bytes +
    perDevOv.kv_cache_bytes +
    perDevOv.activation_bytes +
    perDevOv.state_bytes;
  const stamp = new Date().toISOString();
  return {
    model_name: b.model_name,
    parameters_billions: Math.round(countParameters(spec).total / 1e7) / 100,
    vram: {
      model_base: gb(base.weights_bytes),
      kv_cache_base: gb(base.kv_cache_bytes + base.state_bytes),
      activations_base: gb(base.activation_bytes),
      model_with_overhead: gb(wOv),
      kv_cache_with_overhead: gb(withOv.kv_cache_bytes + withOv.state_bytes),
      activations_with_overhead: gb(withOv.activation_bytes),
      total_base: gb(total),
      total_with_component_overhead: gb(totalOv),
      total_system_wide: gb(perTotalOv * n),
      model_per_gpu: gb(perDev.weights_bytes),
      kv_cache_per_gpu: gb(perDev.kv_cache_bytes + perDev.state_bytes),
      activations_per_gpu: gb(perDev.activation_bytes),
      model_per_gpu_with_overhead: gb(perDevOv.weights_bytes + perDevOv.overhead_bytes),
      kv_cache_per_gpu_with_overhead: gb(perDevOv.kv_cache_bytes + perDevOv.state_bytes),
      activations_per_gpu_with_overhead: gb(perDevOv.activation_bytes),
      total_base_per_gpu: gb(perTotal),
      total_per_gpu_with_component_overhead: gb(perTotalOv),
      total_bytes: total,
      total_per_gpu_bytes: perTotalOv,
    },
    flops: {
      attention: (r.flops.prefill.attention_core ?? 0) + (r.flops.prefill.attention_proj ?? 0),
      feedforward:
        (r.flops.prefill.mlp ?? 0) + (r.flops.prefill.experts ?? 0) + (r.flops.prefill.router ?? 0),
      prefill_total: Object.values(r.flops.prefill).reduce((a, x) => a + (x ?? 0), 0),
      per_token: Object.values(r.flops.decode_step).reduce((a, x) => a + (x ?? 0), 0) / b.batch_size,
    },
    performance: {
      tokens_per_second: r.tokens_per_s,
      prefill_latency: r.ttft_s,
      token_latency: r.tpot_s,
      time_for_1000_tokens: r.tpot_s * 1000,
      throughput_by_gpu: byGpu,
      bandwidth_utilization: r.bandwidth_utilization.decode,
      ideal: {
        tokens_per_second: r.ideal.tokens_per_s,
        prefill_latency: r.ideal.ttft_s,
        token_latency: r.ideal.tpot_s,
      },
      bound: r.bound,
      efficiency_used: r.efficiency,
    },
    capacity,
    parallelism: {
      recommended_strategy: plan.pp > 1 ? 'pipeline' : plan.tp > 1 ? 'tensor' : 'none',
      tensor_parallel_gpus: plan.tp,
      pipeline_parallel_gpus: plan.pp,
      num_gpus: n,
      fits: best.fits,
    },
    overheads_used: {
      weights: ratio(wOv, base.weights_bytes),
      kv_cache: ratio(withOv.kv_cache_bytes, base.kv_cache_bytes),
      activations: ratio(withOv.activation_bytes, base.activation_bytes),
    },
    warnings,
    history: [
      ...(explain ? [...perDev.trace, ...r.trace] : []).map((t) => ({
        operation: t.figure,
        result: `${t.value} ${t.unit}`,
        formula: t.formula,
        inputs: t.inputs,
        timestamp: stamp,
      })),
      { operation: 'calculate_model_size', result: `${gb(base.weights_bytes)} GB`, timestamp: stamp },
      { operation: 'calculate_kv_cache', result: `${gb(base.kv_cache_bytes)} GB`, timestamp: stamp },
    ],
  };
}

const scalingBody = z
  .object({
    gpu_vram_gb: z.number().positive().max(1e5),
    batch_size: dim(LIMITS.batch).default(1),
    sequence_length: dim(LIMITS.seq).default(2048),
    hidden_dimensions: dim(1 << 20),
    feedforward_dimensions: dim(1 << 22),
    num_layers: dim(LIMITS.configLayers),
    vocab_size: dim(1 << 24),
    precision: z.enum(PRECISIONS).default('fp16'),
  })
  .strict();

function scaling(b: z.infer<typeof scalingBody>) {
  const { spec, warnings } = customSpec({
    calculation_type: 'model',
    model_name: 'custom',
    hidden_dim: b.hidden_dimensions,
    ff_dim: b.feedforward_dimensions,
    num_layers: b.num_layers,
    vocab_size: b.vocab_size,
    seq_length: b.sequence_length,
    batch_size: b.batch_size,
    gpu_tflops: 312,
    efficiency_factor: 0.3,
    precision: b.precision,
  });
  const kv = b.precision === 'fp32' ? 'fp32' : 'fp16';
  const cap = b.gpu_vram_gb * 1e9;
  const mem = (tp: number, pp: number) =>
    inferenceMemory(spec, {
      precision: b.precision,
      kvPrecision: kv,
      batch: b.batch_size,
      seq: b.sequence_length,
      plan: { tp, pp, ep: 1 },
    });
  const one = mem(1, 1);
  const strategy = (kind: 'tp' | 'pp') => {
    for (let n = 1; n <= 4096; n *= 2) {
      try {
        const m = kind === 'tp' ? mem(n, 1) : mem(1, n);
        if (m.total_bytes <= cap) return { n, m };
      } catch {
        break; // the plan no longer divides the model
      }
    }
    return null;
  };
  const tp = strategy('tp');
  const pp = strategy('pp');
  const H = spec.hiddenSize;
  const describe = (s: typeof tp, kind: 'tp' | 'pp') =>
    s && {
      num_gpus: s.n,
      vram_per_gpu_gb: gb(s.m.total_bytes),
      // Bytes one generated token sends: TP all-reduces twice per layer, PP passes the hidden state per stage.
      communication_bytes_per_token:
        kind === 'tp' ? (2 * spec.numLayers * 2 * (s.n - 1) * H * 2) / s.n : (s.n - 1) * H * 2,
      communication_overhead: kind === 'tp' ? (s.n <= 8 ? 'low' : 'high') : 'medium',
      implementation_complexity: kind === 'tp' ? 'medium' : 'high',
    };
  const needed = Math.min(tp?.n ?? Infinity, pp?.n ?? Infinity);
  return {
    total_vram_required_gb: gb(one.total_bytes),
    gpu_vram_capacity_gb: b.gpu_vram_gb,
    fits_on_single_gpu: one.total_bytes <= cap,
    num_gpus_required: Number.isFinite(needed) ? needed : null,
    recommended_strategy:
      one.total_bytes <= cap
        ? 'single_gpu'
        : tp && tp.n <= (pp?.n ?? Infinity)
          ? 'tensor_parallel'
          : pp
            ? 'pipeline_parallel'
            : 'does_not_fit',
    scaling_details: {
      single_gpu_memory_breakdown: {
        model_weights_gb: gb(one.weights_bytes),
        kv_cache_gb: gb(one.kv_cache_bytes),
        activation_memory_gb: gb(one.activation_bytes),
        optimizer_states_gb: 0,
        gradient_accumulation_gb: 0,
        runtime_overhead_gb: gb(one.overhead_bytes),
      },
      parallel_strategies: { tensor_parallel: describe(tp, 'tp'), pipeline_parallel: describe(pp, 'pp') },
    },
    warnings,
  };
}

export function registerCalculatorRoutes(app: App, ctx: AppContext): void {
  app.post(
    '/api/calculate',
    {
      config: SPEC_400,
      schema: {
        tags: [TAG],
        summary: 'Memory, FLOPs, latency and throughput of a model on a GPU (ideal and estimate)',
        body: calculateBody,
        querystring: explainQuery,
      },
    },
    async (req) => calculate(ctx, req.body, wantsExplain(req.query)),
  );
  app.get(
    '/api/available_models',
    { schema: { tags: [TAG], summary: 'Predefined models with their shapes' } },
    async () =>
      catalog().models.items.map((e) => {
        const spec = modelSpec(e);
        const mlp = spec.groups.find((g) => g.mlp)?.mlp;
        return {
          name: e.aliases[0] ?? e.id.split('/').pop()!.toLowerCase(),
          id: e.id,
          hidden_dim: spec.hiddenSize,
          ff_dim: mlp ? (mlp.kind === 'dense' ? mlp.intermediateSize : mlp.expertIntermediateSize) : null,
          num_layers: spec.numLayers,
          vocab_size: spec.vocabSize,
          seq_len: spec.maxPositionEmbeddings,
          family: e.family,
          parameter_count: Math.round(countParameters(spec).total / 1e7) / 100,
          parameters: countParameters(spec).total,
        };
      }),
  );
  app.get(
    '/api/available_gpus',
    { schema: { tags: [TAG], summary: 'GPUs with memory, bandwidth and dense TFLOPS' } },
    async () =>
      catalog()
        .devices.items.filter((d) => d.kind === 'gpu')
        .map((d) => {
          const h = hardwareSpec(d);
          return {
            id: d.id,
            name: d.name,
            vendor: d.vendor,
            vram_gb: gb(h.memoryBytes),
            memory_bytes: h.memoryBytes,
            bandwidth_gbps: Math.round(h.memoryBandwidthBytesPerS / 1e9),
            tflops: Object.fromEntries(Object.entries(h.denseFlops).map(([k, v]) => [k, (v ?? 0) / 1e12])),
            supported_precisions: PRECISIONS.filter((p) => {
              try {
                checkPrecision(p, h);
                return true;
              } catch {
                return false;
              }
            }),
          };
        }),
  );
  app.post(
    '/api/model_scaling_analysis',
    {
      config: SPEC_400,
      schema: {
        tags: [TAG],
        summary: 'GPUs required and per-strategy memory from real sharding',
        body: scalingBody,
      },
    },
    async (req) => scaling(req.body),
  );
}
