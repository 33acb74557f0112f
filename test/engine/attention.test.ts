/**
 * Attention in onnxruntime (attention_ort.ts) equals the TypeScript core (attention.ts) it stands in for: padded
 * batches of prefills (from position 0 and after a cached prefix) and decodes in scattered block tables, query
 * chunks split under a small score budget, GQA and MHA, a sliding window. And a model forward gives the same logits
 * whichever path its layers take (a research hook sends a layer to TypeScript).
 */
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attend, type AttentionHooks, type AttentionItem } from '../../src/engine/attention.js';
import { AttentionScratch, planAttention, runAttention } from '../../src/engine/attention_ort.js';
import type { ModelConfig } from '../../src/engine/config.js';
import { attentionGraph } from '../../src/engine/graphs.js';
import { Rng } from '../../src/engine/sampler.js';
import { golden, KvCache, loadFixture, maxAbsDiff, Profiler } from './helpers.js';

const BLOCK = 4;

/** A step's random queries, and random K/V in the cache: the new tokens' written as the model does. */
function step(c: ModelConfig, cache: KvCache, items: AttentionItem[], seed: number) {
  const rng = new Rng(seed);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
  const tokens = items.reduce((a, it) => a + it.count, 0);
  const q = rand(tokens * c.numHeads * c.headDim);
  const slots: number[] = [];
  for (const it of items)
    for (let t = 0; t < it.count; t++) slots.push(cache.slot(it.blockTable, it.start + t));
  for (let i = 0; i < c.numLayers; i++) {
    // Earlier positions (a cached prefix, past decode tokens) hold K/V of their own.
    cache.k[i]!.set(rand(cache.k[i]!.length));
    cache.v[i]!.set(rand(cache.v[i]!.length));
    cache.write(i, slots, rand(tokens * cache.rowSize), rand(tokens * cache.rowSize));
  }
  return q;
}

const mixed: AttentionItem[] = [
  { offset: 0, count: 7, start: 0, blockTable: [5, 1] }, // a prefill from 0
  { offset: 7, count: 1, start: 9, blockTable: [0, 7, 3] }, // a decode token
  { offset: 8, count: 5, start: 4, blockTable: [2, 6, 4] }, // a prefill after a 4-token cached prefix
];
const prefills: AttentionItem[] = [
  { offset: 0, count: 6, start: 0, blockTable: [0, 1] },
  { offset: 6, count: 6, start: 0, blockTable: [2, 3] },
];
const decodes: AttentionItem[] = [
  { offset: 0, count: 1, start: 10, blockTable: [7, 0, 5] },
  { offset: 1, count: 1, start: 3, blockTable: [1] },
];

describe('attention in onnxruntime equals the TypeScript core', () => {
  const cases: [string, string, number | null][] = [
    ['llama-gqa', 'GQA (4 query heads, 2 KV heads)', null],
    ['gpt2-tied', 'MHA', null],
    ['llama-gqa', 'GQA with a 3-token sliding window', 3],
  ];
  for (const [fixture, what, window] of cases)
    it(what, async () => {
      const { config: base, model } = await loadFixture(fixture);
      await model.release();
      const c: ModelConfig = { ...base, slidingWindow: window };
      const session = await ort.InferenceSession.create(attentionGraph(c), { intraOpNumThreads: 1 });
      try {
        for (const [name, items] of [
          ['mixed', mixed],
          ['prefills from 0', prefills],
          ['decodes', decodes],
        ] as const) {
          const cache = new KvCache(c, 8, BLOCK);
          const q = step(c, cache, [...items], items.length);
          // Scratch buffers reused from an earlier step hold anything: poison them (-1e30 is a mask's value).
          const scratch = new AttentionScratch();
          planAttention(
            c,
            [...mixed, ...decodes.map((d) => ({ ...d, offset: d.offset + 13 }))],
            1e9,
            scratch,
          );
          for (const b of [scratch.mask, scratch.k, scratch.v]) b.fill(-1e30);
          for (const budget of [undefined, 40, 1]) {
            const plan = planAttention(c, items, budget, budget === 40 ? undefined : scratch);
            if (budget === 1) expect(plan.runs.length).toBe(plan.tokens); // one query per run
            if (name !== 'mixed' && budget === undefined) expect(plan.runs[0]!.qInPlace).toBe(true);
            for (let i = 0; i < c.numLayers; i++) {
              const want = attend(c, cache, i, q, items, null);
              const got = await runAttention(session, c, plan, cache, i, q);
              expect(maxAbsDiff(got, want), `${name}, budget ${budget}, layer ${i}`).toBeLessThan(1e-5);
            }
          }
        }
      } finally {
        await session.release();
      }
    });
});

describe('a forward gives the same logits whichever path its layers take', () => {
  let fx: Awaited<ReturnType<typeof loadFixture>>;
  beforeAll(async () => {
    fx = await loadFixture('llama-gqa');
  });
  afterAll(async () => {
    await fx.model.release();
  });

  it('onnxruntime for every layer, TypeScript for every layer (a mask that drops nothing), and a capture', async () => {
    const g = golden('llama-gqa');
    const prof = new Profiler();
    const run = (hooks: AttentionHooks | null) =>
      fx.model.forward(
        [{ tokens: g.tokens, start: 0, blockTable: [0, 1, 2, 3] }],
        new KvCache(fx.config, 4, 4),
        hooks,
        prof,
        true,
      );
    const hooks = (h: Partial<AttentionHooks>): AttentionHooks => ({
      capture: null,
      sparsity: null,
      maskedWeights: 0,
      totalWeights: 0,
      ...h,
    });
    const viaOrt = await run(null);
    const allTs = hooks({ sparsity: { method: 'ratio', ratio: 0, k: 1, threshold: 0, layers: null } });
    const viaTs = await run(allTs);
    expect(allTs.totalWeights).toBeGreaterThan(0); // the mask did run, in TypeScript, on every layer
    expect(allTs.maskedWeights).toBe(0);
    expect(maxAbsDiff(viaOrt, viaTs)).toBeLessThan(1e-5);
    const captured = hooks({ capture: { layer: 1, rows: [] } });
    expect(maxAbsDiff(await run(captured), viaOrt)).toBeLessThan(1e-5);
    // The capture holds one probability row per head and token, each summing to 1.
    expect(captured.capture!.rows).toHaveLength(fx.config.numHeads);
    expect(captured.capture!.rows[0]).toHaveLength(g.tokens.length);
    const sum = captured.capture!.rows[0]!.at(-1)!.reduce((a, b) => a + b, 0);
    expect(sum).toBeCloseTo(1, 5);
  });
});
