/** Logit processing and log-probabilities on hand-computed rows. */
import { describe, expect, it } from 'vitest';
import { processLogits, tokenLogprob } from '../../src/engine/logits.js';
import { DEFAULT_SAMPLING } from '../../src/engine/sampler.js';

describe('processLogits', () => {
  const row = Float32Array.from([1, 2, 3, 4]);
  it('returns the row itself when nothing applies', () => {
    expect(processLogits(row, DEFAULT_SAMPLING, new Map([[3, 2]]))).toBe(row);
  });
  it('OpenAI penalties: logit − count × frequency − presence, on seen tokens only', () => {
    const p = { ...DEFAULT_SAMPLING, frequencyPenalty: 0.5, presencePenalty: 1 };
    // token 3 seen twice: 4 − 2×0.5 − 1 = 2; token 1 once: 2 − 0.5 − 1 = 0.5.
    expect([
      ...processLogits(
        row,
        p,
        new Map([
          [3, 2],
          [1, 1],
        ]),
      ),
    ]).toEqual([1, 0.5, 3, 2]);
    expect([...row]).toEqual([1, 2, 3, 4]);
  });
  it('logit_bias adds to the named tokens', () => {
    const p = {
      ...DEFAULT_SAMPLING,
      logitBias: new Map([
        [0, 10],
        [3, -100],
      ]),
    };
    expect([...processLogits(row, p, new Map())]).toEqual([11, 2, 3, -96]);
  });
});

describe('tokenLogprob', () => {
  it('log-softmax of the chosen token and the top k', () => {
    // ln(e^0 + e^0 + e^ln2) = ln 4: logprobs of [0, 0, ln 2] are ln ¼, ln ¼, ln ½.
    const r = tokenLogprob([0, 0, Math.log(2)], 1, 2);
    expect(r.logprob).toBeCloseTo(Math.log(0.25), 12);
    expect(r.top.map((t) => t.id)).toEqual([2, 0]);
    expect(r.top[0]!.logprob).toBeCloseTo(Math.log(0.5), 12);
    expect(tokenLogprob([0, 1], 0, 0).top).toEqual([]);
  });
});
