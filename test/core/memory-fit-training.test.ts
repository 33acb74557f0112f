/**
 * trainingFit's recomputation and combined fallbacks (src/core/memory/fit.ts), on specs built fresh in each test.
 * H100 SXM visible memory: 85,520,809,984 B, all of it the budget in training.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { trainingFit } from '../../src/core/memory/fit.js';
import type { TrainingOptions } from '../../src/core/memory/training.js';
import { referenceSpec } from '../helpers.js';

const h100 = () => hardwareSpec(findDevice('h100-sxm-80gb'));
const adamw = (o: Partial<TrainingOptions>): TrainingOptions => ({
  precision: 'bf16',
  optimizer: 'adamw',
  batch: 1,
  seq: 2048,
  ...o,
});

describe('trainingFit suggestions', () => {
  it('LoRA on 8 x 4,096 tokens: full recomputation, TP, a smaller micro-batch or shorter sequences', () => {
    const lora = { rank: 16, targets: 'all-linear' as const };
    const f = trainingFit(
      referenceSpec('meta-llama__Llama-3.1-8B.json'),
      h100(),
      adamw({ lora, batch: 8, seq: 4096 }),
    );
    const d = f.suggestions.map((s) => s.description);
    // Selective recomputation drops no attention scores under flash attention: only full is offered.
    expect(d).toContain('full activation recomputation');
    expect(d).not.toContain('selective activation recomputation');
    expect(f.suggestions.find((s) => 'batch' in s.change)?.description).toMatch(/^micro-batch [1-7]$/);
    expect(f.suggestions.find((s) => 'seq' in s.change)?.description).toMatch(
      /^sequences of at most \d+ tokens$/,
    );
    // QLoRA saves ~11.5 GB of a bf16 base; not the shortfall of 8 x 4,096 tokens' activations.
    expect(d.some((x) => x.startsWith('QLoRA') || x.startsWith('LoRA'))).toBe(false);
  });

  it('selective already set: full is still offered; full already set: no recomputation', () => {
    const lora = { rank: 16, targets: 'all-linear' as const };
    const spec = () => referenceSpec('meta-llama__Llama-3.1-8B.json');
    const sel = trainingFit(spec(), h100(), adamw({ lora, batch: 8, seq: 4096, recompute: 'selective' }));
    expect(sel.suggestions.find((s) => 'recompute' in s.change)?.change).toEqual({ recompute: 'full' });
    const full = trainingFit(spec(), h100(), adamw({ lora, batch: 16, seq: 8192, recompute: 'full' }));
    expect(full.fits).toBe(false);
    expect(full.suggestions.some((s) => 'recompute' in s.change)).toBe(false);
  });

  it('Llama-2-70B, 4 x 4,096 tokens: only ZeRO-3 with full recomputation over 32 ranks fits', () => {
    // 16 B x 68,976,648,192 parameters = 1.10 TB of states. Full recomputation keeps the layer inputs:
    // 4 · 4096 · 8192 · 2 B · 80 layers = 21.5 GB. Over 16 ranks: 69.0 GB + 21.5 GB > 85.5 GB; over 32: 34.5 + 21.5.
    const f = trainingFit(
      referenceSpec('meta-llama__Llama-2-70b-hf.json'),
      h100(),
      adamw({ batch: 4, seq: 4096 }),
    );
    expect(f.suggestions).toHaveLength(1);
    expect(f.suggestions[0]).toMatchObject({
      change: { dp: 32, zero: 3, recompute: 'full' },
      description: 'ZeRO-3 over 32 ranks with full recomputation',
      fits: true,
    });
    expect(f.suggestions[0]!.required_bytes).toBeGreaterThan(34.5e9 + 21.4e9);
  });

  it('Llama-3.1-8B, 16 x 8,192 tokens: ZeRO-3 and full recomputation need TP 8 as well', () => {
    // The layer inputs alone, 16 · 8192 · 4096 · 2 B · 32 = 34.4 GB, and the fp32 logits of 131,072 tokens
    // (131,072 · 128,256 · 4 = 67.2 GB) exceed 85.5 GB on one rank of any data-parallel size; TP 8 splits both.
    const f = trainingFit(
      referenceSpec('meta-llama__Llama-3.1-8B.json'),
      h100(),
      adamw({ batch: 16, seq: 8192 }),
    );
    expect(f.suggestions).toHaveLength(1);
    const s = f.suggestions[0]!;
    expect(s.change).toMatchObject({ tp: 8, zero: 3, recompute: 'full' });
    expect(s.description).toBe(`tensor parallel 8, ZeRO-3 over ${s.change['dp']} ranks, full recomputation`);
    // Already TP 8: that last fallback is not tried.
    const t8 = trainingFit(
      referenceSpec('meta-llama__Llama-3.1-8B.json'),
      h100(),
      adamw({ batch: 32, seq: 8192, tp: 8 }),
    );
    expect(t8.suggestions.some((x) => x.description.startsWith('tensor parallel 8,'))).toBe(false);
  });

  it('full fine-tuning of 8B on one H100: PP 2 (16 layers per stage) is offered, no ZeRO stage without DP', () => {
    // PP 2: 16 B x ~4.0e9 parameters of the worse stage = 64 GB + one stage's activations < 85.5 GB.
    const f = trainingFit(referenceSpec('meta-llama__Llama-3.1-8B.json'), h100(), adamw({}));
    expect(f.suggestions.find((s) => 'pp' in s.change)).toMatchObject({
      change: { pp: 2 },
      description: 'pipeline parallel 2',
      fits: true,
    });
    expect(f.suggestions.some((s) => s.description.startsWith('ZeRO stage'))).toBe(false);
  });

  it('ZeRO already set: only higher stages; FSDP counts as stage 3', () => {
    const spec = () => referenceSpec('meta-llama__Llama-3.1-8B.json');
    // dp 2, ZeRO-1: 10 B/parameter = 80.3 GB + activations, over; ZeRO-2, 9 B = 72.3 GB, fits.
    const z1 = trainingFit(spec(), h100(), adamw({ dp: 2, zero: 1 }));
    expect(z1.fits).toBe(false);
    expect(z1.suggestions.find((s) => s.description.startsWith('ZeRO stage'))?.change).toEqual({ zero: 2 });
    // FSDP over 2 ranks of a 70B model (1.10 TB / 2) does not fit, and no ZeRO stage is above it.
    const fsdp = trainingFit(
      referenceSpec('meta-llama__Llama-2-70b-hf.json'),
      h100(),
      adamw({ dp: 2, zero: 'fsdp' }),
    );
    expect(fsdp.fits).toBe(false);
    expect(fsdp.suggestions.some((s) => s.description.startsWith('ZeRO stage'))).toBe(false);
  });

  it('LoRA on q,v of 8B on a 24 GB L4: the 16 GB bf16 base and the activations do not fit; QLoRA keeps rank and targets', () => {
    const lora = { rank: 64, targets: ['q_proj', 'v_proj'] };
    const spec = () => referenceSpec('meta-llama__Llama-3.1-8B.json');
    const l4 = hardwareSpec(findDevice('l4-24gb'));
    const f = trainingFit(spec(), l4, adamw({ lora } as Partial<TrainingOptions>));
    expect(f.fits).toBe(false);
    // NF4 base: ~0.5 B x 7 GB of linear weights + 2.1 GB of 16-bit embeddings and head: ~10 GB less.
    expect(f.suggestions.find((s) => 'qlora' in s.change)).toMatchObject({
      change: { qlora: true, lora_rank: 64, lora_targets: 'q_proj,v_proj' },
      description: 'QLoRA (4-bit NF4 base) with LoRA rank 64',
    });
    expect(f.suggestions.some((s) => s.description.startsWith('LoRA rank'))).toBe(false);
    // QLoRA already: not offered again.
    const q = trainingFit(
      spec(),
      l4,
      adamw({ lora, qlora: true, batch: 64, seq: 8192 } as Partial<TrainingOptions>),
    );
    expect(q.fits).toBe(false);
    expect(q.suggestions.some((s) => 'qlora' in s.change)).toBe(false);
  });
});
