/**
 * Time of one forward step on one device: each operator takes max(FLOPs / compute, bytes / bandwidth) plus its
 * kernels' fixed cost, then the step's collectives and fixed cost. With IDEAL efficiency this is the roofline bound.
 */
import type { ModelSpec } from '../arch/spec.js';
import { computeDtypeFor, type HardwareSpec } from '../hardware/spec.js';
import type { WeightLayout } from '../memory/weights.js';
import type { ParallelPlan } from '../parallel/plan.js';
import {
  allGatherS,
  allReduceS,
  allToAllS,
  expertAllToAllS,
  p2pS,
  reduceScatterS,
  type Link,
  type NodeLinks,
} from './comm.js';
import { kvBytesPerTokenLayer } from '../memory/kv.js';
import { gemmEfficiency, type Efficiency } from './efficiency.js';
import { stepOps, stepSequences, stepTokens, type Op, type OpCategory, type StepShape } from './ops.js';

export type Bound = 'compute' | 'memory' | 'communication';

/** The links of a system (comm.ts NodeLinks). */
export type Links = NodeLinks;

export interface StepContext {
  spec: ModelSpec;
  hw: HardwareSpec;
  layout: WeightLayout;
  plan: ParallelPlan;
  /** Weight format, to pick the tensor-core dtype. */
  precision: string;
  links: Links;
}

export interface StepTime {
  time_s: number;
  compute_s: number;
  memory_s: number;
  communication_s: number;
  overhead_s: number;
  flops: number;
  bytes: number;
  bound: Bound;
  flops_by_category: Partial<Record<OpCategory, number>>;
}

/** Peak FLOP/s an operator kind runs at on this device and format. */
export function peakFlops(ctx: StepContext, kind: Op['kind']): number {
  const hw = ctx.hw;
  const bf16 = hw.denseFlops.bf16 ?? hw.denseFlops.fp16 ?? hw.denseFlops.fp32 ?? 0;
  if (kind !== 'gemm') return bf16;
  const dt = computeDtypeFor(ctx.precision, hw);
  return (dt && hw.denseFlops[dt]) || bf16;
}

function linkFor(ctx: StepContext, group: number): Link {
  return linkOf(ctx.links, group);
}

/** The link a collective over `group` devices crosses: inside a node, or across nodes. */
function linkOf(links: Links, group: number): Link {
  return group <= links.devicesPerNode || !links.inter ? links.intra : links.inter;
}

/**
 * Collectives of one step: TP all-reduce twice per layer (with SP: reduce-scatter + all-gather), EP all-to-all
 * twice per MoE layer (dispatch and combine of each token's top-k copies), CP ring exchange of each prompt chunk's
 * K/V (cp − 1 sends per layer), PP sends. Under attention DP the MoE layer spans tp · adp devices: tokens go there
 * by all-to-all (experts split by EP) or all-gather + reduce-scatter (experts split by TP).
 */
/**
 * One MoE layer's token exchange under attention DP, over the tp · adp devices the experts span, each rank holding
 * `rankBytes` of tokens: dispatch and combine by all-to-all of the top-k copies when the experts are split by EP
 * (the tp devices of a rank split its tokens), all-gather + reduce-scatter of every rank's tokens when by TP. The
 * analytical step (communicationS) and the simulator (core/serving/step-time.ts) both time it here.
 */
export function moeExchangeS(
  links: Links,
  rankBytes: number,
  o: { tp: number; adp: number; ep: number; topK: number },
  eff: Efficiency,
): number {
  const group = o.tp * o.adp;
  if (o.ep > 1) return 2 * expertAllToAllS(rankBytes / o.tp, o.topK, group, links, eff.link, eff.alpha);
  const link = linkOf(links, group);
  const all = rankBytes * o.adp;
  return (
    allGatherS(all, group, link, eff.link, eff.alpha) + reduceScatterS(all, group, link, eff.link, eff.alpha)
  );
}

