/**
 * api-system-metrics.md (Mantile): GET /models/{model_id} (layer types), GET /hardware/{config_name},
 * GET /api/layers?model_id (with the parallelism each layer supports), POST /config/system-metrics (prefill and
 * decode on a hardware system under a per-layer parallel plan). Stateless.
 */
import { z } from 'zod';
import { catalog, hardwareSpec, NotFoundError, systemLinks } from '../../catalog/index.js';
import type { ModelSpec } from '../../core/arch/index.js';
import { defaultKvPrecision, kvBlockSizeFor, SERVING_DEFAULTS } from '../../core/defaults.js';
import { inferenceMemory } from '../../core/memory/inference.js';
import { devices, type ParallelPlan } from '../../core/parallel/plan.js';
import { perf } from '../../core/perf/latency.js';
import { resolveModel, type App, type AppContext } from '../context.js';
import { gb } from '../describe.js';
import { capacityBlock, engineFields } from '../engine-capacity.js';
import { ApiError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { weightPrecision } from '../memory.js';
import { explainQuery, wantsExplain } from '../schemas.js';

const TAG = 'system metrics';

interface LayerType {
  name: string;
  class: string;
  count: number;
  specs: Record<string, number | string | null>;
  available_parallelism: string[];
}

/** The model's layers by type, counted over every decoder layer group. */
export function layerTypes(spec: ModelSpec): LayerType[] {
  const out = new Map<string, LayerType>();
  const add = (name: string, cls: string, count: number, specs: LayerType['specs'], par: string[]) => {
    const prior = out.get(name);
    if (prior) prior.count += count;
    else out.set(name, { name, class: cls, count, specs, available_parallelism: par });
  };
  for (const g of spec.groups) {
    if (g.stack === 'vision') {
      add('vision', 'VisionEncoderLayer', g.count, { hidden_size: spec.vision?.hiddenSize ?? null }, [
        'tensor_parallel',
      ]);
      continue;
    }
    const a = g.attention;
    if (a) {
      add(
        'attention',
        a.kind === 'mla' ? 'MultiHeadLatentAttention' : 'Attention',
        g.count,
        {
          hidden_size: spec.hiddenSize,
          num_heads: a.numHeads,
          num_kv_heads: a.numKvHeads,
          head_dim: a.headDim,
          kind: a.kind,
          sliding_window: a.window,
          kv_lora_rank: a.mla?.kvLoraRank ?? null,
        },
        ['tensor_parallel', 'context_parallel'],
      );
    }
    if (g.ssm)
      add(
        'ssm',
        g.ssm.kind === 'mamba2'
          ? 'Mamba2Mixer'
          : g.ssm.kind === 'gated_deltanet'
            ? 'GatedDeltaNet'
            : 'MambaMixer',
        g.count,
        { hidden_size: spec.hiddenSize, d_inner: g.ssm.dInner, d_state: g.ssm.dState },
        ['tensor_parallel'],
      );
    const m = g.mlp;
    if (m?.kind === 'dense')
      add(
        'feedforward',
        'MLP',
        g.count,
        { hidden_size: spec.hiddenSize, intermediate_size: m.intermediateSize, gated: m.gated ? 1 : 0 },
        ['tensor_parallel', 'sequence_parallel'],
      );
    if (m?.kind === 'moe') {
      add(
        'moe',
        'MoE',
        g.count,
        {
          hidden_size: spec.hiddenSize,
          num_experts: m.numExperts,
          top_k: m.topK,
          expert_intermediate_size: m.expertIntermediateSize,
          shared_intermediate_size: m.sharedIntermediateSize,
        },
        ['tensor_parallel', 'expert_parallel', 'sequence_parallel'],
      );
    }
    const norms = g.tensors.filter(
      (t) => t.role === 'norm' && t.name.endsWith('weight') && t.shape[0] === spec.hiddenSize,
    ).length;
    if (norms) add('norm', 'Norm', g.count * norms, { hidden_size: spec.hiddenSize }, ['sequence_parallel']);
  }
  add(
    'embedding',
    'Embedding',
    1,
    { vocab_size: spec.vocabSize, hidden_size: spec.hiddenSize, tied: spec.tiedEmbeddings ? 1 : 0 },
    ['tensor_parallel'],
  );
  return [...out.values()];
}

/** A hardware config as the spec shows it: a system (several chips) or a single device. */
function hardwareConfig(name: string) {
  const c = catalog();
  const sys = c.systems.find(name);
  const dev = sys ? c.devices.get(sys.device) : c.devices.find(name);
  if (!dev)
    throw new NotFoundError('hardware', name, [...c.systems.suggest(name, 2), ...c.devices.suggest(name, 2)]);
  const h = hardwareSpec(dev);
  const chips = sys ? sys.devices_per_node * sys.nodes : 1;
  return {
    id: sys?.id ?? dev.id,
    name: sys?.name ?? dev.name,
    num_chips: chips,
    device: dev.id,
    memory: [
      {
        type: dev.architecture ? `${dev.architecture} memory` : 'device memory',
        capacity_gb: gb(h.memoryBytes),
        capacity_bytes: h.memoryBytes,
        bandwidth_gbps: Math.round(h.memoryBandwidthBytesPerS / 1e9),
      },
    ],
    compute: Object.fromEntries(Object.entries(h.denseFlops).map(([k, v]) => [k, (v ?? 0) / 1e12])),
    compute_unit: 'dense TFLOP/s (TOP/s for int8) per chip',
    interconnect: systemLinks(sys?.id ?? '') ?? {
      intra: h.interconnectBytesPerS ? { bandwidthBytesPerS: h.interconnectBytesPerS } : null,
    },
    spec: h,
  };
}

const par = z.number().int().min(1).max(LIMITS.parallel);
const layerCfg = z
  .object({
    tensor_parallel: par.optional(),
    context_parallel: par.optional(),
    sequence_parallel: par.optional(),
    expert_parallel: par.optional(),
    pipeline_parallel: par.optional(),
    dtype: z.string().min(1).max(40).optional(),
  })
  .strict();
const phaseReq = z
  .object({
    model_id: z.string().min(1).max(LIMITS.idLength),
    hardware_id: z.string().min(1).max(LIMITS.idLength),
    batch_size: z.number().int().min(1).max(LIMITS.batch),
    seq_len: z.number().int().min(1).max(LIMITS.seq),
    layers: z.record(z.string().max(40), layerCfg).optional(),
    ...engineFields,
  })
  .strict();
const metricsBody = z.object({ prefill_req: phaseReq.optional(), decode_req: phaseReq.optional() }).strict();

/** One parallel plan and one weight dtype from the per-layer settings; combinations the core cannot model are 422. */
function planOf(req: z.infer<typeof phaseReq>, field: string): { plan: ParallelPlan; dtype: string } {
  const L = req.layers ?? {};
  const known = ['attention', 'feedforward', 'moe', 'norm', 'embedding'];
  for (const k of Object.keys(L))
    if (!known.includes(k))
      throw new ApiError(422, `${field}.layers.${k}: unknown layer type; known: ${known.join(', ')}`);
  const tp = L['attention']?.tensor_parallel ?? L['feedforward']?.tensor_parallel ?? 1;
  for (const k of ['feedforward', 'moe'] as const) {
    const t = L[k]?.tensor_parallel;
    if (t !== undefined && t !== tp)
      throw new ApiError(
        422,
        `${field}.layers.${k}.tensor_parallel: ${t} differs from attention's ${tp}; infersim shards every layer over one TP group`,
      );
  }
  const dtypes = new Set(
    [L['attention']?.dtype, L['feedforward']?.dtype, L['moe']?.dtype].filter(
      (d): d is string => d !== undefined,
    ),
  );
  if (dtypes.size > 1)
    throw new ApiError(
      422,
      `${field}.layers: attention and feedforward dtypes differ (${[...dtypes].join(', ')}); give one weight dtype`,
    );
  const dtype = weightPrecision([...dtypes][0] ?? 'bf16', `${field}.layers.attention.dtype`);
  const sp = (L['feedforward']?.sequence_parallel ?? 1) > 1 || (L['norm']?.sequence_parallel ?? 1) > 1;
  const plan: ParallelPlan = {
    tp,
    pp: L['attention']?.pipeline_parallel ?? 1,
    ep: L['moe']?.expert_parallel ?? 1,
    cp: L['attention']?.context_parallel ?? 1,
    sp: sp && tp > 1,
  };
  return { plan, dtype };
}

async function phase(
  ctx: AppContext,
  req: z.infer<typeof phaseReq>,
  kind: 'prefill' | 'decode',
  explain: boolean,
) {
  const model = await resolveModel(ctx, req.model_id);
  const hw = hardwareConfig(req.hardware_id);
  const { plan, dtype } = planOf(req, `${kind}_req`);
  const kv = defaultKvPrecision(model.spec, dtype);
  const links = systemLinks(hw.id) ?? undefined;
  const r = perf(model.spec, hw.spec, {
    precision: dtype,
    kvPrecision: kv,
    batch: req.batch_size,
    inputLen: req.seq_len,
    outputLen: 1,
    plan,
    links,
    explain,
  });
  const mem = inferenceMemory(model.spec, {
    precision: dtype,
    kvPrecision: kv,
    batch: req.batch_size,
    seq: req.seq_len + (kind === 'decode' ? 1 : 0),
    plan,
    runtime: SERVING_DEFAULTS.runtime,
    blockSize: kvBlockSizeFor(SERVING_DEFAULTS.runtime),
  });
  const n = devices(plan);
  const latency = kind === 'prefill' ? r.ttft_s : r.tpot_s;
  // The engine's KV cache with max_model_len = this phase's length, on one device of the plan; asked for with
  // engine / engine_version (this route is a hot path: the load benchmark keeps its cost off when not asked).
  const wantsCapacity = req.engine !== undefined || req.engine_version !== undefined;
  const capacity = !wantsCapacity
    ? null
    : capacityBlock(model.spec, hw.spec, {
        engine: req.engine,
        engine_version: req.engine_version,
        plan,
        precision: dtype,
        kvPrecision: kv,
        maxModelLen: req.seq_len + (kind === 'decode' ? 1 : 0),
        fieldPrefix: `${kind}_req.`,
      }).json;
  const flopsPerDevice = Object.values(kind === 'prefill' ? r.flops.prefill : r.flops.decode_step).reduce(
    (a, x) => a + (x ?? 0),
    0,
  );
  return {
    out: {
      latency_ms: latency * 1e3,
      ideal_latency_ms: (kind === 'prefill' ? r.ideal.ttft_s : r.ideal.tpot_s) * 1e3,
      memory_gb: gb(mem.total_bytes * n),
      memory_per_chip_gb: gb(mem.total_bytes),
      memory_per_chip_bytes: mem.total_bytes,
      flops: flopsPerDevice * (plan.tp * plan.ep * (plan.cp ?? 1)),
      communication_time_ms: r.communication_s[kind] * 1e3,
      bound: r.bound[kind],
      chips_used: n,
      plan,
      dtype,
      capacity,
      warnings: model.spec.warnings,
      ...(explain ? { trace: [...mem.trace, ...r.trace] } : {}),
    },
    chips: hw.num_chips,
    fits: n <= hw.num_chips && mem.total_bytes <= hw.spec.visibleMemoryBytes,
    utilization: mem.total_bytes / hw.spec.visibleMemoryBytes,
    batch: req.batch_size,
  };
}

export function registerSystemRoutes(app: App, ctx: AppContext): void {
  app.get(
    '/models/*',
    { schema: { tags: [TAG], summary: 'Layer types of a model with counts and specs' } },
    async (req) => {
      const id = decodeURIComponent((req.params as { '*': string })['*']);
      const m = await resolveModel(ctx, id);
      return {
        model_id: m.id,
        layer_types: layerTypes(m.spec).map(({ available_parallelism: _a, ...l }) => l),
      };
    },
  );
  app.get(
    '/hardware/*',
    {
      schema: {
        tags: [TAG],
        summary: 'A hardware system or device: chips, memory, dense compute, interconnect',
      },
    },
    async (req) => {
      const h = hardwareConfig(decodeURIComponent((req.params as { '*': string })['*']));
      const { id, name, num_chips, device, memory, compute, compute_unit, interconnect } = h;
      return { id, name, num_chips, device, memory, compute, compute_unit, interconnect };
    },
  );
  app.get(
    '/api/layers',
    {
      schema: {
        tags: [TAG],
        summary: 'Layer types with the parallelism each supports',
        querystring: z.object({ model_id: z.string().min(1).max(LIMITS.idLength) }),
      },
    },
    async (req) => ({
      model_id: req.query.model_id,
      layers: layerTypes((await resolveModel(ctx, req.query.model_id)).spec),
    }),
  );
  app.post(
    '/config/system-metrics',
    {
      schema: {
        tags: [TAG],
        summary: 'Prefill and decode metrics on a hardware system (ideal and estimate)',
        body: metricsBody,
        querystring: explainQuery,
      },
    },
    async (req) => {
      const explain = wantsExplain(req.query);
      const { prefill_req, decode_req } = req.body;
      if (!prefill_req && !decode_req) throw new ApiError(422, 'body: give prefill_req, decode_req or both');
      const pre = prefill_req ? await phase(ctx, prefill_req, 'prefill', explain) : null;
      const dec = decode_req ? await phase(ctx, decode_req, 'decode', explain) : null;
      const phases = [pre, dec].filter((p): p is NonNullable<typeof p> => p !== null);
      const slowest = phases.reduce((a, b) => (b.out.latency_ms > a.out.latency_ms ? b : a));
      return {
        system: {
          total_time_ms: phases.reduce((a, p) => a + p.out.latency_ms, 0),
          throughput_tokens_s: dec
            ? dec.batch / (dec.out.latency_ms / 1e3)
            : pre!.batch / (pre!.out.latency_ms / 1e3),
          total_memory_gb: Math.max(...phases.map((p) => p.out.memory_gb)),
          utilization_percent: Math.round(1000 * Math.max(...phases.map((p) => p.utilization))) / 10,
          num_chips: slowest.chips,
          bottleneck: slowest.out.bound,
          fits_on_hardware: phases.every((p) => p.fits),
        },
        prefill: pre?.out ?? null,
        decode: dec?.out ?? null,
      };
    },
  );
}
