/**
 * The web UI: the built front end (web/dist) served at `/`, and two thin adapters the page needs that no spec
 * endpoint offers as one answer: POST /api/web/plan (per-device memory under a parallel plan, engine capacity,
 * speed ideal vs estimate, the catalog GPUs it fits on, a batch sweep) and POST /api/web/training (training
 * memory by component with LoRA / QLoRA). Both call the core exactly as the spec routes do, so the same question
 * gets the same number here as in /api/models/calculate or /api/calculate.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { z } from 'zod';
import { catalog, findDevice, hardwareSpec, systemLinks } from '../../catalog/index.js';
import { countParameters, type ModelSpec } from '../../core/arch/index.js';
import type { HardwareSpec } from '../../core/hardware/spec.js';
import { kvBlockSizeFor, SERVING_DEFAULTS, TRAINING_DEFAULTS } from '../../core/defaults.js';
import { engineCapacity } from '../../core/memory/capacity.js';
import { inferenceMemory } from '../../core/memory/inference.js';
import { RUNTIME_IDS } from '../../core/memory/runtime.js';
import { trainingMemory, type TrainingPrecision } from '../../core/memory/training.js';
import { devices, replicaDevices, validatePlan, type ParallelPlan } from '../../core/parallel/plan.js';
import { perf } from '../../core/perf/latency.js';
import { replicaRates } from '../../core/perf/replicas.js';
import { resolveModel, specFromUserConfig, type App, type AppContext } from '../context.js';
import { ApiError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { kvPrecision, weightPrecision } from '../memory.js';
import { explainQuery, wantsExplain } from '../schemas.js';

const TAG = 'web UI';
const HERE = dirname(fileURLToPath(import.meta.url));
/** src/server/routes and dist/server/routes are both three levels below the repository root. */
export const WEB_DIST = process.env['INFERSIM_WEB_DIST'] ?? resolve(HERE, '..', '..', '..', 'web', 'dist');

const par = z.number().int().min(1).max(64);
const modelRef = {
  model_id: z.string().min(1).max(LIMITS.idLength).optional().describe('catalog id or alias, or imported id'),
  config: z.record(z.string(), z.unknown()).optional().describe('a config.json instead of model_id'),
};

const planBody = z
  .object({
    ...modelRef,
    hardware_id: z.string().min(1).max(LIMITS.idLength).describe('device or system id'),
    precision: z.string().min(1).max(40).default('bf16'),
    kv_precision: z.string().min(1).max(40).optional(),
    batch_size: z.number().int().min(1).max(4096).default(1),
    input_len: z.number().int().min(1).max(1_048_576).default(1024),
    output_len: z.number().int().min(1).max(1_048_576).default(256),
    tp: par.default(1),
    pp: par.default(1),
    ep: par.default(1),
    cp: par.default(1).describe('context parallel: the sequence split over cp devices (ring K/V exchange)'),
    sp: z.boolean().default(false).describe('sequence parallel inside the TP group (needs tp >= 2)'),
    dp: par.default(1).describe('data parallel: independent replicas of the whole tp·pp·ep·cp group'),
    gpu_memory_utilization: z.number().gt(0).max(1).default(SERVING_DEFAULTS.gpuMemoryUtilization),
    runtime: z.enum(RUNTIME_IDS).default(SERVING_DEFAULTS.runtime),
  })
  .strict();
type PlanBody = z.infer<typeof planBody>;

const trainingBody = z
  .object({
    ...modelRef,
    precision: z.enum(['fp32', 'bf16', 'fp16', 'fp8']).default('bf16'),
    optimizer: z.string().min(1).max(60).default('AdamW'),
    batch_size: z.number().int().min(1).max(4096).default(1),
    seq_len: z.number().int().min(1).max(1_048_576).default(2048),
    data_parallel: par.default(1),
    zero_stage: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]).default(0),
    recompute: z.enum(['none', 'selective', 'full']).default('none'),
    lora_rank: z.number().int().min(0).max(4096).default(0).describe('0: full fine-tuning'),
    lora_targets: z.string().max(400).default(TRAINING_DEFAULTS.loraTargets),
    qlora: z.boolean().default(false),
  })
  .strict();

async function specOf(ctx: AppContext, b: { model_id?: string; config?: Record<string, unknown> }) {
  if (b.config)
    return {
      id: null,
      name: String(b.config['_name_or_path'] ?? 'pasted config'),
      spec: specFromUserConfig(b.config),
    };
  if (!b.model_id) throw new ApiError(422, 'model_id: give model_id or config');
  const m = await resolveModel(ctx, b.model_id);
  return { id: m.id, name: m.name, spec: m.spec };
}

/** A device or a system: the device spec, the chips it has and the links between them. */
function hardwareOf(id: string) {
  const sys = catalog().systems.find(id);
  const hw = hardwareSpec(findDevice(id));
  return {
    hw,
    system: sys ? { id: sys.id, name: sys.name, chips: sys.devices_per_node * sys.nodes } : null,
    links: systemLinks(id) ?? undefined,
  };
}

