/**
 * The layouts the planner tries for one replica: GPU groups of 1, 2, 4, ... GPUs as tensor parallel (with
 * pipeline stages past one node), and for MoE models also expert parallel under tensor parallel and attention
 * data parallel with expert parallel over every GPU (the wide-EP layout of the measured MoE deployments).
 */
import type { ModelSpec } from '../arch/spec.js';
import { validatePlan } from '../parallel/plan.js';
import type { ServingPlan } from '../serving/index.js';

export interface Layout {
  plan: ServingPlan;
  gpus: number;
  /** Short name: tp4, tp8·pp2, tp4·ep4, dp8·ep8. */
  name: string;
}

export function isMoe(spec: ModelSpec): boolean {
  return spec.groups.some((g) => g.mlp?.kind === 'moe');
}

function valid(spec: ModelSpec, tp: number, pp: number): boolean {
  try {
    validatePlan(spec, { tp, pp, ep: 1 });
    return true;
  } catch {
    return false;
  }
}

/** Layouts of up to maxGpus GPUs per replica; tensor parallel stays inside a node of `perNode` GPUs. */
export function layouts(spec: ModelSpec, maxGpus: number, perNode = 8): Layout[] {
  const out: Layout[] = [];
  const moe = isMoe(spec);
  for (let g = 1; g <= maxGpus; g *= 2) {
    const tp = Math.min(g, perNode);
    const pp = g / tp;
    if (valid(spec, tp, pp)) {
      const name = pp > 1 ? `tp${tp}·pp${pp}` : `tp${tp}`;
      out.push({ plan: { tp, pp, attentionDp: 1, moeTp: tp, moeEp: 1 }, gpus: g, name });
      if (moe && tp > 1)
        out.push({
          plan: { tp, pp, attentionDp: 1, moeTp: 1, moeEp: tp },
          gpus: g,
          name: `${name}·ep${tp}`,
        });
    }
    if (moe && g > 1)
      out.push({
        plan: { tp: 1, pp: 1, attentionDp: g, moeTp: 1, moeEp: g },
        gpus: g,
        name: `dp${g}·ep${g}`,
      });
  }
  return out;
}
