/**
 * Latency of a request batch: TTFT (prefill of the prompts), TPOT (one decode step at the mean context of the
 * generation), tokens/s, FLOPs by category, MFU and bandwidth use — as an ideal bound and a calibrated estimate.
 */
import type { ModelSpec } from '../arch/spec.js';
import { Trace, NO_TRACE, type TraceEntry } from '../explain.js';
import { hardwareClass, type HardwareSpec } from '../hardware/spec.js';
import { inferenceMemory, InputError, modelDtype, positiveInt } from '../memory/inference.js';
import { weightLayout } from '../memory/weights.js';
import { kvElementBytes, normaliseFormatId } from '../numerics/formats.js';
import { devices, pipelineSteps, replicaDevices, validatePlan, type ParallelPlan } from '../parallel/plan.js';
import { efficiencyFor, IDEAL, type Efficiency } from './efficiency.js';
import { defaultLinks } from './links.js';
import type { StepShape } from './ops.js';
import { stepTimes, type Bound, type Links, type StepContext, type StepTime } from './step.js';

type Fig = { f: PerfFigures; pre: StepTime; dec: StepTime };

export interface PerfOptions {
  precision: string;
  kvPrecision?: string;
  batch: number;
  inputLen: number;
  outputLen: number;
  plan: ParallelPlan;
  links?: Links;
  /** Override the calibrated efficiencies (the spec's efficiency_factor, say). */
  efficiency?: Efficiency;
  explain?: boolean;
}

export interface PerfFigures {
  ttft_s: number;
  tpot_s: number;
  /** Generated tokens per second of the whole batch during decode. */
  tokens_per_s: number;
  /** Whole request: TTFT + (output_len − 1) · TPOT. */
  e2e_s: number;
  bound: { prefill: Bound; decode: Bound };
  communication_s: { prefill: number; decode: number };
  mfu: { prefill: number; decode: number };
  bandwidth_utilization: { prefill: number; decode: number };
}

export interface PerfResult extends PerfFigures {
  flops: { prefill: StepTime['flops_by_category']; decode_step: StepTime['flops_by_category'] };
  memory_per_device_bytes: number;
  devices: number;
  efficiency: Efficiency & { class: string };
  ideal: PerfFigures;
  trace: TraceEntry[];
}

export function stepContext(
  spec: ModelSpec,
  hw: HardwareSpec,
  precision: string,
  plan: ParallelPlan,
  links?: Links,
): StepContext {
  const p = precision === 'auto' ? 'auto' : normaliseFormatId(precision);
  return {
    spec,
    hw,
    layout: weightLayout(spec, p),
    plan,
    precision: p === 'auto' ? (spec.checkpointQuant?.format ?? modelDtype(spec)) : p,
    links: links ?? defaultLinks(hw),
  };
}

/** Prefill and decode steps, timed under each efficiency table (estimate first, then ideal). */
function figures(
  ctx: StepContext,
  o: PerfOptions,
  effs: readonly Efficiency[],
  kvBytes: number,
  actBytes: number,
) {
  // Shapes are written out field by field: one hidden class keeps the hot loops monomorphic.
  const decodeShape: StepShape = {
    segments: [{ batch: o.batch, tokens: 1, context: o.inputLen + Math.floor(o.outputLen / 2) }],
    tp: o.plan.tp,
    cp: o.plan.cp ?? 1,
    ep: o.plan.ep,
    layerShare: 1,
    kvBytes,
    actBytes,
    logitsRows: o.batch,
  };
  // With PP the prompts go through in m = min(batch, pp) micro-batches: (m + pp − 1) stage steps of 1/pp layers.
  const pp = o.plan.pp;
  const m = Math.min(o.batch, pp);
  const prefillShape: StepShape = {
    segments: [{ batch: o.batch / m, tokens: o.inputLen, context: 0 }],
    tp: o.plan.tp,
    cp: o.plan.cp ?? 1,
    ep: o.plan.ep,
    layerShare: 1 / pp,
    kvBytes,
    actBytes,
    logitsRows: o.batch / m,
  };
  const pres = stepTimes(ctx, prefillShape, effs).map((s) =>
    pp === 1 ? s : scaleStep(s, pipelineSteps(pp, m), m),
  );
  const decs = stepTimes(ctx, decodeShape, effs);
  const devices = replicaDevices(o.plan);
  const peak = (ctx.hw.denseFlops.bf16 ?? ctx.hw.denseFlops.fp16 ?? 1) * devices;
  const bw = ctx.hw.memoryBandwidthBytesPerS * devices;
  // Per-device figures cover one TP/EP/CP shard; the replica runs tp·ep·cp shards at once.
  const shards = o.plan.tp * o.plan.ep * (o.plan.cp ?? 1);
  return pres.map((pre, i) => {
    const dec = decs[i]!;
    const f: PerfFigures = {
      ttft_s: pre.time_s,
      tpot_s: dec.time_s,
      tokens_per_s: o.batch / dec.time_s,
      e2e_s: pre.time_s + Math.max(0, o.outputLen - 1) * dec.time_s,
      bound: { prefill: pre.bound, decode: dec.bound },
      communication_s: { prefill: pre.communication_s, decode: dec.communication_s },
      mfu: {
        prefill: (pre.flops * shards) / pre.time_s / peak,
        decode: (dec.flops * shards) / dec.time_s / peak,
      },
      bandwidth_utilization: {
        prefill: (pre.bytes * shards) / pre.time_s / bw,
        decode: (dec.bytes * shards) / dec.time_s / bw,
      },
    };
    return { f, pre, dec };
  });
}