export function communicationS(ctx: StepContext, shape: StepShape, eff: Efficiency): number {
  const { pp } = ctx.plan;
  const tp = shape.tp;
  const ep = shape.ep;
  const adp = shape.adp ?? 1;
  const cp = shape.cp;
  const layerShare = shape.layerShare;
  const msg = stepTokens(shape) * ctx.spec.hiddenSize * shape.actBytes;
  let promptTokens = 0;
  for (const s of shape.segments) if (s.tokens > 1) promptTokens += (s.batch * s.tokens) / cp;
  let t = 0;
  for (const g of ctx.spec.groups) {
    if (g.stack === 'vision') continue;
    const layers = g.count * layerShare;
    const topK = g.mlp?.kind === 'moe' ? g.mlp.topK : 0;
    const moe = topK > 0;
    if (tp > 1) {
      const link = linkFor(ctx, tp);
      // With attention DP the MoE layer's own exchange replaces the second all-reduce.
      const n = adp > 1 && moe ? 1 : 2;
      t +=
        layers *
        n *
        (ctx.plan.sp
          ? reduceScatterS(msg, tp, link, eff.link, eff.alpha) +
            allGatherS(msg, tp, link, eff.link, eff.alpha)
          : allReduceS(msg, tp, link, eff.link, eff.alpha));
    }
    // Serving shapes (moeTp given): experts span the tp · adp devices of the worker; with adp = 1 every device
    // holds all tokens and its experts' partial sums go out with the TP all-reduce, so no extra exchange.
    if (moe && adp > 1) {
      t += layers * moeExchangeS(ctx.links, msg, { tp, adp, ep, topK }, eff);
    } else if (ep > 1 && moe && shape.moeTp === undefined) {
      t += layers * 2 * allToAllS(msg * topK, ep, linkFor(ctx, tp * ep), eff.link, eff.alpha);
    }
    if (cp > 1 && g.attention && promptTokens > 0) {
      const kv = promptTokens * kvBytesPerTokenLayer(g.attention, shape.kvBytes, tp);
      t += layers * (cp - 1) * p2pS(kv, linkFor(ctx, tp * cp), eff.link, eff.alpha);
    }
  }
  if (pp > 1) t += (pp - 1) * layerShare * p2pS(msg, linkFor(ctx, tp * pp * ep * cp), eff.link, eff.alpha);
  return t;
}

export function stepTime(ctx: StepContext, shape: StepShape, eff: Efficiency, extra: Op[] = []): StepTime {
  return stepTimes(ctx, shape, [eff], extra)[0]!;
}

/** The same step timed under several efficiency tables (the estimate and the ideal), its operators built once. */
export function stepTimes(
  ctx: StepContext,
  shape: StepShape,
  effs: readonly Efficiency[],
  extra: Op[] = [],
): StepTime[] {
  const ops = stepOps(ctx.spec, ctx.layout, shape);
  for (const o of extra) ops.push(o);
  return effs.map((eff) => timeOps(ctx, shape, ops, eff));
}

/** Which low-precision factor of the table applies to this context's GEMMs. */
function dtypeFactor(ctx: StepContext, eff: Efficiency): number {
  const dt = computeDtypeFor(ctx.precision, ctx.hw);
  return dt === 'fp8' || dt === 'int8' ? eff.fp8 : dt === 'fp4' ? eff.fp4 : 1;
}

/**
 * Time of a step's operators under one efficiency table: each operator max(FLOPs / (peak · eff), bytes /
 * (bandwidth · eff)); GEMM efficiency by its rows (efficiency.ts). Separate from stepOps so a caller that times one
 * step under many tables (the calibration) builds the operators once.
 */
export function timeOps(ctx: StepContext, shape: StepShape, ops: readonly Op[], eff: Efficiency): StepTime {
  const sequences = stepSequences(shape);
  const gemmPeak = peakFlops(ctx, 'gemm') * dtypeFactor(ctx, eff);
  const otherPeak = peakFlops(ctx, 'attention');
  const bw = ctx.hw.memoryBandwidthBytesPerS * eff.memory;
  let flops = 0;
  let bytes = 0;
  let kernels = 0;
  let compute = 0;
  let memory = 0;
  const byCat: StepTime['flops_by_category'] = {};
  for (const op of ops) {
    flops += op.flops;
    bytes += op.bytes;
    kernels += op.kernels;
    byCat[op.category] = (byCat[op.category] ?? 0) + op.flops;
    const peak =
      op.kind !== 'gemm'
        ? otherPeak * eff.attention
        : gemmPeak * gemmEfficiency(eff, op.m, op.grouped === true);
    const c = peak > 0 ? op.flops / peak : 0;
    const m = op.bytes / bw;
    if (c >= m) compute += c;
    else memory += m;
  }
  const comm = communicationS(ctx, shape, eff);
  const overhead = kernels * eff.kernelS + eff.stepS + sequences * eff.sequenceS;
  const bound: Bound =
    comm > compute && comm > memory ? 'communication' : compute >= memory ? 'compute' : 'memory';
  return {
    time_s: compute + memory + comm + overhead,
    compute_s: compute,
    memory_s: memory,
    communication_s: comm,
    overhead_s: overhead,
    flops,
    bytes,
    bound,
    flops_by_category: byCat,
  };
}
