/**
 * Optimizer states (src/core/memory/optimizers.ts) by the names trainers use, and the KV-cache token rules
 * (src/core/memory/kv.ts): windows, chunks, paged sliding windows, the DSA indexer. Bytes worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import type { AttentionSpec } from '../../src/core/arch/spec.js';
import {
  attendedTokens,
  cachedSlots,
  cachedTokens,
  indexerBytesPerToken,
  kvBytesPerTokenLayer,
  kvHeadsPerDevice,
} from '../../src/core/memory/kv.js';
import {
  factoredElements,
  findOptimizer,
  getOptimizer,
  OPTIMIZERS,
  optimizerStateBytes,
} from '../../src/core/memory/optimizers.js';

describe('optimizer names (Hugging Face TrainingArguments.optim, torch, bitsandbytes, apex, DeepSpeed)', () => {
  // Bytes of state per parameter, by hand: two fp32 moments 8; one fp32 buffer 4; none 0.
  const byId: Record<string, string[]> = {
    adamw: [
      'adam',
      'adamw_torch',
      'adamw_torch_fused',
      'adamw_hf',
      'adamw_apex_fused',
      'fused_adam',
      'FusedAdam',
    ],
    adamw_8bit: [
      'quantized_adamw',
      'paged_adamw_8bit',
      'adamw_bnb_8bit',
      'adam_8bit',
      'adam8bit',
      'AdamW8bit',
      'bnb_adamw_8bit',
      'paged_adam_8bit',
    ],
    sgd: ['vanilla_sgd', 'sgd_no_momentum'],
    sgd_momentum: ['sgd_m', 'momentum', 'sgd_with_momentum', 'nesterov', 'sgd_nesterov'],
    adafactor: ['adafactor_hf'],
    lion: ['lion_32bit', 'lion_torch'],
    lion_8bit: ['paged_lion_8bit', 'lion8bit'],
    rmsprop: ['rms_prop'],
    lamb: ['fused_lamb', 'FusedLAMB'],
    sophia: ['sophiag', 'sophia_g', 'sophia_h'],
  };
  it('every alias resolves to its optimizer', () => {
    for (const [id, names] of Object.entries(byId))
      for (const n of [id, ...names]) expect(findOptimizer(n)?.id, n).toBe(id);
    expect(findOptimizer('adagrad')?.id).toBe('adagrad');
  });
  it('names are matched case-insensitively, spaces and dashes read as underscores, ends trimmed', () => {
    expect(findOptimizer('  Paged-AdamW 8bit ')?.id).toBe('adamw_8bit');
    expect(findOptimizer('SGD  -  Nesterov')?.id).toBe('sgd_momentum');
    expect(findOptimizer('adamx')).toBeNull();
    expect(() => getOptimizer('adamx')).toThrow(
      /unknown optimizer 'adamx'; accepted: adamw, adamw_8bit, sgd,/,
    );
  });
  it('each row states what it keeps and where the figure comes from', () => {
    expect(OPTIMIZERS).toHaveLength(11);
    for (const o of OPTIMIZERS) {
      expect(o.description.length, o.id).toBeGreaterThan(10);
      expect(o.formula.length, o.id).toBeGreaterThan(0);
      expect(o.source.length, o.id).toBeGreaterThan(10);
    }
  });
  it('bytes per parameter: Adam-like 8, one buffer 4, SGD 0, 8-bit Adam 2 + 8/2048, 8-bit Lion 1 + 4/2048', () => {
    const s = { params: 1_000_000, factoredElements: 0, smallTensorParams: 0 };
    const bytes = (id: string) => optimizerStateBytes(getOptimizer(id), s);
    expect(bytes('adamw')).toBe(8_000_000);
    expect(bytes('lamb')).toBe(8_000_000);
    expect(bytes('sophia')).toBe(8_000_000);
    expect(bytes('lion')).toBe(4_000_000);
    expect(bytes('adagrad')).toBe(4_000_000);
    expect(bytes('rmsprop')).toBe(4_000_000);
    expect(bytes('sgd_momentum')).toBe(4_000_000);
    expect(bytes('sgd')).toBe(0);
    expect(bytes('adamw_8bit')).toBe(2_000_000 + 8_000_000 / 2048); // 2,003,906.25
    expect(bytes('lion_8bit')).toBe(1_000_000 + 4_000_000 / 2048); // 1,001,953.125
    // Tensors under 4096 elements keep 32-bit states: 8-bit Lion 4 B, 8-bit Adam 8 B for them.
    const small = { params: 1_000_000, factoredElements: 0, smallTensorParams: 1000 };
    expect(optimizerStateBytes(getOptimizer('lion_8bit'), small)).toBe(999_000 * (1 + 4 / 2048) + 4000);
    expect(optimizerStateBytes(getOptimizer('adamw_8bit'), small)).toBe(999_000 * 2 * (1 + 4 / 2048) + 8000);
    // Adafactor: 4 B per factored element, whatever the parameter count.
    expect(optimizerStateBytes(getOptimizer('adafactor'), { ...s, factoredElements: 3000 })).toBe(12_000);
  });
  it("Adafactor's factored elements: rows + cols of the last two dims, per leading index; vectors whole", () => {
    expect(factoredElements([4096, 11008])).toBe(4096 + 11008);
    // Stacked experts [8, 14336, 4096]: 8 · (14336 + 4096) = 147,456.
    expect(factoredElements([8, 14336, 4096])).toBe(147_456);
    expect(factoredElements([2, 3, 5, 7])).toBe(6 * 5 + 6 * 7);
    expect(factoredElements([768])).toBe(768);
    expect(factoredElements([])).toBe(1);
  });
});

const attn = (x: Partial<AttentionSpec>): AttentionSpec => ({
  kind: 'gqa',
  numHeads: 32,
  numKvHeads: 8,
  headDim: 128,
  vHeadDim: 128,
  window: null,
  chunk: null,
  mla: null,
  cross: false,
  causal: true,
  ...x,
});

describe('KV tokens and bytes per layer', () => {
  it('windows and chunks bound the cached tokens; the smaller wins', () => {
    expect(cachedTokens(attn({}), 10_000)).toBe(10_000);
    expect(cachedTokens(attn({ window: 4096 }), 10_000)).toBe(4096);
    expect(cachedTokens(attn({ chunk: 8192 }), 10_000)).toBe(8192);
    expect(cachedTokens(attn({ window: 4096, chunk: 8192 }), 10_000)).toBe(4096);
    expect(cachedTokens(attn({ window: 8192, chunk: 2048 }), 10_000)).toBe(2048);
    expect(cachedTokens(attn({ window: 4096 }), 100)).toBe(100);
  });
  it('paged sliding window: the blocks positions seq − w … seq − 1 span (16-token blocks, w = 4096)', () => {
    const a = attn({ window: 4096 });
    // seq 10,000: positions 5,904 … 9,999 → blocks 369 … 624 = 256 blocks = 4,096 slots (aligned).
    expect(cachedSlots(a, 10_000, 16)).toBe(4096);
    // seq 10,001: positions 5,905 … 10,000 → blocks 369 … 625 = 257 blocks = 4,112 slots.
    expect(cachedSlots(a, 10_001, 16)).toBe(4112);
    // Below the window: whole blocks of the sequence, ceil(100 / 16) = 7 → 112; seq = w exactly: 4,096.
    expect(cachedSlots(a, 100, 16)).toBe(112);
    expect(cachedSlots(a, 4096, 16)).toBe(4096);
    // Unpaged: the tokens kept.
    expect(cachedSlots(a, 10_001, null)).toBe(4096);
    // Global attention, paged: ceil(10,001 / 16) · 16 = 10,016.
    expect(cachedSlots(attn({}), 10_001, 16)).toBe(10_016);
    // Chunked attention (no window): whole blocks of the chunk, 8,192.
    expect(cachedSlots(attn({ chunk: 8192 }), 10_001, 16)).toBe(8192);
  });
  it('DSA indexer: fp8 key of index_head_dim + 4 B scale per 128 per token; attention reads top-k only', () => {
    // DeepSeek-V3.2: index_head_dim 128, index_topk 2048 → 128 + 4 = 132 B per token and layer.
    const idx = { numHeads: 64, headDim: 128, topK: 2048 };
    const mla = { kvLoraRank: 512, qkRopeHeadDim: 64, qkNopeHeadDim: 128, qLoraRank: 1536, vHeadDim: 128 };
    const a = attn({
      kind: 'mla',
      numHeads: 128,
      numKvHeads: 128,
      headDim: 192,
      mla,
      indexer: idx,
      sparseTopK: 2048,
    });
    expect(indexerBytesPerToken(a)).toBe(132);
    expect(indexerBytesPerToken(attn({ indexer: { ...idx, headDim: 200 } }))).toBe(200 + 2 * 4);
    expect(indexerBytesPerToken(attn({}))).toBe(0);
    // (512 + 64) · 2 B + 132 = 1,284 B per token and layer, whatever tp.
    expect(kvBytesPerTokenLayer(a, 2, 1)).toBe(1284);
    expect(kvBytesPerTokenLayer(a, 2, 8)).toBe(1284);
    expect(attendedTokens(a, 100_000)).toBe(2048);
    expect(attendedTokens(a, 1000)).toBe(1000);
    expect(attendedTokens(attn({ window: 4096 }), 100_000)).toBe(4096);
    // A layer that reuses an earlier layer's top-k (GLM-5.2 "shared"): sparse, no indexer keys of its own.
    const shared = attn({ kind: 'mla', numHeads: 128, numKvHeads: 128, headDim: 192, mla, sparseTopK: 2048 });
    expect(attendedTokens(shared, 100_000)).toBe(2048);
    expect(kvBytesPerTokenLayer(shared, 2, 1)).toBe(1152);
  });
  it('KV heads per device: split, one replicated head below the KV-head count, MLA one latent', () => {
    expect(kvHeadsPerDevice(attn({}), 4)).toBe(2);
    expect(kvHeadsPerDevice(attn({}), 8)).toBe(1);
    expect(kvHeadsPerDevice(attn({}), 16)).toBe(1);
    expect(kvHeadsPerDevice(attn({ kind: 'mla', numKvHeads: 128 }), 1)).toBe(1);
    // Values of another width (vHeadDim 64): 2 heads · (128 + 64) · 2 B = 768 at tp 4.
    expect(kvBytesPerTokenLayer(attn({ vHeadDim: 64 }), 2, 4)).toBe(768);
  });
});