export function perf(spec: ModelSpec, hw: HardwareSpec, o: PerfOptions): PerfResult {
  positiveInt('batch', o.batch);
  positiveInt('input_len', o.inputLen);
  positiveInt('output_len', o.outputLen);
  validatePlan(spec, o.plan);
  const ctx = stepContext(spec, hw, o.precision, o.plan, o.links);
  const kvPrecision = o.kvPrecision ?? modelDtype(spec);
  const kvBytes = kvElementBytes(kvPrecision);
  if (kvBytes === null) throw new InputError(`unknown kv precision '${kvPrecision}'`);
  const actBytes = ctx.precision === 'fp32' ? 4 : 2;
  const cls = hardwareClass(hw);
  const eff = o.efficiency ?? efficiencyFor(cls);
  const [est, ideal] = figures(ctx, o, [eff, IDEAL], kvBytes, actBytes) as [Fig, Fig];
  const mem = inferenceMemory(spec, {
    precision: o.precision,
    kvPrecision,
    batch: o.batch,
    seq: o.inputLen + o.outputLen,
    plan: o.plan,
  });
  const t = o.explain ? new Trace(true) : NO_TRACE;
  if (t.enabled) explainPerf(t, o, est, ideal, eff, cls, hw);
  const f = est.f;
  return {
    ttft_s: f.ttft_s,
    tpot_s: f.tpot_s,
    tokens_per_s: f.tokens_per_s,
    e2e_s: f.e2e_s,
    bound: f.bound,
    communication_s: f.communication_s,
    mfu: f.mfu,
    bandwidth_utilization: f.bandwidth_utilization,
    flops: { prefill: est.pre.flops_by_category, decode_step: est.dec.flops_by_category },
    memory_per_device_bytes: mem.total_bytes,
    devices: devices(o.plan),
    efficiency: Object.assign({ class: o.efficiency ? 'given' : cls }, eff),
    ideal: ideal.f,
    trace: t.entries,
  };
}

function explainPerf(
  t: Trace,
  o: PerfOptions,
  est: Fig,
  ideal: Fig,
  eff: Efficiency,
  cls: string,
  hw: HardwareSpec,
): void {
  t.add(
    'prefill_flops',
    est.pre.flops,
    'FLOP',
    'per device: 2·tokens·params (GEMMs) + 2·pairs·heads·(d_qk+d_v) (causal pairs: Σ min(c+j, window))',
    { batch: o.batch, input_len: o.inputLen, tp: o.plan.tp },
  );
  t.add(
    'ttft_s (estimate)',
    est.f.ttft_s,
    's',
    'Σ ops max(FLOPs/(peak·eff), bytes/(bandwidth·eff)) + kernels·kernel_s + step_s + collectives',
    { ...eff, class: cls },
  );
  t.add(
    'ttft_s (ideal)',
    ideal.f.ttft_s,
    's',
    'Σ ops max(FLOPs/peak, bytes/bandwidth) + collectives at full link bandwidth',
    { peak_bf16: hw.denseFlops.bf16 ?? null, bandwidth: hw.memoryBandwidthBytesPerS },
  );
  t.add(
    'decode_bytes',
    est.dec.bytes,
    'bytes',
    'per step: weights read once (MoE: experts touched E·(1−(1−k/E)^T)) + KV read + activations',
    { context: o.inputLen + Math.floor(o.outputLen / 2) },
  );
  t.add(
    'tpot_s (estimate)',
    est.f.tpot_s,
    's',
    'one decode step at the mean context input_len + output_len/2',
    {},
  );
  t.add('tpot_s (ideal)', ideal.f.tpot_s, 's', 'the same step at datasheet peak and bandwidth', {});
  t.add('tokens_per_s', est.f.tokens_per_s, 'tokens/s', 'batch / tpot_s', { batch: o.batch });
}

/** A stage step in a pipeline schedule of n steps, of which the device works `work` (the rest is bubble). */
function scaleStep(s: StepTime, n: number, work: number): StepTime {
  const by: StepTime['flops_by_category'] = {};
  for (const [k, v] of Object.entries(s.flops_by_category)) by[k as keyof typeof by] = v * work;
  return {
    ...s,
    time_s: s.time_s * n,
    compute_s: s.compute_s * n,
    memory_s: s.memory_s * n,
    communication_s: s.communication_s * n,
    overhead_s: s.overhead_s * n,
    flops: s.flops * work,
    bytes: s.bytes * work,
    flops_by_category: by,
  };
}
