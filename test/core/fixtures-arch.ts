/**
 * Fixtures shared by the arch-* tests: small config builders whose parameter counts the tests work out by hand, and
 * the helpers that read a spec back. Each builder returns a fresh object, so a test that edits its config (or a
 * reader that caches per config) cannot leak into another test.
 */
import { countParameters, specFromConfig } from '../../src/core/arch/index.js';

/** A copy of `o` without `keys` (a key absent, as opposed to set to undefined). */
export function without(o: Record<string, unknown>, ...keys: string[]): Record<string, unknown> {
  const c = { ...o };
  for (const k of keys) delete c[k];
  return c;
}

/** Parameter count of a config. */
export const total = (c: Record<string, unknown>) => countParameters(specFromConfig(c)).total;

/** `m.weight` and `m.bias` for each module name. */
export const wb = (...ms: string[]) => ms.flatMap((m) => [`${m}.weight`, `${m}.bias`]);

/** h 8, 2 layers, 2 heads, vocab 10 under the standard transformers key names; `o` adds family keys. */
export const tinyConfig = (model_type: string, o: Record<string, unknown> = {}) => ({
  model_type,
  hidden_size: 8,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  vocab_size: 10,
  ...o,
});

/**
 * DeepSeek-V3-shaped text model: h 16, 3 layers (the first dense, MLP 32), 2 heads, vocab 10; MLA q_lora 8,
 * kv_lora 4, nope 4, rope 2, v 4; 4 routed experts of 8 (top-2), one shared expert, noaux_tc routing. Layer sizes
 * by hand in arch-moe.test.ts: dense layer 2,092, MoE layer 2,544, outside 336.
 */
export const deepseekMla = (model_type: string) => ({
  model_type,
  hidden_size: 16,
  num_hidden_layers: 3,
  num_attention_heads: 2,
  vocab_size: 10,
  intermediate_size: 32,
  q_lora_rank: 8,
  kv_lora_rank: 4,
  qk_nope_head_dim: 4,
  qk_rope_head_dim: 2,
  v_head_dim: 4,
  n_routed_experts: 4,
  num_experts_per_tok: 2,
  moe_intermediate_size: 8,
  n_shared_experts: 1,
  first_k_dense_replace: 1,
  topk_method: 'noaux_tc',
});
