/**
 * DeepSeek (MLA + routed and shared experts), GLM-4.5 MoE and MiniMax-M2 read from small configs: counts worked out
 * by hand in the comments from the transformers module layouts, and variants (key absent, flag flipped) whose
 * change is also worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { countParameters, specFromConfig, type ModelSpec } from '../../src/core/arch/index.js';
import { deepseekMla, total, without } from './fixtures-arch.js';

const layerNames = (s: ModelSpec) => s.groups.flatMap((g) => g.tensors.map((t) => t.name));

describe('deepseek_v3 (MLA)', () => {
  // h 16, 3 layers, 2 heads, vocab 10, dense MLP 32; MLA q_lora 8, kv_lora 4, nope 4, rope 2, v 4;
  // 4 routed experts of 8 (top-2), one shared expert, the first layer dense, noaux_tc routing.
  const C = deepseekMla('deepseek_v3');
  // MLA: q_a 8x16 = 128 + q_a norm 8 + q_b (2 x 6) x 8 = 96 + kv_a (4 + 2) x 16 = 96 + kv_a norm 4
  // + kv_b (2 x (4 + 4)) x 4 = 64 + o 16 x 8 = 128 = 524. Two RMSNorms 32. Dense MLP 3 x 32 x 16 = 1,536.
  // MoE: router 4x16 = 64 + correction bias 4 + experts 4 x 3 x 8 x 16 = 1,536 + shared 3 x 8 x 16 = 384 = 1,988.
  const DENSE = 524 + 32 + 1536; // 2,092
  const MOE = 524 + 32 + 1988; // 2,544
  const OUT = 160 + 16 + 160;
  const T = DENSE + 2 * MOE + OUT;

  it('counts, MLA dims and MoE layers', () => {
    const s = specFromConfig(C);
    const p = countParameters(s);
    expect(p.total).toBe(T);
    // Top-2 of 4: half of each MoE layer's 1,536 expert parameters idle.
    expect(p.active).toBe(T - 2 * 768);
    expect(p.breakdown.router).toBe(2 * 68);
    expect(p.breakdown.shared_expert).toBe(2 * 384);
    const moe = s.groups.find((g) => g.mlp?.kind === 'moe')!;
    expect(moe.layers).toEqual([1, 2]);
    expect(moe.mlp).toEqual({
      kind: 'moe',
      numExperts: 4,
      topK: 2,
      gated: true,
      activation: 'silu',
      expertIntermediateSize: 8,
      sharedIntermediateSize: 8,
    });
    expect(moe.attention).toEqual({
      kind: 'mla',
      numHeads: 2,
      numKvHeads: 2,
      headDim: 6,
      vHeadDim: 4,
      window: null,
      chunk: null,
      mla: { qLoraRank: 8, kvLoraRank: 4, qkNopeHeadDim: 4, qkRopeHeadDim: 2, vHeadDim: 4 },
      cross: false,
      causal: true,
    });
    expect(s.warnings).toEqual([]);
    expect(s.tiedEmbeddings).toBe(false);
  });

  it('variants', () => {
    // No q LoRA: q_proj (2 x 6) x 16 = 192 instead of 128 + 8 + 96 = 232.
    expect(total(without(C, 'q_lora_rank'))).toBe(T - 3 * 40);
    expect(total(without(C, 'topk_method'))).toBe(T - 2 * 4);
    expect(total(without(C, 'n_shared_experts'))).toBe(T - 2 * 384);
    // Experts as wide as the dense MLP (32): experts 4 x 1,536 = 6,144, shared 1,536 -> MoE 7,748.
    expect(total(without(C, 'moe_intermediate_size'))).toBe(DENSE + 2 * (524 + 32 + 7748) + OUT);
    expect(total(without(C, 'first_k_dense_replace'))).toBe(3 * MOE + OUT);
    // MoE every 2nd layer from layer 1: only layer 2.
    expect(total({ ...C, moe_layer_freq: 2 })).toBe(2 * DENSE + MOE + OUT);
    expect(total(without(C, 'n_routed_experts'))).toBe(3 * DENSE + OUT);
    expect(total({ ...C, tie_word_embeddings: true })).toBe(T - 160);
    expect(specFromConfig({ ...C, num_nextn_predict_layers: 1 }).warnings).toHaveLength(1);
    expect(specFromConfig({ ...C, max_position_embeddings: 4096 }).maxPositionEmbeddings).toBe(4096);
    expect(specFromConfig(C).maxPositionEmbeddings).toBeNull();
    expect(specFromConfig(C).structure).toBe('decoder');
    // hidden_act reaches the dense and the expert MLPs.
    const act = specFromConfig({ ...C, hidden_act: 'gelu' });
    expect(act.groups.map((g) => g.mlp!.activation)).toEqual(['gelu', 'gelu']);
    expect(() => specFromConfig(without(C, 'kv_lora_rank'))).toThrow(/kv_lora_rank/);
    expect(() => specFromConfig(without(C, 'num_experts_per_tok'))).toThrow(/num_experts_per_tok/);
  });

  it('deepseek_v2, kimi_k2 and glm4_moe_lite are read the same way', () => {
    for (const model_type of ['deepseek_v2', 'kimi_k2', 'glm4_moe_lite']) {
      const s = specFromConfig({ ...C, model_type });
      expect(countParameters(s).total).toBe(T);
      expect(s.modelType).toBe(model_type);
    }
  });

  it('deepseek (DeepSeek-MoE): the same MoE layout with plain multi-head attention', () => {
    // Attention q/k/v/o 4 x 16 x 16 = 1,024 in place of MLA's 524.
    const s = specFromConfig({ ...C, model_type: 'deepseek' });
    expect(countParameters(s).total).toBe(T + 3 * (1024 - 524));
    expect(s.groups[0]!.attention).toMatchObject({ kind: 'mha', headDim: 8, mla: null });
    const bare = without(
      C,
      'kv_lora_rank',
      'qk_nope_head_dim',
      'qk_rope_head_dim',
      'v_head_dim',
      'q_lora_rank',
    );
    expect(total({ ...bare, model_type: 'deepseek' })).toBe(T + 3 * (1024 - 524));
  });
});

describe('glm4_moe', () => {
  // h 16, 3 layers, 2 heads of 8, 1 KV head, vocab 10, dense MLP 32; 4 experts of 8 (top-2), one shared expert.
  const C = {
    model_type: 'glm4_moe',
    hidden_size: 16,
    num_hidden_layers: 3,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 8,
    vocab_size: 10,
    intermediate_size: 32,
    n_routed_experts: 4,
    num_experts_per_tok: 2,
    moe_intermediate_size: 8,
    n_shared_experts: 1,
  };
  // Attention q 16x16 + k 8x16 + v 8x16 + o 16x16 = 768; norms 32; dense 1,536;
  // MoE: router 64 + correction bias 4 (always) + experts 1,536 + shared 384 = 1,988. First layer dense by default.
  const DENSE = 768 + 32 + 1536;
  const MOE = 768 + 32 + 1988;
  const OUT = 336;
  const T = DENSE + 2 * MOE + OUT;

  it('counts and names', () => {
    const s = specFromConfig(C);
    expect(countParameters(s).total).toBe(T);
    expect(s.groups.find((g) => g.mlp?.kind === 'moe')!.layers).toEqual([1, 2]);
    const names = layerNames(s);
    expect(names).toContain('mlp.shared_experts.gate_proj.weight');
    expect(names).toContain('mlp.gate.e_score_correction_bias');
    expect(names.some((n) => n.startsWith('mlp.shared_expert.'))).toBe(false);
  });

  it('variants', () => {
    // q/k/v biases 16 + 8 + 8, no o_proj bias.
    expect(total({ ...C, attention_bias: true })).toBe(T + 3 * 32);
    // Per-head q/k RMSNorms of 8 each.
    expect(total({ ...C, use_qk_norm: true })).toBe(T + 3 * 16);
    expect(total({ ...C, first_k_dense_replace: 0 })).toBe(3 * MOE + OUT);
    expect(total(without(C, 'n_routed_experts'))).toBe(3 * DENSE + OUT);
    expect(total({ ...C, tie_word_embeddings: true })).toBe(T - 160);
    expect(specFromConfig({ ...C, num_nextn_predict_layers: 1 }).warnings).toHaveLength(1);
    expect(specFromConfig({ ...C, max_position_embeddings: 4096 }).maxPositionEmbeddings).toBe(4096);
    expect(specFromConfig({ ...C, hidden_act: 'gelu' }).groups.map((g) => g.mlp!.activation)).toEqual([
      'gelu',
      'gelu',
    ]);
    expect(specFromConfig(C).structure).toBe('decoder');
    expect(specFromConfig({ ...C, num_nextn_predict_layers: 2 }).warnings[0]).toContain(
      'num_nextn_predict_layers=2',
    );
  });
});

describe('minimax_m2', () => {
  // h 16, 2 layers, 2 heads of 8, 1 KV head, vocab 10; 4 experts of 8 (intermediate_size), top-2.
  const C = {
    model_type: 'minimax_m2',
    hidden_size: 16,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 8,
    vocab_size: 10,
    intermediate_size: 8,
    num_local_experts: 4,
    num_experts_per_tok: 2,
  };
  // Attention 768 + q/k RMSNorms over all heads 16 + 8 (on by default) = 792; norms 32;
  // MoE: router 64 + experts 4 x 3 x 8 x 16 = 1,536 -> 1,600.
  const T = 2 * (792 + 32 + 1600) + 336;

  it('counts and names', () => {
    const s = specFromConfig(C);
    const p = countParameters(s);
    expect(p.total).toBe(T);
    expect(p.active).toBe(T - 2 * 768);
    const names = layerNames(s);
    expect(names).toContain('block_sparse_moe.gate.weight');
    expect(names).toContain('block_sparse_moe.experts.#.gate_proj.weight');
    expect(names).toContain('self_attn.q_norm.weight');
    expect(names.some((n) => n.startsWith('mlp.'))).toBe(false);
    expect(s.warnings).toEqual([]);
  });

  it('variants', () => {
    expect(total({ ...C, use_qk_norm: false })).toBe(T - 2 * 24);
    const rb = specFromConfig({ ...C, use_routing_bias: true });
    expect(countParameters(rb).total).toBe(T + 2 * 4);
    expect(layerNames(rb)).toContain('block_sparse_moe.e_score_correction_bias');
    expect(total({ ...without(C, 'num_local_experts'), num_experts: 4 })).toBe(T);
    expect(total({ ...C, shared_intermediate_size: 8 })).toBe(T + 2 * 384);
    expect(specFromConfig({ ...C, use_mtp: true, num_mtp_modules: 3 }).warnings[0]).toContain(
      'num_mtp_modules=3',
    );
    expect(specFromConfig({ ...C, hidden_act: 'gelu' }).groups[0]!.mlp!.activation).toBe('gelu');
    expect(specFromConfig(C).structure).toBe('decoder');
    expect(specFromConfig({ ...C, use_mtp: true }).warnings).toEqual([]);
    expect(specFromConfig({ ...C, num_mtp_modules: 3 }).warnings).toEqual([]);
    expect(total({ ...C, tie_word_embeddings: true })).toBe(T - 160);
    expect(specFromConfig({ ...C, max_position_embeddings: 4096 }).maxPositionEmbeddings).toBe(4096);
  });
});
