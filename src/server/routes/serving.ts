/**
 * POST /api/serving/simulate: the serving simulation (core/serving) of a workload on an engine, with the same inputs
 * and figures as `infersim simulate --json`. Invalid input is a 422 naming the field.
 */
import { z } from 'zod';
import { findDevice, hardwareSpec, systemLinks } from '../../catalog/index.js';
import { modelDtype } from '../../core/memory/inference.js';
import {
  ENGINE_IDS,
  parseTrace,
  simulateServing,
  type LengthDist,
  type ServingInput,
  type ServingPlan,
  type Workload,
} from '../../core/serving/index.js';
import { report } from '../../core/serving/summary.js';
import { resolveModel, type App, type AppContext } from '../context.js';
import { InvalidInput } from '../errors.js';
import { LIMITS } from '../limits.js';
import { explainQuery, wantsExplain } from '../schemas.js';

const TAG = 'serving';
/** Bounds that keep one request's simulation to seconds of CPU. */
export const SERVING_API_LIMITS = { requests: 200_000, users: 100_000, tokens: 10_000_000, parallel: 4096 };

const par = z.number().int().min(1).max(SERVING_API_LIMITS.parallel);
const tokens = z.number().int().min(1).max(SERVING_API_LIMITS.tokens);

const lengthDist = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fixed'), value: tokens }).strict(),
  z.object({ kind: z.literal('uniform'), min: tokens, max: tokens }).strict(),
  z
    .object({
      kind: z.literal('normal'),
      mean: z.number().positive(),
      std: z.number().min(0),
      min: tokens,
      max: tokens,
    })
    .strict(),
  z
    .object({
      kind: z.literal('lognormal'),
      median: z.number().positive(),
      sigma: z.number().min(0).max(10),
      min: tokens,
      max: tokens,
    })
    .strict(),
]);

const worker = z
  .object({ tp: par.default(1), ep: par.default(1), attention_dp: par.default(1), workers: par.default(1) })
  .strict();

export const simulateBody = z
  .object({
    model: z.string().min(1).max(LIMITS.idLength).describe('catalog id or alias'),
    gpu: z.string().min(1).max(LIMITS.idLength).describe('device or system id'),
    engine: z.enum(ENGINE_IDS as [string, ...string[]]).default('vllm'),
    engine_version: z.string().max(100).optional(),
    mode: z.enum(['agg', 'disagg']).default('agg'),
    tp: par.default(1),
    pp: par.default(1),
    ep: par.default(1).describe('MoE expert parallel; MoE TP = tp × attention_dp / ep'),
    attention_dp: par.default(1),
    replicas: par.default(1),
    prefill: worker.optional().describe('disagg: prefill workers'),
    decode: worker.optional().describe('disagg: decode workers'),
    precision: z.string().min(1).max(40).default('auto'),
    kv_precision: z.string().min(1).max(40).optional(),
    isl: tokens.optional(),
    osl: tokens.optional(),
    input_dist: lengthDist.optional(),
    output_dist: lengthDist.optional(),
    concurrency: z.number().int().min(1).max(SERVING_API_LIMITS.users).optional(),
    rate: z.number().positive().max(1e6).optional(),
    arrivals: z.enum(['poisson', 'fixed']).default('poisson'),
    trace: z
      .string()
      .min(1)
      .optional()
      .describe('trace text: vLLM bench JSON, Mooncake JSONL, Azure CSV, "t in out"'),
    num_requests: z.number().int().min(1).max(SERVING_API_LIMITS.requests).optional(),
    warmup: z.number().int().min(0).max(SERVING_API_LIMITS.requests).default(0),
    wave_share: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe('closed loop: share of the users that start together (1: lockstep); default calibrated'),
    slo_ttft_ms: z.number().positive().optional(),
    slo_tpot_ms: z.number().positive().optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31)
      .default(0),
    max_batch: z.number().int().min(1).max(LIMITS.batch).optional(),
    max_tokens: z.number().int().min(1).max(LIMITS.seq).optional(),
    kv_tokens: z.number().int().min(1).max(1e12).optional(),
    mixed_chunk: z.boolean().optional(),
    batch_scale: z
      .number()
      .int()
      .min(1)
      .max(65536)
      .optional()
      .describe('mean field: simulate 1/k of the requests, each standing for k identical ones'),
    ideal: z.boolean().default(true),
  })
  .strict();

type Body = z.infer<typeof simulateBody>;

function plan(tp: number, pp: number, ep: number, dp: number, field: string): ServingPlan {
  if ((tp * dp) % ep !== 0)
    throw new InvalidInput(field, `ep ${ep} must divide tp × attention_dp = ${tp * dp}`);
  return { tp, pp, attentionDp: dp, moeTp: (tp * dp) / ep, moeEp: ep };
}