/** The fewest devices of one kind that hold the model (TP up to 8, then PP), with that plan's speed. */
function fitOn(spec: ModelSpec, hw: HardwareSpec, b: PlanBody, precision: string, kv: string) {
  const seq = b.input_len + b.output_len;
  const limit = hw.visibleMemoryBytes * b.gpu_memory_utilization;
  for (const n of [1, 2, 4, 8, 16, 32, 64]) {
    for (let tp = Math.min(n, 8); tp >= 1; tp /= 2) {
      const plan: ParallelPlan = { tp, pp: n / tp, ep: 1 };
      try {
        validatePlan(spec, plan);
      } catch {
        continue;
      }
      const m = inferenceMemory(spec, {
        precision,
        kvPrecision: kv,
        batch: b.batch_size,
        seq,
        plan,
        runtime: b.runtime,
        blockSize: kvBlockSizeFor(b.runtime),
      });
      if (m.total_bytes > limit) continue;
      let tokensPerS: number | null = null;
      try {
        tokensPerS = perf(spec, hw, {
          precision,
          kvPrecision: kv,
          batch: b.batch_size,
          inputLen: b.input_len,
          outputLen: b.output_len,
          plan,
        }).tokens_per_s;
      } catch {
        // a device without this precision's compute has no speed figure
      }
      return { devices_needed: n, plan, memory_per_device_bytes: m.total_bytes, tokens_per_s: tokensPerS };
    }
  }
  return { devices_needed: null, plan: null, memory_per_device_bytes: null, tokens_per_s: null };
}

const BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256];

async function plan(ctx: AppContext, b: PlanBody, explain: boolean) {
  const model = await specOf(ctx, b);
  const spec = model.spec;
  const { hw, system, links } = hardwareOf(b.hardware_id);
  const precision = weightPrecision(b.precision);
  const kv = kvPrecision(spec, precision, b.kv_precision);
  const p: ParallelPlan = { tp: b.tp, pp: b.pp, ep: b.ep, cp: b.cp, sp: b.sp, dp: b.dp };
  validatePlan(spec, p);
  const seq = b.input_len + b.output_len;
  const mem = inferenceMemory(spec, {
    precision,
    kvPrecision: kv,
    batch: b.batch_size,
    seq,
    plan: p,
    runtime: b.runtime,
    blockSize: kvBlockSizeFor(b.runtime),
    explain,
  });
  const cap = engineCapacity(spec, {
    deviceBytes: hw.visibleMemoryBytes,
    gpuMemoryUtilization: b.gpu_memory_utilization,
    precision,
    kvPrecision: kv,
    plan: p,
    maxModelLen: seq,
    maxNumBatchedTokens: Math.min(seq, 8192),
    maxNumSeqs: 256,
    blockSize: SERVING_DEFAULTS.kvBlockSize,
    runtime: b.runtime,
    explain,
  });
  const opts = { precision, kvPrecision: kv, inputLen: b.input_len, outputLen: b.output_len, plan: p, links };
  const r = perf(spec, hw, { ...opts, batch: b.batch_size, explain });
  const limit = hw.visibleMemoryBytes * b.gpu_memory_utilization;
  const sweep = [...new Set([...BATCHES, b.batch_size])]
    .sort((x, y) => x - y)
    .map((batch) => {
      const s = perf(spec, hw, { ...opts, batch });
      const m = inferenceMemory(spec, {
        precision,
        kvPrecision: kv,
        batch,
        seq,
        plan: p,
        runtime: b.runtime,
        blockSize: kvBlockSizeFor(b.runtime),
      });
      return {
        batch_size: batch,
        tokens_per_s: s.tokens_per_s,
        ideal_tokens_per_s: s.ideal.tokens_per_s,
        ttft_s: s.ttft_s,
        tpot_s: s.tpot_s,
        memory_per_device_bytes: m.total_bytes,
        fits: m.total_bytes <= limit,
      };
    });
  const fit = catalog()
    .devices.items.filter((d) => d.kind === 'gpu' || d.kind === 'accelerator')
    .map((d) => {
      const h = hardwareSpec(d);
      return { id: d.id, name: d.name, memory_bytes: h.memoryBytes, ...fitOn(spec, h, b, precision, kv) };
    })
    .sort((x, y) => (x.devices_needed ?? 1e9) - (y.devices_needed ?? 1e9) || x.memory_bytes - y.memory_bytes);
  const params = countParameters(spec);
  const n = devices(p);
  const pick = (f: typeof r) => ({
    ttft_s: f.ttft_s,
    tpot_s: f.tpot_s,
    tokens_per_s: f.tokens_per_s,
    e2e_s: f.e2e_s,
    bound: f.bound,
    mfu: f.mfu,
    bandwidth_utilization: f.bandwidth_utilization,
    communication_s: f.communication_s,
  });
  const dp = p.dp ?? 1;
  const aggregate = replicaRates(r, dp, explain && dp > 1);
  const warnings = [...spec.warnings];
  if (system && n > system.chips)
    warnings.push(`the plan uses ${n} devices; ${system.name} has ${system.chips}`);
  if (!system && n > 1) warnings.push(`the plan uses ${n} devices of ${hw.name}`);
  return {
    model: {
      id: model.id,
      name: model.name,
      total_parameters: params.total,
      active_parameters: params.active,
      max_position_embeddings: spec.maxPositionEmbeddings ?? null,
    },
    hardware: {
      id: hw.id,
      name: hw.name,
      memory_bytes: hw.memoryBytes,
      visible_memory_bytes: hw.visibleMemoryBytes,
      system,
    },
    precision,
    kv_precision: kv,
    plan: p,
    devices: n,
    replica_devices: replicaDevices(p),
    memory_per_device: {
      weights_bytes: mem.weights_bytes,
      kv_cache_bytes: mem.kv_cache_bytes,
      activation_bytes: mem.activation_bytes,
      state_bytes: mem.state_bytes,
      image_bytes: mem.image_bytes,
      overhead_bytes: mem.overhead_bytes,
      total_bytes: mem.total_bytes,
      kv_cache_bytes_per_token: mem.kv_cache_bytes_per_token,
      capacity_bytes: hw.visibleMemoryBytes,
      usable_bytes: limit,
      fits: mem.total_bytes <= limit,
    },
    capacity: {
      max_model_len: seq,
      kv_cache_bytes_available: cap.kv_cache_bytes_available,
      max_kv_tokens: cap.max_kv_tokens,
      max_concurrency: cap.max_concurrency,
    },
    performance: {
      estimate: pick(r),
      ideal: pick({ ...r, ...r.ideal }),
      efficiency: r.efficiency,
      data_parallel: dp,
      aggregate_tokens_per_s: { estimate: aggregate.estimate, ideal: aggregate.ideal },
    },
    batch_sweep: sweep,
    fits_on: fit,
    warnings,
    trace: explain
      ? { memory: mem.trace, capacity: cap.trace, performance: [...r.trace, ...aggregate.trace] }
      : null,
  };
}

