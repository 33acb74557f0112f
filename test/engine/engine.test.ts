/** The engine end to end on the shipped model: continuous batching, prefix reuse, preemption, sampling, hooks. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { attentionScores } from '../../src/engine/research/attention_scores.js';
import { maxAbsDiff, MODEL_DIR } from './helpers.js';

const PROMPTS = [
  'In the beginning God created the heaven',
  'And the LORD spake unto Moses, saying',
  'Blessed are the meek',
];

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.load(MODEL_DIR, { blockSize: 4, maxModelLen: 128, threads: 1 });
});
afterAll(async () => engine.close());

describe('engine', () => {
  it('concurrent requests give exactly what each gives alone (greedy)', async () => {
    const solo = [];
    for (const p of PROMPTS)
      solo.push((await engine.generate(p, { maxTokens: 12, temperature: 0, ignoreEos: true })).tokenIds);
    const together = await Promise.all(
      PROMPTS.map((p) => engine.generate(p, { maxTokens: 12, temperature: 0, ignoreEos: true })),
    );
    expect(together.map((r) => r.tokenIds)).toEqual(solo);
    expect(together.every((r) => r.completionTokens === 12 && r.finishReason === 'length')).toBe(true);
  });

  it('a repeated prompt reuses its full blocks from the prefix cache, with the same output', async () => {
    engine.blocks.clear();
    const prompt = PROMPTS[0]!;
    const n = engine.tokenize(prompt).length;
    const a = await engine.generate(prompt, { maxTokens: 5, temperature: 0, ignoreEos: true });
    const b = await engine.generate(prompt, { maxTokens: 5, temperature: 0, ignoreEos: true });
    // Full 4-token blocks that do not hold the last prompt token are reusable.
    const reusable = Math.floor((n - 1) / 4);
    expect(a.cachedPromptTokens).toBe(0);
    expect(b.cachedPromptTokens).toBe(reusable * 4);
    expect(engine.blocks.stats()).toMatchObject({ hits: reusable, misses: reusable });
    expect(b.tokenIds).toEqual(a.tokenIds);
  });

  it('with a cache too small for all, sequences are preempted and still finish with the same tokens', async () => {
    // 12 blocks of 4 tokens: K and V of every layer and KV head, fp32.
    const c = engine.config;
    const small = await Engine.load(MODEL_DIR, {
      blockSize: 4,
      maxModelLen: 40,
      threads: 1,
      kvCacheBytes: 12 * 4 * c.numLayers * 2 * c.numKvHeads * c.headDim * 4,
    });
    expect(small.cache.numBlocks).toBe(12);
    const solo = [];
    for (const p of PROMPTS)
      solo.push((await small.generate(p, { maxTokens: 20, temperature: 0, ignoreEos: true })).tokenIds);
    const together = await Promise.all(
      PROMPTS.map((p) => small.generate(p, { maxTokens: 20, temperature: 0, ignoreEos: true })),
    );
    expect(together.map((r) => r.tokenIds)).toEqual(solo);
    expect(small.scheduler.preemptions).toBeGreaterThan(0);
    expect(small.blocks.numUsed).toBe(0);
    await small.close();
  });

  it('seeded sampling repeats; stop strings cut the text; bad prompts are refused', async () => {
    const p = { maxTokens: 16, temperature: 1, topP: 0.95, seed: 7, ignoreEos: true };
    const a = await engine.generate('And God said', p);
    const b = await engine.generate('And God said', p);
    expect(b.text).toBe(a.text);
    const full = await engine.generate('And God said', { maxTokens: 16, temperature: 0, ignoreEos: true });
    const stop = full.text.slice(4, 6);
    const cut = await engine.generate('And God said', {
      maxTokens: 16,
      temperature: 0,
      ignoreEos: true,
      stop: [stop],
    });
    expect(cut.finishReason).toBe('stop');
    expect(cut.text).toBe(full.text.slice(0, full.text.indexOf(stop)));
    expect(() => engine.submit('', {})).toThrow(/empty/);
    expect(() => engine.submit([99999], {})).toThrow(/outside the vocabulary/);
    expect(() => engine.submit('word '.repeat(400), {})).toThrow(/limit is 127/);
  });

  it('streams the same text it returns', async () => {
    let streamed = '';
    const r = await engine.generate(
      'The LORD is my shepherd',
      { maxTokens: 10, temperature: 0, ignoreEos: true },
      (d) => (streamed += d),
    );
    expect(streamed).toBe(r.text);
  });

  it('attention capture gives causal rows that sum to one; a sparsity mask changes the logits', async () => {
    const s = await attentionScores(engine, PROMPTS[1]!, 1, 2, 0.01);
    const T = s.attention_matrix.length;
    expect(T).toBe(engine.tokenize(PROMPTS[1]!).length);
    s.attention_matrix.forEach((row, t) => {
      expect(row.slice(0, t + 1).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(row.slice(t + 1).every((x) => x === 0)).toBe(true);
    });
    expect(s.entropy).toBeGreaterThan(0);
    const ids = engine.tokenize(PROMPTS[1]!);
    const plain = await engine.isolatedForward(ids, null);
    const keepAll = {
      capture: null,
      sparsity: { method: 'top_k' as const, k: 1000, threshold: 0, ratio: 0, layers: null },
      maskedWeights: 0,
      totalWeights: 0,
    };
    // A mask that keeps every weight changes nothing. (Layers under a mask run the TypeScript attention core,
    // the others onnxruntime's: the two agree to fp32 rounding, not bit for bit; logits of the trained model
    // reach about 18, so the bound is 1e-4, ten times below the smallest change a real mask makes below.)
    expect(maxAbsDiff(await engine.isolatedForward(ids, keepAll), plain)).toBeLessThan(1e-4);
    const half = { ...keepAll, sparsity: { ...keepAll.sparsity, method: 'ratio' as const, ratio: 0.5 } };
    expect(maxAbsDiff(await engine.isolatedForward(ids, half), plain)).toBeGreaterThan(1e-3);
    expect(half.maskedWeights).toBeGreaterThan(0);
  });

  it('the profiler reports per-op timings for the work between start and stop', async () => {
    engine.profiler.start();
    await engine.generate('Jesus wept', { maxTokens: 3, temperature: 0, ignoreEos: true });
    const r = engine.profiler.stop()!;
    const ops = Object.fromEntries(r.ops.map((o) => [o.op, o.count]));
    const L = engine.config.numLayers;
    expect(ops['qkv_proj']).toBe(3 * L);
    expect(ops['attention']).toBe(3 * L);
    expect(ops['lm_head']).toBe(3);
    expect(ops['sample']).toBe(3);
  });
});
