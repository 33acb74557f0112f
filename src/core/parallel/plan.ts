/**
 * A parallel plan checked against the model: heads by TP, layers by PP, experts by EP; CP splits the sequence,
 * SP shards the norm/residual activations over the TP group, DP replicates the whole group.
 */
import type { LayerGroup, ModelSpec } from '../arch/spec.js';

export interface ParallelPlan {
  tp: number;
  pp: number;
  ep: number;
  /** Context parallel: the sequence split over cp devices (ring attention). */
  cp?: number;
  /** Sequence parallel inside the TP group: reduce-scatter + all-gather instead of all-reduce. */
  sp?: boolean;
  /** Data parallel: independent replicas (inference) or gradient all-reduce (training). */
  dp?: number;
}

/** A plan that breaks a rule; `field` names the plan field the rule is about, when it is about one. */
export class PlanError extends Error {
  constructor(
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

export const SINGLE: ParallelPlan = { tp: 1, pp: 1, ep: 1 };

/**
 * The TP degree a group is split over. A vision tower whose heads the TP degree does not divide runs whole on every
 * device (vLLM's `mm_encoder_tp_mode="data"`; TensorRT-LLM and SGLang also replicate small encoders): Kimi-K2.5's
 * 16-head tower under tp=32, for one.
 */
export function groupTp(g: LayerGroup, tp: number): number {
  return g.stack === 'vision' && g.attention && g.attention.numHeads % tp !== 0 ? 1 : tp;
}

/** Throws a PlanError naming the rule a plan breaks. */
export function validatePlan(spec: ModelSpec, p: ParallelPlan): void {
  if (!Number.isInteger(p.tp) || p.tp < 1)
    throw new PlanError(`tp must be a positive integer (got ${p.tp})`, 'tp');
  if (!Number.isInteger(p.pp) || p.pp < 1)
    throw new PlanError(`pp must be a positive integer (got ${p.pp})`, 'pp');
  if (!Number.isInteger(p.ep) || p.ep < 1)
    throw new PlanError(`ep must be a positive integer (got ${p.ep})`, 'ep');
  if (p.cp !== undefined && (!Number.isInteger(p.cp) || p.cp < 1))
    throw new PlanError(`cp must be a positive integer (got ${p.cp})`, 'cp');
  if (p.dp !== undefined && (!Number.isInteger(p.dp) || p.dp < 1))
    throw new PlanError(`dp must be a positive integer (got ${p.dp})`, 'dp');
  if (p.sp && p.tp < 2)
    throw new PlanError('sp: sequence parallel shards over the TP group and needs tp >= 2', 'sp');
  for (const g of spec.groups) {
    const a = g.attention;
    if (a && groupTp(g, p.tp) === p.tp && a.numHeads % p.tp !== 0) {
      throw new PlanError(`tp=${p.tp} does not divide the ${a.numHeads} attention heads of ${g.name}`);
    }
    if (
      a &&
      groupTp(g, p.tp) === p.tp &&
      a.kind !== 'mla' &&
      a.numKvHeads % p.tp !== 0 &&
      p.tp % a.numKvHeads !== 0
    ) {
      throw new PlanError(`tp=${p.tp} and the ${a.numKvHeads} KV heads of ${g.name} must divide one another`);
    }
    if (g.mlp?.kind === 'moe' && g.mlp.numExperts % p.ep !== 0) {
      throw new PlanError(`ep=${p.ep} does not divide the ${g.mlp.numExperts} experts of ${g.name}`);
    }
  }
  if (p.ep > 1 && !spec.groups.some((g) => g.mlp?.kind === 'moe')) {
    throw new PlanError(`ep=${p.ep} needs a mixture-of-experts model; this one has no experts`);
  }
  if (p.pp > spec.numLayers) {
    throw new PlanError(`pp=${p.pp} exceeds the ${spec.numLayers} layers`);
  }
}

/** Pipeline stage of decoder layer i: contiguous stages, the first ones one layer longer when uneven. */
export function stageOf(i: number, numLayers: number, pp: number): number {
  return Math.floor((i * pp) / numLayers);
}

/** Devices of one model replica (tp · pp · ep · cp) and of the whole plan (times dp). */
export function replicaDevices(p: ParallelPlan): number {
  return p.tp * p.pp * p.ep * (p.cp ?? 1);
}

export function devices(p: ParallelPlan): number {
  return replicaDevices(p) * (p.dp ?? 1);
}

/**
 * A batch split into m micro-batches through pp stages takes (m + pp − 1) stage steps (GPipe): the pipeline is busy
 * m / (m + pp − 1) of the time; the rest is the bubble.
 */
export function pipelineSteps(pp: number, microbatches: number): number {
  return microbatches + pp - 1;
}

export function pipelineBubbleFraction(pp: number, microbatches: number): number {
  return (pp - 1) / pipelineSteps(pp, microbatches);
}
