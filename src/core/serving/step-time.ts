/**
 * The time of one engine step for its exact mix, from core/perf: prefill chunks (tokens, context already cached)
 * and decode sequences (count and summed context) become StepShape segments timed by `stepTimes`.
 *
 * Attention data parallel (as the measured data deploys MoE models): each of the attention_dp ranks runs its own
 * batch through attention with TP = tp, while the MoE layers see the tokens of every rank, sharded over
 * moe_tp × moe_ep (= tp × attention_dp) GPUs. So a step is timed as the attention part of one rank (the busiest:
 * ranks run in lock-step because the expert all-to-all synchronises them) plus the router and expert operators of
 * all ranks' tokens at moe_tp / moe_ep, plus the dispatch/combine all-to-all of the rank's tokens.
 *
 * Decode contexts: attention FLOPs and KV bytes are linear in each sequence's context (core/perf: pairs = c + 1,
 * KV read = min(c + 1, window) per sequence), so for full-attention models B sequences with contexts summing to S
 * cost exactly what B sequences at the mean S/B cost: one decode segment, O(1) per step. Sliding-window layers make
 * this an approximation for contexts past the window.
 *
 * Speed: decode steps between events differ only in their mean context, which grows by one per step. Step times
 * are cached on a grid of mean contexts (spacing 1/16 of the octave, at least 16 tokens) and interpolated linearly
 * between grid points; k consecutive decode steps are summed in closed form per grid cell.
 */
import type { ModelSpec } from '../arch/spec.js';
import { hardwareClass, type HardwareSpec } from '../hardware/spec.js';
import { efficiencyFor, IDEAL, type Efficiency } from '../perf/efficiency.js';
import { stepContext } from '../perf/latency.js';
import { stepOps, type Op, type Segment, type StepShape } from '../perf/ops.js';
import { moeExchangeS, stepTimes, type Links, type StepContext } from '../perf/step.js';

/** One engine replica's layout, in the measured data's terms. */
export interface ServingPlan {
  /** Attention tensor parallel per attention-DP rank. */
  tp: number;
  pp: number;
  /** Attention data-parallel ranks in the replica (1 = none). */
  attentionDp: number;
  /** MoE tensor and expert parallel; moeTp · moeEp = tp · attentionDp. */
  moeTp: number;
  moeEp: number;
}

export interface PrefillChunk {
  tokens: number;
  /** Tokens of the same sequence already in the KV cache (cached prefix and earlier chunks). */
  context: number;
}

/** What one attention-DP rank runs in a step. */
export interface RankMix {
  prefill: PrefillChunk[];
  decodes: number;
  /** Σ cached context over the decoding sequences. */
  decodeContext: number;
}

export interface StepTimeOptions {
  spec: ModelSpec;
  hw: HardwareSpec;
  precision: string;
  kvBytes: number;
  plan: ServingPlan;
  links?: Links;
  /** Efficiencies to time with; default: core/perf's calibrated table for the device class. */
  efficiency?: Efficiency;
  /** Pluggable source of the efficiency table by hardware class (the calibration injects its own here). */
  efficiencyFor?: (hwClass: string) => Efficiency;
  /** Each simulated sequence stands for this many identical ones (mean field over a large batch); default 1. */
  batchScale?: number;
  /** The engine: its host costs per step and per sequence are calibrated apart (core/perf efficiencyFor). */
  engine?: string;
}

/** The estimate's efficiency for these options: explicit, else the pluggable table, else core/perf's. */
export function estimateEfficiency(o: StepTimeOptions): Efficiency {
  if (o.efficiency) return o.efficiency;
  const cls = hardwareClass(o.hw);
  return o.efficiencyFor ? o.efficiencyFor(cls) : efficiencyFor(cls, o.engine);
}

/** Groups of layers whose MLP is a mixture of experts, with the layer count and top-k. */
function moeGroups(spec: ModelSpec): { layers: number; topK: number }[] {
  const out: { layers: number; topK: number }[] = [];
  for (const g of spec.groups)
    if (g.stack !== 'vision' && g.mlp?.kind === 'moe') out.push({ layers: g.count, topK: g.mlp.topK });
  return out;
}

export class StepTimer {
  private readonly attnCtx: StepContext;
  private readonly moeCtx: StepContext | null;
  private readonly moe: { layers: number; topK: number }[];
  private readonly actBytes: number;
  private readonly cache = new Map<string, number>();
  /** perf evaluations made (for the bench and tests). */
  evaluations = 0;

  constructor(
    readonly o: StepTimeOptions,
    readonly eff: Efficiency,
  ) {
    const p = o.plan;
    this.moe = moeGroups(o.spec);
    const base = stepContext(o.spec, o.hw, o.precision, { tp: p.tp, pp: p.pp, ep: 1 }, o.links);
    this.actBytes = base.precision === 'fp32' ? 4 : 2;
    if (this.moe.length === 0) {
      this.attnCtx = base;
      this.moeCtx = null;
    } else {
      // The attention part: the model with its MoE MLPs taken out; the expert part is added as extra operators.
      const noMoe: ModelSpec = {
        ...o.spec,
        groups: o.spec.groups.map((g) => (g.mlp?.kind === 'moe' ? { ...g, mlp: null } : g)),
      };
      this.attnCtx = { ...base, spec: noMoe };
      const onlyMoe: ModelSpec = {
        ...o.spec,
        groups: o.spec.groups.map((g) => ({ ...g, attention: null, crossAttention: null, ssm: null })),
      };
      this.moeCtx = { ...base, spec: onlyMoe, plan: { tp: p.moeTp, pp: p.pp, ep: p.moeEp } };
    }
  }

