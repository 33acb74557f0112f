/**
 * POST /api/serving/plan: the cheapest deployments that serve a workload within latency limits (core/planner),
 * the same search and figures as `infersim plan --json`. Prices: the catalog's, an inline list laid over it, or
 * one price for every device. Invalid input is a 422 naming the field.
 */
import { z } from 'zod';
import { planDevices } from '../../catalog/prices/devices.js';
import { parsePrices } from '../../catalog/prices/index.js';
import { priceEntry } from '../../catalog/prices/schema.js';
import { choosePrice, type EngineIdList, type PlanRequest } from '../../core/planner/index.js';
import { planInWorkers, PlanTimeoutError } from '../../workers/plan-workers.js';
import { ENGINE_IDS } from '../../core/serving/index.js';
import { resolveModel, type App, type AppContext } from '../context.js';
import { ApiError, InvalidInput } from '../errors.js';
import { LIMITS } from '../limits.js';

/** Bounds that keep one request's search to tens of seconds of CPU. */
export const PLAN_API_LIMITS = { users: 100_000, rate: 10_000, tokens: 1_000_000, gpus: 64, devices: 16 };

const id = z.string().min(1).max(LIMITS.idLength);
const ms = z.number().positive().max(3_600_000);

export const planBody = z
  .object({
    model: id.describe('catalog id or alias'),
    users: z.number().int().min(1).max(PLAN_API_LIMITS.users).optional().describe('closed loop of N users'),
    rate: z.number().positive().max(PLAN_API_LIMITS.rate).optional().describe('requests per second'),
    isl: z.number().int().min(1).max(PLAN_API_LIMITS.tokens),
    osl: z.number().int().min(1).max(PLAN_API_LIMITS.tokens),
    ttft_ms: ms.optional(),
    tpot_ms: ms.optional(),
    e2e_ms: ms.optional(),
    percentile: z.union([z.literal(50), z.literal(90), z.literal(99)]).default(50),
    limit_margin: z
      .number()
      .min(0)
      .lt(0.5)
      .default(0)
      .describe('a prediction up to this fraction over a limit counts as meeting it'),
    gpu: z
      .union([z.literal('all'), z.array(id).min(1).max(PLAN_API_LIMITS.devices)])
      .optional()
      .describe("device or system ids, or 'all'; default every GPU with a price"),
    engine: z
      .array(z.enum(ENGINE_IDS as [string, ...string[]]))
      .min(1)
      .optional(),
    precision: z.array(z.string().min(1).max(40)).min(1).max(6).optional(),
    kv_precision: z.array(z.string().min(1).max(40)).min(1).max(4).optional(),
    max_gpus: z.number().int().min(1).max(PLAN_API_LIMITS.gpus).default(16),
    disagg: z.boolean().default(false).describe('also search disaggregated prefill:decode workers'),
    price_per_gpu_hour: z.number().positive().max(1000).optional(),
    price_policy: z.enum(['median', 'min']).default('median'),
    prices: z
      .array(priceEntry)
      .max(1000)
      .optional()
      .describe('prices laid over the catalog (same fields as its file)'),
  })
  .strict();

type Body = z.infer<typeof planBody>;

/** Seconds a plan may search (INFERSIM_PLAN_TIMEOUT_S, default 60). */
function planTimeoutS(): number {
  const v = Number(process.env['INFERSIM_PLAN_TIMEOUT_S'] ?? 60);
  return Number.isFinite(v) && v > 0 ? v : 60;
}

async function planOffLoop(r: PlanRequest) {
  const s = planTimeoutS();
  try {
    return await planInWorkers(r, 1, undefined, { thread: true, timeoutMs: s * 1000 });
  } catch (e) {
    if (e instanceof PlanTimeoutError)
      throw new ApiError(
        504,
        `planning took longer than ${s} s (INFERSIM_PLAN_TIMEOUT_S): narrow the search (fewer GPUs, engines or ` +
          'precisions, no disagg, shorter requests)',
      );
    throw e;
  }
}

async function plan(ctx: AppContext, b: Body) {
  if ((b.users === undefined) === (b.rate === undefined))
    throw new InvalidInput('users', 'give users or rate');
  const m = await resolveModel(ctx, b.model);
  let devices = planDevices(b.gpu, { pricePerGpuHour: b.price_per_gpu_hour, pricePolicy: b.price_policy });
  if (b.prices) {
    const own = parsePrices(JSON.stringify(b.prices), 'prices');
    devices = devices.map((d) => {
      const mine = own.filter((e) => e.device === d.id);
      return mine.length && b.price_per_gpu_hour === undefined
        ? { ...d, price: choosePrice(mine, d.id, { policy: b.price_policy }) }
        : d;
    });
  }
  if (devices.length === 0) throw new InvalidInput('gpu', 'no device to plan for');
  // The search runs in a worker thread under a deadline: a large one must not hold the server's event loop.
  const res = await planOffLoop({
    spec: m.spec,
    devices,
    users: b.users,
    rate: b.rate,
    isl: b.isl,
    osl: b.osl,
    limits: {
      ttftMs: b.ttft_ms,
      tpotMs: b.tpot_ms,
      e2eMs: b.e2e_ms,
      percentile: b.percentile,
      margin: b.limit_margin,
    },
    engines: (b.engine ?? [...ENGINE_IDS]) as EngineIdList,
    precisions: b.precision,
    kvPrecisions: b.kv_precision,
    maxGpus: b.max_gpus,
    disagg: b.disagg,
  });
  return {
    model: m.id,
    workload: { users: b.users ?? null, rate: b.rate ?? null, isl: b.isl, osl: b.osl },
    limits: {
      ttft_ms: b.ttft_ms ?? null,
      tpot_ms: b.tpot_ms ?? null,
      e2e_ms: b.e2e_ms ?? null,
      percentile: b.percentile,
      margin: b.limit_margin,
    },
    ...res,
    prices: devices.map((d) => ({ gpu: d.id, price: d.price })),
    warnings: m.spec.warnings,
  };
}

export function registerPlannerRoutes(app: App, ctx: AppContext): void {
  app.post(
    '/api/serving/plan',
    {
      schema: {
        tags: ['serving'],
        summary:
          'Deployment planner: the configurations (GPU, count, TP/PP/EP/attention DP, engine, precision, replicas) that serve a workload within latency limits, ranked by $/M output tokens',
        body: planBody,
      },
    },
    async (req) => plan(ctx, req.body),
  );
}
