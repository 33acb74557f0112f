/**
 * Weight layout (src/core/memory/weights.ts): bytes at a storage format, sorted by how they shard. Worked out by hand
 * from the Llama-2-7B config.
 */
import { describe, expect, it } from 'vitest';
import { FormatError, weightLayout } from '../../src/core/memory/weights.js';
import { referenceSpec } from '../helpers.js';

const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
const P = 6_738_415_616;

describe('weight layout of Llama-2-7B', () => {
  it('bf16: per layer q, o (attention) and gate, up, down (mlp) split; k, v apart; norms replicated', () => {
    const w = weightLayout(llama2, 'bf16');
    expect(w.groups).toEqual([
      {
        tpSplit: 2 * (2 * 4096 * 4096 + 3 * 4096 * 11008), // 337,641,472
        kvProj: 2 * 2 * 4096 * 4096, // 67,108,864
        expert: 0,
        replicated: 2 * 2 * 4096, // 16,384
        splitByRole: { attention: 2 * 2 * 4096 * 4096, mlp: 2 * 3 * 4096 * 11008 },
      },
    ]);
    // Embedding and head 32000 · 4096 · 2 B each, split by vocabulary; the final norm replicated.
    expect(w).toMatchObject({
      format: 'bf16',
      embeddingBytes: 262_144_000,
      headBytes: 262_144_000,
      vocabSplit: 524_288_000,
      globalReplicated: 8192,
      total: 2 * P,
    });
    expect(weightLayout(llama2, 'bf16')).toBe(w); // memoised per spec and format
  });

  it('fp32 keeps every tensor at 4 B (no 16-bit floor): 4P', () => {
    const w = weightLayout(llama2, 'fp32');
    expect(w.total).toBe(4 * P);
    expect(w.groups[0]!.replicated).toBe(4 * 2 * 4096);
    expect(w.globalReplicated).toBe(4 * 4096);
  });

  it('GGUF Q4_K_M: Q6_K for attn_v and ffn_down in llama.cpp use_more_bits layers and for the output', () => {
    // Q4_K 144 B and Q6_K 210 B per 256 weights; norms at 4 B. use_more_bits(i, 32): i < 4, i >= 28, or
    // (i − 4) % 3 == 2 → layers 0-3, 6, 9, …, 27, 28-31: 16 layers.
    // 4096² → 65,536 blocks: 9,437,184 (Q4_K) / 13,762,560 (Q6_K); 4096 · 11008 → 176,128 blocks: 25,362,432 /
    // 36,986,880. Plain layer: 4 · 9,437,184 + 3 · 25,362,432 = 113,836,032; raised layer: 3 · 9,437,184 +
    // 13,762,560 + 2 · 25,362,432 + 36,986,880 = 129,785,856; norms 2 · 4096 · 4 = 32,768 each.
    // 16 · 113,836,032 + 16 · 129,785,856 + 32 · 32,768 = 3,898,998,784; embedding Q4_K 512,000 · 144 =
    // 73,728,000; output Q6_K 512,000 · 210 = 107,520,000; final norm 16,384. Total 4,080,263,168.
    const w = weightLayout(llama2, 'q4_k_m');
    expect(w.total).toBe(4_080_263_168);
    expect(w.embeddingBytes).toBe(73_728_000);
    expect(w.headBytes).toBe(107_520_000);
    expect(w.globalReplicated).toBe(16_384);
    // One layer stands for the mean: k always Q4_K, v half the layers Q6_K → 9,437,184 + 11,599,872.
    expect(w.groups[0]!.kvProj).toBe(21_037_056);
    expect(w.groups[0]!.replicated).toBe(32_768);
  });

  it("'auto' (or 'checkpoint') keeps a float32 checkpoint at 4 B: Mamba-130m 4 · 129,135,360", () => {
    const m = referenceSpec('state-spaces__mamba-130m-hf.json');
    expect(weightLayout(m, 'auto').total).toBe(4 * 129_135_360);
    expect(weightLayout(m, 'checkpoint').total).toBe(4 * 129_135_360);
    expect(weightLayout(llama2, 'checkpoint').total).toBe(2 * P); // float16 checkpoint: 16-bit
  });

  it('BERT-base: the pooler dense is the head; its bias, the positions and the LayerNorm are replicated', () => {
    const w = weightLayout(referenceSpec('google-bert__bert-base-uncased.json'), 'bf16');
    expect(w.headBytes).toBe(768 * 768 * 2); // 1,179,648
    expect(w.globalReplicated).toBe((512 * 768 + 2 * 768 + 768) * 2); // 791,040
    // Word and token-type embeddings (2-D, role embedding): (30,522 + 2) · 768 · 2 B.
    expect(w.embeddingBytes).toBe(46_884_864);
    expect(w.vocabSplit).toBe(46_884_864 + 1_179_648);
  });

  it('an unknown format is refused by name', () => {
    expect(() => weightLayout(llama2, 'q9_x')).toThrow(FormatError);
    expect(() => weightLayout(llama2, 'q9_x')).toThrow("unknown weight precision 'q9_x'");
  });

  it('GPT-2: a tied model has no head bytes; wpe and ln_f are replicated globals', () => {
    const w = weightLayout(referenceSpec('openai-community__gpt2.json'), 'bf16');
    expect(w.headBytes).toBe(0);
    expect(w.embeddingBytes).toBe(50257 * 768 * 2); // 77,194,752
    expect(w.globalReplicated).toBe((1024 * 768 + 2 * 768) * 2); // wpe + ln_f: 1,575,936
    // Per layer: biases are vectors, replicated: ln_1, ln_2 (4 · 768) + c_attn (2304) + c_proj (768) + c_fc
    // (3072) + mlp.c_proj (768) = 9,984 · 2 B = 19,968.
    expect(w.groups[0]!.replicated).toBe(19_968);
  });
});