async function training(ctx: AppContext, b: z.infer<typeof trainingBody>, explain: boolean) {
  const model = await specOf(ctx, b);
  if (b.qlora && b.lora_rank === 0) throw new ApiError(422, 'qlora: needs lora_rank > 0');
  const targets = b.lora_targets.trim();
  const t = trainingMemory(model.spec, {
    precision: b.precision as TrainingPrecision,
    optimizer: b.optimizer,
    batch: b.batch_size,
    seq: b.seq_len,
    dp: b.data_parallel,
    zero: b.zero_stage,
    recompute: b.recompute,
    lora:
      b.lora_rank > 0
        ? {
            rank: b.lora_rank,
            targets:
              targets === 'all-linear' || targets === ''
                ? 'all-linear'
                : targets
                    .split(',')
                    .map((s) => s.trim())
                    .filter(Boolean),
          }
        : null,
    qlora: b.qlora,
    explain,
  });
  return {
    model: { id: model.id, name: model.name },
    components_bytes: t.components,
    phases_bytes: t.phases,
    peak_bytes: t.peak_bytes,
    trainable_parameters: t.trainable_parameters,
    total_parameters: t.total_parameters,
    trainable_percent: t.trainable_percent,
    trace: explain ? t.trace : null,
  };
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>infersim</title>
<h1>infersim: the web UI is not built</h1>
<p>Run <code>npm run build:web</code> (or <code>npm run build</code>), then reload. The JSON API is at <a href="/docs">/docs</a>.</p>`;

export async function registerWebRoutes(app: App, ctx: AppContext): Promise<void> {
  app.post(
    '/api/web/plan',
    {
      schema: {
        tags: [TAG],
        summary: 'The web page: per-device memory under a plan, capacity, speed, fitting GPUs, batch sweep',
        body: planBody,
        querystring: explainQuery,
      },
    },
    async (req) => plan(ctx, req.body, wantsExplain(req.query)),
  );
  app.post(
    '/api/web/training',
    {
      schema: {
        tags: [TAG],
        summary: 'The web page: training memory by component (optimizer, ZeRO, recompute, LoRA, QLoRA)',
        body: trainingBody,
        querystring: explainQuery,
      },
    },
    async (req) => training(ctx, req.body, wantsExplain(req.query)),
  );

  const index = join(WEB_DIST, 'index.html');
  if (!existsSync(index)) {
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT),
    );
    return;
  }
  // One route per built file (wildcard: false), and `/` for index.html: unknown paths stay the app's 404 and
  // other methods its 405. Hashed assets are immutable; index.html is revalidated.
  await app.register(fastifyStatic, {
    root: WEB_DIST,
    prefix: '/',
    wildcard: false,
    schemaHide: true,
    cacheControl: false,
    setHeaders: (res, path) => {
      res.setHeader(
        'cache-control',
        path.includes(join('dist', 'assets')) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
}
