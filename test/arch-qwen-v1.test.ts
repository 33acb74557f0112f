/**
 * Qwen v1 (model_type 'qwen'): the configs are the published config.json of Qwen/Qwen-7B and Qwen/Qwen-72B (the
 * keys that shape the weights). Counts derived by hand from modeling_qwen.py:
 *   per layer = c_attn h·3h + 3h (bias) + c_proj h·h + MLP 3·h·(I/2) + ln_1, ln_2 2h
 *   total     = L · layer + wte V·h + lm_head V·h (untied) + ln_f h
 * Qwen-7B  (h 4096, L 32, I 22016, V 151936): 32 · 202,395,648 + 1,244,659,712 + 4096 = 7,721,324,544
 * Qwen-72B (h 8192, L 80, I 49152, V 152064): 80 · 872,456,192 + 2,491,416,576 + 8192 = 72,287,920,128
 */
import { describe, expect, it } from 'vitest';
import { countParameters, specFromConfig } from '../src/core/arch/index.js';

const common = {
  architectures: ['QWenLMHeadModel'],
  model_type: 'qwen',
  no_bias: true,
  layer_norm_epsilon: 1e-6,
  rotary_pct: 1.0,
  rotary_emb_base: 10000,
  use_dynamic_ntk: true,
  use_logn_attn: true,
  tie_word_embeddings: false,
  tokenizer_class: 'QWenTokenizer',
};
const qwen7b = {
  ...common,
  hidden_size: 4096,
  intermediate_size: 22016,
  kv_channels: 128,
  max_position_embeddings: 8192,
  num_attention_heads: 32,
  num_hidden_layers: 32,
  seq_length: 8192,
  vocab_size: 151936,
};
const qwen72b = {
  ...common,
  hidden_size: 8192,
  intermediate_size: 49152,
  kv_channels: 128,
  max_position_embeddings: 32768,
  num_attention_heads: 64,
  num_hidden_layers: 80,
  seq_length: 32768,
  vocab_size: 152064,
};

describe('Qwen v1 (model_type qwen)', () => {
  it('Qwen-7B has exactly 7,721,324,544 parameters', () => {
    const spec = specFromConfig(qwen7b);
    expect(countParameters(spec).total).toBe(7_721_324_544);
    expect(spec.warnings).toEqual([]);
  });

  it('Qwen-72B has exactly 72,287,920,128 parameters', () => {
    expect(countParameters(specFromConfig(qwen72b)).total).toBe(72_287_920_128);
  });

  it('each MLP projection is intermediate_size / 2 wide; MHA with head size kv_channels', () => {
    const g = specFromConfig(qwen7b).groups[0]!;
    expect(g.mlp).toMatchObject({ kind: 'dense', intermediateSize: 11008 });
    expect(g.attention).toMatchObject({ numHeads: 32, numKvHeads: 32, headDim: 128 });
  });

  it('an odd intermediate_size is refused by name', () => {
    expect(() => specFromConfig({ ...qwen7b, intermediate_size: 22017 })).toThrow(/intermediate_size/);
  });
});

describe('an unknown model_type is read as llama and says so', () => {
  it('the spec carries the warning', () => {
    const spec = specFromConfig({ ...qwen7b, model_type: 'qwen_next_gen' });
    expect(spec.warnings.join(' ')).toMatch(/model_type 'qwen_next_gen' is not known.*llama-like/);
  });
});