function workload(b: Body): Workload {
  const given = [b.concurrency, b.rate, b.trace].filter((x) => x !== undefined).length;
  if (given !== 1) throw new InvalidInput('concurrency', 'give exactly one of concurrency, rate or trace');
  if (b.trace !== undefined) {
    const t = parseTrace(b.trace);
    const users = t.timed ? undefined : t.maxConcurrency;
    if (!t.timed && users === undefined)
      throw new InvalidInput(
        'trace',
        'has no arrival times and no max_concurrency; send concurrency with isl/osl instead',
      );
    const requests = b.num_requests ? t.requests.slice(0, b.num_requests) : t.requests;
    if (requests.length > SERVING_API_LIMITS.requests)
      throw new InvalidInput('trace', `at most ${SERVING_API_LIMITS.requests} requests`);
    return { kind: 'trace', requests, ...(users ? { users } : {}) };
  }
  const input: LengthDist | undefined = b.input_dist ?? (b.isl ? { kind: 'fixed', value: b.isl } : undefined);
  const output: LengthDist | undefined =
    b.output_dist ?? (b.osl ? { kind: 'fixed', value: b.osl } : undefined);
  if (!input) throw new InvalidInput('isl', 'is required (or input_dist)');
  if (!output) throw new InvalidInput('osl', 'is required (or output_dist)');
  if (b.concurrency !== undefined) {
    const n = b.num_requests ?? Math.min(SERVING_API_LIMITS.requests, Math.max(10 * b.concurrency, 100));
    return { kind: 'closed', users: b.concurrency, numRequests: n, input, output, seed: b.seed };
  }
  return {
    kind: 'rate',
    rate: b.rate!,
    arrivals: b.arrivals,
    numRequests: b.num_requests ?? 500,
    input,
    output,
    seed: b.seed,
  };
}

async function simulate(ctx: AppContext, b: Body, explain: boolean) {
  const m = await resolveModel(ctx, b.model);
  const hw = hardwareSpec(findDevice(b.gpu));
  if (b.mode === 'disagg' && (!b.prefill || !b.decode))
    throw new InvalidInput(b.prefill ? 'decode' : 'prefill', 'is required when mode is disagg');
  const p = b.prefill!;
  const d = b.decode!;
  const input: ServingInput = {
    spec: m.spec,
    hw,
    precision: b.precision,
    kvPrecision: b.kv_precision ?? modelDtype(m.spec),
    engine: b.engine as ServingInput['engine'],
    engineVersion: b.engine_version,
    engineOverrides: {
      ...(b.max_batch ? { maxRunning: b.max_batch } : {}),
      ...(b.max_tokens ? { maxStepTokens: b.max_tokens } : {}),
      ...(b.mixed_chunk ? { mixed: true } : {}),
    },
    links: systemLinks(b.gpu) ?? undefined,
    kvTokensPerRank: b.kv_tokens,
    batchScale: b.batch_scale,
    workload: workload(b),
    warmup: b.warmup,
    waveShare: b.wave_share,
    slo: {
      ...(b.slo_ttft_ms ? { ttftS: b.slo_ttft_ms / 1e3 } : {}),
      ...(b.slo_tpot_ms ? { tpotS: b.slo_tpot_ms / 1e3 } : {}),
    },
    ideal: b.ideal,
    explain,
    ...(b.mode === 'disagg'
      ? {
          disagg: {
            prefill: { plan: plan(p.tp, b.pp, p.ep, p.attention_dp, 'prefill.ep'), workers: p.workers },
            decode: { plan: plan(d.tp, b.pp, d.ep, d.attention_dp, 'decode.ep'), workers: d.workers },
          },
        }
      : { agg: { plan: plan(b.tp, b.pp, b.ep, b.attention_dp, 'ep'), workers: b.replicas } }),
  };
  const r = simulateServing(input);
  return {
    model: m.id,
    gpu: hw.id,
    engine: b.engine,
    ...(b.engine_version ? { engine_version: b.engine_version } : {}),
    mode: b.mode,
    warnings: m.spec.warnings,
    ...report(r),
    ...(explain ? { trace: r.trace } : {}),
  };
}

export function registerServingRoutes(app: App, ctx: AppContext): void {
  app.post(
    '/api/serving/simulate',
    {
      schema: {
        tags: [TAG],
        summary:
          'Serving simulation: TTFT, TPOT, ITL and E2E percentiles, tokens/s (per GPU, per user) and goodput of a workload on an engine',
        body: simulateBody,
        querystring: explainQuery,
      },
    },
    async (req) => simulate(ctx, req.body, wantsExplain(req.query)),
  );
}
