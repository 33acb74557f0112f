/**
 * Engine logits against golden logits from an independent PyTorch forward (scripts/engine/golden.py, written from
 * the transformers modelling code, committed with its fixtures): gpt2 tied/untied, llama GQA, llama3 rope scaling
 * (bf16 file), mistral sharded, qwen2 biases, qwen3 qk-norm; fp16/bf16 files are widened to fp32 on both sides.
 */
import { describe, expect, it } from 'vitest';
import { golden, KvCache, loadFixture, maxAbsDiff, Profiler } from './helpers.js';

const NAMES = [
  'gpt2-tied',
  'gpt2-untied-fp16',
  'llama-gqa',
  'llama3-scaled-tied-bf16',
  'mistral-sharded',
  'qwen2-bias-tied',
  'qwen3-qknorm',
];
const TOL = 1e-4;

describe('engine logits equal the PyTorch reference within 1e-4 (fp32)', () => {
  for (const name of NAMES) {
    it(`${name}: one prefill, then paged decode across block boundaries, then two sequences batched`, async () => {
      const g = golden(name);
      const { config, model } = await loadFixture(name);
      const V = config.vocabSize;
      const T = g.tokens.length;
      const prof = new Profiler();

      // 1. The whole prompt in one prefill, logits of every position.
      let cache = new KvCache(config, 8, 4);
      const all = await model.forward(
        [{ tokens: g.tokens, start: 0, blockTable: [0, 1, 2, 3] }],
        cache,
        null,
        prof,
        true,
      );
      expect(maxAbsDiff(all, g.logits.flat())).toBeLessThan(TOL);

      // 2. Prefill of 5 tokens, then one token at a time, in a scattered block table of 4-token blocks.
      cache = new KvCache(config, 8, 4);
      const table = [6, 2, 7, 0];
      const first = await model.forward(
        [{ tokens: g.tokens.slice(0, 5), start: 0, blockTable: table }],
        cache,
        null,
        prof,
      );
      expect(maxAbsDiff(first, g.logits[4]!)).toBeLessThan(TOL);
      for (let p = 5; p < T; p++) {
        const row = await model.forward(
          [{ tokens: [g.tokens[p]!], start: p, blockTable: table }],
          cache,
          null,
          prof,
        );
        expect(maxAbsDiff(row, g.logits[p]!)).toBeLessThan(TOL);
      }

      // 3. A prefill and a decode of two different sequences in one batch do not mix.
      const other = new KvCache(config, 8, 4);
      await model.forward(
        [{ tokens: g.tokens.slice(0, 9), start: 0, blockTable: [1, 3, 5] }],
        other,
        null,
        prof,
      );
      const both = await model.forward(
        [
          { tokens: g.tokens.slice(0, 7), start: 0, blockTable: [0, 2] },
          { tokens: [g.tokens[9]!], start: 9, blockTable: [1, 3, 5] },
        ],
        other,
        null,
        prof,
      );
      expect(maxAbsDiff(both.subarray(0, V), g.logits[6]!)).toBeLessThan(TOL);
      expect(maxAbsDiff(both.subarray(V), g.logits[9]!)).toBeLessThan(TOL);
      await model.release();
    });
  }
});
