/**
 * The simulator's MoE exchange agrees with core/perf's step model (communicationS): without attention DP there is
 * none (every device holds all tokens; the experts' sums go out with the TP all-reduce), with it an all-to-all of
 * each rank's top-k copies. Checked by the step time with costly links minus the same step with free links, at the
 * ideal efficiency (no latency, full bandwidth): 100 GB/s inside a node of 4 (fixtures-perf twoTierLinks).
 * Qwen3-30B-A3B: 48 MoE layers, hidden 2048, top-8; 4 decoding sequences per rank at 2 bytes: 16,384 B a rank.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { IDEAL } from '../../src/core/perf/efficiency.js';
import { StepTimer, type ServingPlan } from '../../src/core/serving/step-time.js';
import { referenceSpec } from '../helpers.js';
import { freeLinks, twoTierLinks } from '../core/fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const M = 4 * 2048 * 2;
const commS = (plan: ServingPlan) => {
  const time = (links: ReturnType<typeof freeLinks>) =>
    new StepTimer(
      {
        spec: referenceSpec('Qwen__Qwen3-30B-A3B.json'),
        hw: h100,
        precision: 'bf16',
        kvBytes: 2,
        plan,
        links,
      },
      IDEAL,
    ).exact({ prefill: [], decodes: 4, decodeContext: 400 }, 4 * plan.attentionDp);
  return time(twoTierLinks()) - time(freeLinks());
};

describe('MoE exchange in the simulated step', () => {
  it('tp 2 with experts over EP 2, no attention DP: the two TP all-reduces a layer only', () => {
    // All-reduce of 16,384 B over 2 devices: M / bandwidth (one-shot and ring alike).
    const c = commS({ tp: 2, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 2 });
    expect(c / (48 * 2 * (M / 1e11))).toBeCloseTo(1, 9);
  });

  it('attention DP 2 with experts over EP 2: dispatch and combine of each rank’s top-8 copies', () => {
    // Half of 8 · 16,384 B goes to the other device: 48 layers × 2 × 4 · 16,384 B / 100 GB/s.
    const c = commS({ tp: 1, pp: 1, attentionDp: 2, moeTp: 1, moeEp: 2 });
    expect(c / (48 * 2 * ((0.5 * 8 * M) / 1e11))).toBeCloseTo(1, 9);
  });
});
