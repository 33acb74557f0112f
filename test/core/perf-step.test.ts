/** Attention pairs, MLA attention FLOPs and the context- and pipeline-parallel sends of one step, by hand. */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { IDEAL } from '../../src/core/perf/efficiency.js';
import { stepContext } from '../../src/core/perf/latency.js';
import { attendedPairs } from '../../src/core/perf/ops.js';
import { stepTime } from '../../src/core/perf/step.js';
import type { ModelSpec } from '../../src/core/arch/spec.js';
import { referenceSpec } from '../helpers.js';
import { stepShape } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
const step = (spec: ModelSpec, tokens: number, o: { cp?: number; pp?: number; context?: number } = {}) => {
  const pp = o.pp ?? 1;
  const cp = o.cp ?? 1;
  return stepTime(
    stepContext(spec, h100, 'bf16', { tp: 1, pp, ep: 1, cp }),
    stepShape({ segments: [{ batch: 1, tokens, context: o.context ?? 0 }], cp, layerShare: 1 / pp }),
    IDEAL,
  );
};

describe('attention pairs with a window', () => {
  it('10 queries after 2 cached tokens, window 5: 3 + 4 + 8 x 5 = 47 keys', () => {
    expect(attendedPairs(10, 2, 5)).toBe(47);
  });
});

describe('MLA attends in the latent space', () => {
  it('DeepSeek-V2-Lite, one token: 2 · 16 heads · (512 + 64 + 512) per layer, 27 layers', () => {
    expect(
      step(referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json'), 1).flops_by_category.attention_core,
    ).toBe(2 * 16 * (576 + 512) * 27);
  });
});

describe('sends of context and pipeline parallelism (ideal: no latency, full NVLink 450 GB/s)', () => {
  it('cp=2, 1024-token prompt: each layer passes its 512 tokens of K/V (32 heads x 256 x 2 B) once', () => {
    expect(step(llama2, 1024, { cp: 2 }).communication_s).toBeCloseTo((32 * 512 * 16384) / 450e9, 15);
  });
  it('cp=2 in decode sends nothing: no prompt chunk', () => {
    expect(step(llama2, 1, { cp: 2, context: 1024 }).communication_s).toBe(0);
  });
  it('pp=2, a stage step of 1024 tokens: half of one activation send (1024 x 4096 x 2 B) per stage step', () => {
    expect(step(llama2, 1024, { pp: 2 }).communication_s).toBeCloseTo((0.5 * 1024 * 8192) / 450e9, 15);
  });
});