  /** Exact time of one step: the representative rank's mix, and the new tokens of all ranks (for the MoE part). */
  exact(mix: RankMix, allRankTokens?: number): number {
    this.evaluations++;
    const k = this.o.batchScale ?? 1;
    const segments: Segment[] = [];
    let tokens = 0;
    for (const c of mix.prefill) {
      segments.push({ batch: k, tokens: c.tokens, context: c.context });
      tokens += c.tokens * k;
    }
    if (mix.decodes > 0) {
      segments.push({ batch: mix.decodes * k, tokens: 1, context: mix.decodeContext / mix.decodes });
      tokens += mix.decodes * k;
    }
    if (tokens === 0) return 0;
    const p = this.o.plan;
    const shape: StepShape = {
      segments,
      tp: p.tp,
      cp: 1,
      ep: 1,
      layerShare: 1,
      kvBytes: this.o.kvBytes,
      actBytes: this.actBytes,
      logitsRows: (mix.decodes + mix.prefill.length) * k,
    };
    let extra: Op[] = [];
    let comm = 0;
    if (this.moeCtx) {
      const all = Math.max(tokens, (allRankTokens ?? 0) * k);
      const moeShape: StepShape = {
        ...shape,
        segments: [{ batch: all, tokens: 1, context: 0 }],
        tp: p.moeTp,
        ep: p.moeEp,
        logitsRows: 0,
      };
      extra = stepOps(this.moeCtx.spec, this.moeCtx.layout, moeShape).filter(
        (op) => op.category === 'experts' || op.category === 'router',
      );
      // As the analytical step: without attention DP every device holds all tokens and the experts' partial sums
      // go out with the TP all-reduce, so no exchange of their own; with it, core/perf's moeExchangeS.
      if (p.attentionDp > 1) {
        const msg = tokens * this.o.spec.hiddenSize * this.actBytes;
        const o = { tp: p.tp, adp: p.attentionDp, ep: p.moeEp };
        for (const g of this.moe)
          comm += g.layers * moeExchangeS(this.attnCtx.links, msg, { ...o, topK: g.topK }, this.eff);
      }
    }
    return stepTimes(this.attnCtx, shape, [this.eff], extra)[0]!.time_s + comm;
  }

  private cached(key: string, mix: RankMix, all: number): number {
    let t = this.cache.get(key);
    if (t === undefined) {
      t = this.exact(mix, all);
      this.cache.set(key, t);
    }
    return t;
  }

  /** Step time with the decode mean context interpolated on the grid (cached). */
  time(mix: RankMix, allRankTokens: number): number {
    const b = mix.decodes;
    let pre = '';
    for (const c of mix.prefill) pre += `${c.tokens}:${c.context},`;
    if (b === 0) return this.cached(`${pre}|${allRankTokens}`, mix, allRankTokens);
    const m = mix.decodeContext / b;
    const s = gridSpacing(m);
    const lo = Math.floor(m / s) * s;
    const key = `${pre}|${b}|${allRankTokens}|`;
    const tLo = this.cached(
      key + lo,
      { prefill: mix.prefill, decodes: b, decodeContext: lo * b },
      allRankTokens,
    );
    if (m === lo) return tLo;
    const tHi = this.cached(
      key + (lo + s),
      { prefill: mix.prefill, decodes: b, decodeContext: (lo + s) * b },
      allRankTokens,
    );
    return tLo + ((m - lo) / s) * (tHi - tLo);
  }

  /**
   * k consecutive decode-only steps of b sequences per rank whose mean context starts at m0 and grows by one a step:
   * the total time, and each grid cell's steps and mean step time (for the inter-token latencies).
   */
  decodeRun(
    b: number,
    m0: number,
    k: number,
    allRankTokens: number,
    cells?: { value: number; steps: number }[],
  ): number {
    let total = 0;
    let j = 0;
    const key = `|${b}|${allRankTokens}|`;
    while (j < k) {
      const m = m0 + j;
      const s = gridSpacing(m);
      const lo = Math.floor(m / s) * s;
      const hi = lo + s;
      const n = Math.min(k - j, Math.max(1, Math.ceil(hi - m)));
      const tLo = this.cached(key + lo, { prefill: [], decodes: b, decodeContext: lo * b }, allRankTokens);
      const tHi = this.cached(key + hi, { prefill: [], decodes: b, decodeContext: hi * b }, allRankTokens);
      const slope = (tHi - tLo) / s;
      // Σ_{i<n} tLo + (m + i − lo)·slope
      const sum = n * (tLo + (m - lo) * slope) + (slope * n * (n - 1)) / 2;
      total += sum;
      cells?.push({ value: sum / n, steps: n });
      j += n;
    }
    return total;
  }
}

/** Grid of mean contexts: 16 points per octave, at least 16 tokens apart. */
export function gridSpacing(m: number): number {
  if (m < 256) return 16;
  return 2 ** (Math.floor(Math.log2(m)) - 4);
}

/** The estimate and the ideal bound (datasheet peaks, no fixed costs) for the same options. */
export function stepTimers(o: StepTimeOptions): { estimate: StepTimer; ideal: StepTimer } {
  return { estimate: new StepTimer(o, estimateEfficiency(o)), ideal: new StepTimer(o, IDEAL) };
}
