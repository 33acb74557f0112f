/** Unit tests of the engine's parts, each expectation worked out by hand. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applySparsity } from '../../src/engine/attention.js';
import { BlockManager } from '../../src/engine/block_manager.js';
import { ConfigError, readModelConfig } from '../../src/engine/config.js';
import { inverseFrequencies } from '../../src/engine/rope.js';
import {
  CheckpointError,
  halfToFloat,
  parseSafetensors,
  readCheckpoint,
  writeSafetensors,
} from '../../src/engine/safetensors.js';
import { argmax, candidates, DEFAULT_SAMPLING, Rng, sample } from '../../src/engine/sampler.js';
import { Sequence } from '../../src/engine/sequence.js';

describe('safetensors', () => {
  it('decodes half and bfloat16 bit patterns', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    // 1.5 in bf16 is 0x3fc0; -0.25 is 0xbe80
    const buf = new Uint8Array(8 + 64);
    const header = new TextEncoder().encode(
      JSON.stringify({ t: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }).padEnd(64),
    );
    new DataView(buf.buffer).setBigUint64(0, 64n, true);
    buf.set(header, 8);
    const file = new Uint8Array([...buf, 0xc0, 0x3f, 0x80, 0xbe]);
    expect([...parseSafetensors(file).get('t')!.data]).toEqual([1.5, -0.25]);
  });
  it('round-trips fp32 and rounds fp16 as IEEE does', () => {
    const data = Float32Array.of(0.1, -3, 65504, 1e-8);
    const f32 = parseSafetensors(writeSafetensors({ w: { shape: [4], data } })).get('w')!;
    expect([...f32.data]).toEqual([...data]);
    const f16 = parseSafetensors(writeSafetensors({ w: { shape: [4], data } }, 'F16')).get('w')!;
    expect(f16.dtype).toBe('F16');
    expect([...f16.data]).toEqual([0.0999755859375, -3, 65504, 0]);
  });
  it('rejects malformed files with a clear message', () => {
    expect(() => parseSafetensors(new Uint8Array(3))).toThrow(CheckpointError);
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setBigUint64(0, 1000n, true);
    expect(() => parseSafetensors(bad)).toThrow(/bad header length/);
    const i8 = writeSafetensors({ w: { shape: [2], data: Float32Array.of(1, 2) } });
    const text = new TextDecoder().decode(i8).replace('"F32"', '"I8" ');
    expect(() => parseSafetensors(new TextEncoder().encode(text))).toThrow(/dtype I8/);
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    expect(() => readCheckpoint(dir)).toThrow(/no model.safetensors/);
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { a: 'x.safetensors', b: 'x.safetensors' } }),
    );
    writeFileSync(
      join(dir, 'x.safetensors'),
      writeSafetensors({ a: { shape: [1], data: Float32Array.of(1) } }),
    );
    expect(() => readCheckpoint(dir)).toThrow(/tensor b is not in its shard/);
  });
});

describe('config', () => {
  it('reads llama3 rope scaling as transformers does', () => {
    const c = readModelConfig({
      model_type: 'llama',
      hidden_size: 64,
      intermediate_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 1,
      vocab_size: 8,
      rope_theta: 10000,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 8,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 64,
      },
    });
    const inv = inverseFrequencies(c);
    // i = 0: wavelength 2π < 64/4 = 16 → kept; i = 31: 1/10000^(62/64), wavelength ≈ 46,000 > 64 → divided by 8.
    expect(inv[0]).toBe(1);
    expect(inv[31]).toBeCloseTo(1 / Math.pow(10000, 62 / 64) / 8, 15);
    // i = 8: f = 10000^-0.25 = 0.1, wavelength 62.83 between 16 and 64: smooth = (64/62.83 - 1)/3.
    const s = (64 / ((2 * Math.PI) / 0.1) - 1) / 3;
    expect(inv[8]).toBeCloseTo((1 - s) * (0.1 / 8) + s * 0.1, 12);
  });
  it('names what is missing or unsupported', () => {
    expect(() => readModelConfig({ model_type: 'bert' })).toThrow(ConfigError);
    expect(() => readModelConfig({ model_type: 'llama', hidden_size: 8 })).toThrow(/num_attention_heads/);
  });
});

describe('sampler', () => {
  const row = Float32Array.of(1, 3, 2, 0);
  it('greedy is argmax; top-k 1 is greedy at any temperature', () => {
    expect(argmax(row)).toBe(1);
    expect(sample(row, { ...DEFAULT_SAMPLING, temperature: 0 }, new Rng(1))).toBe(1);
    for (let s = 0; s < 20; s++)
      expect(sample(row, { ...DEFAULT_SAMPLING, temperature: 1.5, topK: 1 }, new Rng(s))).toBe(1);
  });
  it('top-p keeps the smallest prefix reaching p; probabilities from softmax', () => {
    // softmax(1,3,2,0): e^3, e^2, e^1, e^0 over their sum
    const z = Math.E ** 3 + Math.E ** 2 + Math.E + 1;
    const c = candidates(row, { ...DEFAULT_SAMPLING, topP: 0.9 });
    expect(c.ids).toEqual([1, 2, 0]); // 0.644 + 0.237 < 0.9, so the third is needed
    const kept = Math.E ** 3 + Math.E ** 2 + Math.E;
    expect(c.probs[0]).toBeCloseTo(Math.E ** 3 / kept, 12);
    expect(Math.E ** 3 / z + Math.E ** 2 / z).toBeLessThan(0.9);
  });
  it('same seed, same draws; the draw frequencies follow the probabilities', () => {
    const p = { ...DEFAULT_SAMPLING, temperature: 1 };
    const a = Array.from({ length: 10 }, (_, i) => sample(row, p, new Rng(42 + i)));
    const b = Array.from({ length: 10 }, (_, i) => sample(row, p, new Rng(42 + i)));
    expect(a).toEqual(b);
    const rng = new Rng(7);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[sample(row, p, rng)]!++;
    const z = Math.E ** 3 + Math.E ** 2 + Math.E + 1;
    expect(counts[1]! / 20000).toBeCloseTo(Math.E ** 3 / z, 1);
  });
});

describe('block manager: prefix reuse by hashing full blocks', () => {
  const seq = (ids: number[]) => new Sequence(ids, DEFAULT_SAMPLING);
  it('a second prompt sharing two full blocks hits both; the block of the last token is never reused', () => {
    const bm = new BlockManager(10, 4);
    const a = seq([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    bm.allocate(a);
    expect(a.blockTable).toEqual([0, 1, 2]);
    // Blocks 0 and 1 are full and not last: two lookups, both misses on an empty cache.
    expect(bm.stats()).toMatchObject({ hits: 0, misses: 2 });
    a.numComputed = a.length;
    bm.commitFullBlocks(a);
    const b = seq([1, 2, 3, 4, 5, 6, 7, 8, 10, 11]);
    bm.allocate(b);
    expect(b.blockTable.slice(0, 2)).toEqual([0, 1]);
    expect(b.numCachedTokens).toBe(8);
    expect(bm.stats()).toMatchObject({ hits: 2, misses: 2, hitTokens: 8 });
    expect(bm.blocks[0]!.refCount).toBe(2);
    // Exactly 8 tokens: block 1 holds the last token, so only block 0 is looked up.
    const c = seq([1, 2, 3, 4, 5, 6, 7, 8]);
    bm.allocate(c);
    expect(c.numCachedTokens).toBe(4);
    expect(c.blockTable[1]).not.toBe(1);
    expect(bm.stats()).toMatchObject({ hits: 3, misses: 2, lookups: 5 });
  });
  it('freed blocks stay reusable until handed out; clear() forgets them', () => {
    const bm = new BlockManager(4, 2);
    const a = seq([5, 6, 7]);
    bm.allocate(a);
    a.numComputed = 3;
    bm.commitFullBlocks(a);
    bm.deallocate(a);
    expect(bm.numFree).toBe(4);
    const b = seq([5, 6, 8]);
    bm.allocate(b);
    expect(b.numCachedTokens).toBe(2);
    bm.deallocate(b);
    expect(bm.clear()).toBe(1);
    expect(bm.stats().lookups).toBe(0);
    const c = seq([5, 6, 9]);
    bm.allocate(c);
    expect(c.numCachedTokens).toBe(0);
  });
});

describe('sparsity masks on attention probabilities', () => {
  it('top-k keeps the k largest and renormalises', () => {
    const p = Float32Array.of(0.1, 0.4, 0.2, 0.3);
    expect(applySparsity(p, 4, { method: 'top_k', k: 2, threshold: 0, ratio: 0, layers: null })).toBe(2);
    expect([...p].map((x) => +x.toFixed(6))).toEqual([0, 0.571429, 0, 0.428571]);
  });
  it('threshold drops weights below it; ratio drops that share of keys', () => {
    const p = Float32Array.of(0.05, 0.5, 0.45);
    applySparsity(p, 3, { method: 'threshold', k: 0, threshold: 0.1, ratio: 0, layers: null });
    expect(p[0]).toBe(0);
    expect(p[1]! + p[2]!).toBeCloseTo(1, 6);
    const q = Float32Array.of(0.1, 0.2, 0.3, 0.4);
    expect(applySparsity(q, 4, { method: 'ratio', k: 0, threshold: 0, ratio: 0.5, layers: null })).toBe(2);
    expect(q[3]).toBeCloseTo(0.4 / 0.7, 6);
  });
});
