/** Encoder and encoder-decoder families: bert, roberta (BertModel with pooler), t5 (ForConditionalGeneration). */
import type { ConfigReader } from '../reader.js';
import type { ModelSpec, Tensor } from '../spec.js';
import { linear, norm } from '../tensors.js';
import { dense, finish, group, mha, range } from './layer.js';

/** BERT-style encoder as BertModel instantiates it (embeddings, layers, pooler); no task head. */
export function bert(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('hidden_size');
  const n = r.int('num_hidden_layers');
  const heads = r.int('num_attention_heads');
  const inter = r.int('intermediate_size');
  const vocab = r.int('vocab_size');
  const positions = r.int('max_position_embeddings');
  const types = r.optInt('type_vocab_size', 2);
  const layer = [
    ...linear('attention.self.query', h, h, 'attention', true),
    ...linear('attention.self.key', h, h, 'attention', true),
    ...linear('attention.self.value', h, h, 'attention', true),
    ...linear('attention.output.dense', h, h, 'attention', true),
    ...norm('attention.output.LayerNorm', h, true),
    ...linear('intermediate.dense', inter, h, 'mlp', true),
    ...linear('output.dense', h, inter, 'mlp', true),
    ...norm('output.LayerNorm', h, true),
  ];
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: positions,
    tiedEmbeddings: true,
    structure: 'encoder',
    groups: [
      group(
        'encoder',
        'encoder',
        range(n),
        {
          attention: mha(heads, heads, h / heads, { causal: false }),
          mlp: dense(inter, false, r.str('hidden_act', 'gelu')),
        },
        layer,
      ),
    ],
    globalTensors: [
      { name: 'embeddings.word_embeddings.weight', shape: [vocab, h], role: 'embedding' },
      { name: 'embeddings.position_embeddings.weight', shape: [positions, h], role: 'position' },
      { name: 'embeddings.token_type_embeddings.weight', shape: [types, h], role: 'embedding' },
      ...norm('embeddings.LayerNorm', h, true),
      ...linear('pooler.dense', h, h, 'lm_head', true),
    ],
  });
}

/** T5 / T5 v1.1 / Flan-T5: relative position biases in the first layer of each stack, no biases elsewhere. */
export function t5(r: ConfigReader, modelType: string): ModelSpec {
  const d = r.int('d_model');
  const dkv = r.int('d_kv');
  const dff = r.int('d_ff');
  const nEnc = r.int('num_layers');
  const nDec = r.optInt('num_decoder_layers', nEnc);
  const heads = r.int('num_heads');
  const vocab = r.int('vocab_size');
  const buckets = r.optInt('relative_attention_num_buckets', 32);
  const proj = r.str('feed_forward_proj', 'relu');
  const gated = proj.startsWith('gated-');
  const act = gated ? proj.slice(6) : proj;
  const inner = heads * dkv;
  const attn = (p: string): Tensor[] => [
    ...linear(`${p}.q`, inner, d, 'attention', false),
    ...linear(`${p}.k`, inner, d, 'attention', false),
    ...linear(`${p}.v`, inner, d, 'attention', false),
    ...linear(`${p}.o`, d, inner, 'attention', false),
  ];
  const ff: Tensor[] = [
    ...(gated
      ? [
          ...linear('DenseReluDense.wi_0', dff, d, 'mlp', false),
          ...linear('DenseReluDense.wi_1', dff, d, 'mlp', false),
        ]
      : linear('DenseReluDense.wi', dff, d, 'mlp', false)),
    ...linear('DenseReluDense.wo', d, dff, 'mlp', false),
  ];
  const enc = [
    ...attn('SelfAttention'),
    ...norm('layer_norm.0', d, false),
    ...ff,
    ...norm('layer_norm.1', d, false),
  ];
  const dec = [
    ...attn('SelfAttention'),
    ...norm('layer_norm.0', d, false),
    ...attn('EncDecAttention'),
    ...norm('layer_norm.1', d, false),
    ...ff,
    ...norm('layer_norm.2', d, false),
  ];
  const tied = r.bool('tie_word_embeddings', true);
  const mlp = dense(dff, gated, act);
  return finish(r, modelType, {
    hiddenSize: d,
    vocabSize: vocab,
    numLayers: nDec,
    maxPositionEmbeddings: null,
    tiedEmbeddings: tied,
    structure: 'encoder-decoder',
    groups: [
      group(
        'encoder',
        'encoder',
        range(nEnc),
        { attention: { ...mha(heads, heads, dkv, { causal: false }) }, mlp },
        enc,
      ),
      group(
        'decoder',
        'decoder',
        range(nDec),
        {
          attention: mha(heads, heads, dkv),
          crossAttention: mha(heads, heads, dkv, { cross: true, causal: false }),
          mlp,
        },
        dec,
      ),
    ],
    globalTensors: [
      { name: 'shared.weight', shape: [vocab, d], role: 'embedding' },
      { name: 'encoder.block.0.relative_attention_bias.weight', shape: [buckets, heads], role: 'position' },
      { name: 'decoder.block.0.relative_attention_bias.weight', shape: [buckets, heads], role: 'position' },
      ...norm('encoder.final_layer_norm', d, false),
      ...norm('decoder.final_layer_norm', d, false),
      ...(tied ? [] : linear('lm_head', vocab, d, 'lm_head', false)),
    ],
  });
}
