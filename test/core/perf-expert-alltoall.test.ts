/**
 * The experts' all-to-all under attention DP, by hand, on links whose costs are simple: 100 GB/s and 1 µs inside a
 * node of 4, 10 GB/s and 5 µs across nodes (fixtures-perf twoTierLinks). Qwen3-30B-A3B: hidden 2048, 48 MoE
 * layers, top-8 of 128 experts; 100 prompt tokens per rank at 2 bytes: 409,600 bytes of tokens per rank.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { IDEAL } from '../../src/core/perf/efficiency.js';
import { stepContext } from '../../src/core/perf/latency.js';
import { communicationS } from '../../src/core/perf/step.js';
import { referenceSpec } from '../helpers.js';
import { stepShape, twoTierLinks } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const comm = (tp: number, adp: number, eff = IDEAL) =>
  communicationS(
    stepContext(
      referenceSpec('Qwen__Qwen3-30B-A3B.json'),
      h100,
      'bf16',
      { tp, pp: 1, ep: tp * adp },
      twoTierLinks(),
    ),
    stepShape({ segments: [{ batch: 1, tokens: 100, context: 0 }], tp, adp, ep: tp * adp, moeTp: 1 }),
    eff,
  );
const MSG = 100 * 2048 * 2;

describe('expert all-to-all under attention DP', () => {
  it('inside a node (4 ranks): every top-8 copy crosses NVLink, (p − 1)/p of 8 · 409,600 B at 100 GB/s', () => {
    expect(comm(1, 4)).toBeCloseTo(48 * 2 * ((3 / 4) * ((8 * MSG) / 1e11)), 12);
    // Latency: a step of 1 µs per peer, as NCCL's all-to-all.
    expect(comm(1, 4, { ...IDEAL, alpha: 1 })).toBeCloseTo(
      48 * 2 * (3e-6 + (3 / 4) * ((8 * MSG) / 1e11)),
      12,
    );
  });

  it('across 2 nodes (8 ranks): a token leaves the node once per other node holding one of its experts', () => {
    // (N − 1)(1 − (1 − 1/N)^k) = 1 − 0.5^8 = 0.99609375 copies over 10 GB/s: 408,000 B → 40.8 µs, more than the
    // NVLink share (the copies for the 3 other devices of the node: 3/8 · 8 · 409,600 B at 100 GB/s = 12.3 µs)
    // that runs alongside.
    expect(comm(1, 8)).toBeCloseTo(48 * 2 * (408_000 / 1e10), 12);
    // Latency: one message per other node in flight at once, two steps of 5 µs (send, signal), not one per remote
    // device; the NVLink side pays 3 steps of 1 µs and still finishes first.
    expect(comm(1, 8, { ...IDEAL, alpha: 1 })).toBeCloseTo(48 * 2 * (1e-5 + 408_000 / 1e10), 12);
  });

  it("a rank's tp devices split its tokens; the TP all-reduce is once per layer (the MoE exchange replaces the second)", () => {
    // tp 2 × adp 4 = 8 devices over 2 nodes: each device sends half the rank's tokens (204,000 B across),
    // plus one all-reduce of 409,600 B over 2 devices in a node (one-shot: 409,600 B at 100 GB/s).
    expect(comm(2, 4)).toBeCloseTo(48 * (MSG / 1e11 + 2 * (204_000 / 1e10)), 12);
  });
});
