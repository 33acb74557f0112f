/** Exact parameter counts, tensor by tensor, with a breakdown by role and total vs active for MoE. */
import type { ModelSpec, TensorRole } from './spec.js';
import { numel } from './tensors.js';

export type ParamBreakdown = Record<TensorRole, number>;

export interface ParamCount {
  /** Every parameter of the instantiated model, tied weights once, buffers excluded. */
  total: number;
  /** Parameters one token passes through: routed experts at top-k of E, everything else in full. */
  active: number;
  breakdown: ParamBreakdown;
}

export function emptyBreakdown(): ParamBreakdown {
  return {
    embedding: 0,
    position: 0,
    attention: 0,
    mlp: 0,
    expert: 0,
    shared_expert: 0,
    router: 0,
    norm: 0,
    lm_head: 0,
    ssm: 0,
    vision: 0,
    projector: 0,
  };
}

const cache = new WeakMap<ModelSpec, ParamCount>();

export function countParameters(spec: ModelSpec): ParamCount {
  const hit = cache.get(spec);
  if (hit) return hit;
  const breakdown = emptyBreakdown();
  let inactive = 0;
  for (const g of spec.groups) {
    for (const t of g.tensors) {
      const n = numel(t.shape) * g.count;
      breakdown[t.role] += n;
      if (t.role === 'expert' && g.mlp?.kind === 'moe')
        inactive += (n * (g.mlp.numExperts - g.mlp.topK)) / g.mlp.numExperts;
    }
  }
  for (const t of spec.globalTensors) breakdown[t.role] += numel(t.shape);
  let total = 0;
  for (const v of Object.values(breakdown)) total += v;
  const result = { total, active: total - inactive, breakdown };
  cache.set(spec, result);
  return result;
}
