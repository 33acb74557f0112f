/**
 * Sliding window: the engine frees the KV blocks that fall wholly before a sequence's window, and what it holds
 * equals core/memory's KV for the same config and sequence length. Config: the mistral fixture with a window of 8
 * tokens, 2 layers, 2 KV heads of 8 dims, fp32: 2 layers · 2 (K, V) · 2 heads · 8 · 4 bytes = 256 bytes a token,
 * 4,096 bytes a 16-token block.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { specFromConfig } from '../../src/core/arch/index.js';
import { kvCache } from '../../src/core/memory/kv.js';
import { Engine } from '../../src/engine/engine.js';
import { memoryUsage } from '../../src/engine/introspect.js';
import { FIXTURES, MODEL_DIR } from './helpers.js';

const WINDOW = 8;
const BLOCK = 16;
const BLOCK_BYTES = 16 * 256;
const dir = mkdtempSync(join(tmpdir(), 'infersim-window-'));
const raw = {
  ...(JSON.parse(readFileSync(join(FIXTURES, 'mistral-sharded', 'config.json'), 'utf8')) as object),
  sliding_window: WINDOW,
  max_position_embeddings: 512,
};
let engine: Engine;

beforeAll(async () => {
  for (const f of readdirSync(join(FIXTURES, 'mistral-sharded')))
    if (f !== 'config.json' && f !== 'golden.json')
      symlinkSync(join(FIXTURES, 'mistral-sharded', f), join(dir, f));
  symlinkSync(join(MODEL_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(raw));
  engine = await Engine.load(dir, { blockSize: BLOCK, maxModelLen: 300, threads: 1, maxNumSeqs: 1 });
});
afterAll(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const calculator = (seq: number) =>
  kvCache(specFromConfig(raw), {
    batch: 1,
    seq,
    kvBytes: 4,
    tp: 1,
    blockSize: BLOCK,
    layerFilter: null,
    stateBytes: 4,
  }).kvCacheBytes;

describe('sliding-window KV', () => {
  it('the calculator counts the blocks the window spans, by hand', () => {
    // 276 tokens: positions 268…275 span blocks 16 (256…271) and 17 (272…287).
    expect(calculator(276)).toBe(2 * BLOCK_BYTES);
    // 272 tokens: positions 264…271, all in block 16.
    expect(calculator(272)).toBe(BLOCK_BYTES);
    // Within the window: every token, in whole blocks (5 tokens: one block).
    expect(calculator(5)).toBe(BLOCK_BYTES);
  });

  it('the engine holds what the calculator says after every step, and generates as if it kept everything', async () => {
    const seen = new Map<number, number>();
    const commit = engine.blocks.commitFullBlocks.bind(engine.blocks);
    const spy = vi.spyOn(engine.blocks, 'commitFullBlocks').mockImplementation((seq) => {
      commit(seq);
      seen.set(seq.numComputed, memoryUsage(engine).kv_cache_bytes);
    });
    const prompt = Array.from({ length: 20 }, (_, i) => (i * 7) % 64);
    const r = await engine.generate(prompt, { maxTokens: 260, temperature: 0, ignoreEos: true });
    spy.mockRestore();
    expect(r.completionTokens).toBe(260);
    // After the prefill (20 tokens: positions 12…19 in blocks 0 and 1) and at 276 and 272 tokens, by hand.
    expect(seen.get(20)).toBe(2 * BLOCK_BYTES);
    expect(seen.get(276)).toBe(2 * BLOCK_BYTES);
    expect(seen.get(272)).toBe(BLOCK_BYTES);
    expect(seen.size).toBe(260);
    for (const [tokens, bytes] of seen) expect(bytes, `${tokens} tokens`).toBe(calculator(tokens));
    expect(memoryUsage(engine).kv_window_freed).toBe(true);

    // Freed blocks lie before every window: one forward over the whole sequence in a scratch cache that keeps
    // every token picks the same greedy tokens.
    const ids = [...prompt, ...r.tokenIds];
    const V = engine.config.vocabSize;
    const all = await engine.isolatedForward(ids.slice(0, -1), null, true);
    const argmax = (t: number) => {
      const row = all.subarray(t * V, (t + 1) * V);
      return row.indexOf(Math.max(...row));
    };
    for (let t = prompt.length - 1; t < ids.length - 1; t++)
      expect(ids[t + 1], `token ${t + 1}`).toBe(argmax(t));
  });
});
