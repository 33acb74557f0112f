/**
 * Time of one training step: forward + backward (twice the forward's FLOPs) + recomputation, through a pipeline
 * schedule of (m + pp − 1) stage steps, then the data-parallel gradient all-reduce (ZeRO-3 adds the parameter
 * all-gathers of forward and backward). Communication is not assumed to overlap compute: an upper bound on time.
 */
import type { ModelSpec } from '../arch/spec.js';
import { countParameters } from '../arch/params.js';
import { hardwareClass, type HardwareSpec } from '../hardware/spec.js';
import { positiveInt } from '../memory/inference.js';
import {
  pipelineBubbleFraction,
  pipelineSteps,
  validatePlan,
  type ParallelPlan,
  devices,
} from '../parallel/plan.js';
import { allGatherS, allReduceS, reduceScatterS } from './comm.js';
import { efficiencyFor, IDEAL, type Efficiency } from './efficiency.js';
import { stepContext } from './latency.js';
import { stepTimes, type Links } from './step.js';

export interface TrainingStepOptions {
  precision: string;
  /** Sequences per micro-batch on one data-parallel rank. */
  microBatch: number;
  seq: number;
  /** Micro-batches per step (gradient accumulation; fills the pipeline). */
  microbatches: number;
  plan: ParallelPlan;
  recompute: 'none' | 'selective' | 'full';
  zero: 0 | 1 | 2 | 3;
  links?: Links;
  efficiency?: Efficiency;
}

export interface TrainingStepFigures {
  step_s: number;
  compute_s: number;
  tp_communication_s: number;
  dp_communication_s: number;
  bubble_fraction: number;
  tokens_per_s: number;
  mfu: number;
}

export interface TrainingStepResult extends TrainingStepFigures {
  tokens_per_step: number;
  model_flops_per_step: number;
  ideal: TrainingStepFigures;
}

export function trainingStep(spec: ModelSpec, hw: HardwareSpec, o: TrainingStepOptions): TrainingStepResult {
  positiveInt('micro_batch', o.microBatch);
  positiveInt('seq', o.seq);
  positiveInt('microbatches', o.microbatches);
  validatePlan(spec, o.plan);
  const ctx = stepContext(spec, hw, o.precision, o.plan, o.links);
  const pp = o.plan.pp;
  const dp = o.plan.dp ?? 1;
  const shape = {
    segments: [{ batch: o.microBatch, tokens: o.seq, context: 0 }],
    tp: o.plan.tp,
    cp: o.plan.cp ?? 1,
    ep: o.plan.ep,
    layerShare: 1 / pp,
    kvBytes: 2,
    actBytes: 2,
    logitsRows: o.microBatch * o.seq,
  };
  const eff = o.efficiency ?? efficiencyFor(hardwareClass(hw));
  const [est, ideal] = stepTimes(ctx, shape, [eff, IDEAL]);
  // Backward costs twice the forward; full recompute reruns the forward, selective the attention core (~its share).
  const attnShare = (est!.flops_by_category.attention_core ?? 0) / est!.flops;
  const passes = 3 + (o.recompute === 'full' ? 1 : o.recompute === 'selective' ? attnShare : 0);
  const steps = pipelineSteps(pp, o.microbatches);
  const P = countParameters(spec).total;
  const gradBytes = (P / (o.plan.tp * pp)) * 2;
  const links = ctx.links;
  const group = devices(o.plan);
  const dpLink = group <= links.devicesPerNode || !links.inter ? links.intra : links.inter;
  const tokens = o.microBatch * o.seq * o.microbatches * dp;
  const peak = (hw.denseFlops.bf16 ?? hw.denseFlops.fp16 ?? 1) * group;
  const modelFlops = 6 * countParameters(spec).active * tokens;
  const figures = (st: NonNullable<typeof est>, e: Efficiency): TrainingStepFigures => {
    const stage = (st.time_s - st.communication_s) * passes;
    const tpComm = st.communication_s * 2; // forward and backward collectives
    const compute = stage * steps;
    // ZeRO 0: gradient all-reduce. ZeRO 1/2: reduce-scatter of gradients, all-gather of updated parameters.
    // ZeRO 3: the parameters are gathered for the forward and again for the backward.
    let dpComm = 0;
    if (dp > 1) {
      const rs = reduceScatterS(gradBytes, dp, dpLink, e.link, e.alpha);
      const ag = allGatherS(gradBytes, dp, dpLink, e.link, e.alpha);
      dpComm =
        o.zero === 0
          ? allReduceS(gradBytes, dp, dpLink, e.link, e.alpha)
          : o.zero === 3
            ? rs + 2 * ag
            : rs + ag;
    }
    const step = compute + tpComm * steps + dpComm;
    return {
      step_s: step,
      compute_s: compute,
      tp_communication_s: tpComm * steps,
      dp_communication_s: dpComm,
      bubble_fraction: pipelineBubbleFraction(pp, o.microbatches),
      tokens_per_s: tokens / step,
      mfu: modelFlops / step / peak,
    };
  };
  return {
    ...figures(est!, eff),
    tokens_per_step: tokens,
    model_flops_per_step: modelFlops,
    ideal: figures(ideal!, IDEAL),
  };
}
