/** Early decoder families with their own module layouts: gpt2, gpt_neox, gptj, opt, bloom, falcon, phi. */
import type { ConfigReader } from '../reader.js';
import type { ModelSpec, Tensor } from '../spec.js';
import { linear, norm } from '../tensors.js';
import { conv1d, dense, finish, group, mha, range } from './layer.js';

export function gpt2(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('n_embd', 'hidden_size');
  const n = r.int('n_layer', 'num_hidden_layers');
  const heads = r.int('n_head', 'num_attention_heads');
  const inner = r.optInt('n_inner', 4 * h);
  const vocab = r.int('vocab_size');
  const positions = r.int('n_positions', 'max_position_embeddings');
  const layer: Tensor[] = [
    ...norm('ln_1', h, true),
    ...conv1d('attn.c_attn', h, 3 * h, 'attention'),
    ...conv1d('attn.c_proj', h, h, 'attention'),
    ...norm('ln_2', h, true),
    ...conv1d('mlp.c_fc', h, inner, 'mlp'),
    ...conv1d('mlp.c_proj', inner, h, 'mlp'),
  ];
  const tied = r.bool('tie_word_embeddings', true);
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: positions,
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: [
      group(
        'decoder',
        'decoder',
        range(n),
        {
          attention: mha(heads, heads, h / heads),
          mlp: dense(inner, false, r.str('activation_function', 'gelu_new')),
        },
        layer,
      ),
    ],
    globalTensors: [
      { name: 'wte.weight', shape: [vocab, h], role: 'embedding' },
      { name: 'wpe.weight', shape: [positions, h], role: 'position' },
      ...norm('ln_f', h, true),
      ...(tied ? [] : linear('lm_head', vocab, h, 'lm_head', false)),
    ],
  });
}

export function gptNeox(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('hidden_size');
  const n = r.int('num_hidden_layers');
  const heads = r.int('num_attention_heads');
  const inter = r.int('intermediate_size');
  const vocab = r.int('vocab_size');
  const bias = r.bool('attention_bias', true);
  const layer = [
    ...norm('input_layernorm', h, true),
    ...norm('post_attention_layernorm', h, true),
    ...linear('attention.query_key_value', 3 * h, h, 'attention', bias),
    ...linear('attention.dense', h, h, 'attention', bias),
    ...linear('mlp.dense_h_to_4h', inter, h, 'mlp', true),
    ...linear('mlp.dense_4h_to_h', h, inter, 'mlp', true),
  ];
  const tied = r.bool('tie_word_embeddings', false);
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: r.optInt('max_position_embeddings', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: [
      group(
        'decoder',
        'decoder',
        range(n),
        { attention: mha(heads, heads, h / heads), mlp: dense(inter, false, r.str('hidden_act', 'gelu')) },
        layer,
      ),
    ],
    globalTensors: [
      { name: 'embed_in.weight', shape: [vocab, h], role: 'embedding' },
      ...norm('final_layer_norm', h, true),
      ...(tied ? [] : linear('embed_out', vocab, h, 'lm_head', false)),
    ],
  });
}

export function gptj(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('n_embd', 'hidden_size');
  const n = r.int('n_layer', 'num_hidden_layers');
  const heads = r.int('n_head', 'num_attention_heads');
  const inner = r.optInt('n_inner', 4 * h);
  const vocab = r.int('vocab_size');
  const layer = [
    ...norm('ln_1', h, true),
    ...linear('attn.q_proj', h, h, 'attention', false),
    ...linear('attn.k_proj', h, h, 'attention', false),
    ...linear('attn.v_proj', h, h, 'attention', false),
    ...linear('attn.out_proj', h, h, 'attention', false),
    ...linear('mlp.fc_in', inner, h, 'mlp', true),
    ...linear('mlp.fc_out', h, inner, 'mlp', true),
  ];
  const tied = r.bool('tie_word_embeddings', false);
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: r.optInt('n_positions', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: [
      group(
        'decoder',
        'decoder',
        range(n),
        {
          attention: mha(heads, heads, h / heads),
          mlp: dense(inner, false, r.str('activation_function', 'gelu_new')),
        },
        layer,
      ),
    ],
    globalTensors: [
      { name: 'wte.weight', shape: [vocab, h], role: 'embedding' },
      ...norm('ln_f', h, true),
      // GPT-J's LM head has a bias.
      ...(tied
        ? [{ name: 'lm_head.bias', shape: [vocab], role: 'lm_head' } as Tensor]
        : linear('lm_head', vocab, h, 'lm_head', true)),
    ],
  });
}

export function opt(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('hidden_size');
  const n = r.int('num_hidden_layers');
  const heads = r.int('num_attention_heads');
  const ffn = r.int('ffn_dim');
  const vocab = r.int('vocab_size');
  const positions = r.int('max_position_embeddings');
  const proj = r.optInt('word_embed_proj_dim', h);
  const bias = r.bool('enable_bias', true);
  const affine = r.bool('layer_norm_elementwise_affine', true);
  const lnT = (name: string) => (affine ? norm(name, h, true) : []);
  const layer = [
    ...linear('self_attn.q_proj', h, h, 'attention', bias),
    ...linear('self_attn.k_proj', h, h, 'attention', bias),
    ...linear('self_attn.v_proj', h, h, 'attention', bias),
    ...linear('self_attn.out_proj', h, h, 'attention', bias),
    ...lnT('self_attn_layer_norm'),
    ...linear('fc1', ffn, h, 'mlp', bias),
    ...linear('fc2', h, ffn, 'mlp', bias),
    ...lnT('final_layer_norm'),
  ];
  const finalNorm = r.bool('do_layer_norm_before', true) && !r.bool('_remove_final_layer_norm', false);
  const tied = r.bool('tie_word_embeddings', true);
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: positions,
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: [
      group(
        'decoder',
        'decoder',
        range(n),
        {
          attention: mha(heads, heads, h / heads),
          mlp: dense(ffn, false, r.str('activation_function', 'relu')),
        },
        layer,
      ),
    ],
    globalTensors: [
      { name: 'embed_tokens.weight', shape: [vocab, proj], role: 'embedding' },
      // OPT's learned positions carry an offset of 2.
      { name: 'embed_positions.weight', shape: [positions + 2, h], role: 'position' },
      ...(finalNorm ? lnT('final_layer_norm') : []),
      ...(proj !== h
        ? [
            ...linear('project_in', h, proj, 'embedding', false),
            ...linear('project_out', proj, h, 'lm_head', false),
          ]
        : []),
      ...(tied ? [] : linear('lm_head', vocab, proj, 'lm_head', false)),
    ],
  });
}

export function bloom(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('hidden_size', 'n_embed');
  const n = r.int('n_layer', 'num_hidden_layers');
  const heads = r.int('n_head', 'num_attention_heads');
  const vocab = r.int('vocab_size');
  const layer = [
    ...norm('input_layernorm', h, true),
    ...linear('self_attention.query_key_value', 3 * h, h, 'attention', true),
    ...linear('self_attention.dense', h, h, 'attention', true),
    ...norm('post_attention_layernorm', h, true),
    ...linear('mlp.dense_h_to_4h', 4 * h, h, 'mlp', true),
    ...linear('mlp.dense_4h_to_h', h, 4 * h, 'mlp', true),
  ];
  const tied = r.bool('tie_word_embeddings', true);
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: null,
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: [
      group(
        'decoder',
        'decoder',
        range(n),
        { attention: mha(heads, heads, h / heads), mlp: dense(4 * h, false, 'gelu') },
        layer,
      ),
    ],
    globalTensors: [
      { name: 'word_embeddings.weight', shape: [vocab, h], role: 'embedding' },
      ...norm('word_embeddings_layernorm', h, true),
      ...norm('ln_f', h, true),
      ...(tied ? [] : linear('lm_head', vocab, h, 'lm_head', false)),
    ],
  });
}

export function falcon(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('hidden_size', 'n_embed');
  const n = r.int('num_hidden_layers', 'n_layer');
  const heads = r.int('num_attention_heads', 'n_head');
  const vocab = r.int('vocab_size');
  const newArch = r.bool('new_decoder_architecture', false);
  const kv = newArch
    ? r.optInt(['num_kv_heads', 'n_head_kv'], heads)
    : r.bool('multi_query', true)
      ? 1
      : heads;
  const hd = h / heads;
  const bias = r.bool('bias', false);
  const ffn = r.optInt('ffn_hidden_size', 4 * h);
  const parallel = r.bool('parallel_attn', true);
  const twoLn = newArch && r.optInt('num_ln_in_parallel_attn', 2) === 2;
  const norms = twoLn
    ? [...norm('ln_attn', h, true), ...norm('ln_mlp', h, true)]
    : [...norm('input_layernorm', h, true), ...(parallel ? [] : norm('post_attention_layernorm', h, true))];
  const layer = [
    ...norms,
    ...linear('self_attention.query_key_value', (heads + 2 * kv) * hd, h, 'attention', bias),
    ...linear('self_attention.dense', h, h, 'attention', bias),
    ...linear('mlp.dense_h_to_4h', ffn, h, 'mlp', bias),
    ...linear('mlp.dense_4h_to_h', h, ffn, 'mlp', bias),
  ];
  const tied = r.bool('tie_word_embeddings', true);
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: r.optInt('max_position_embeddings', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: [
      group(
        'decoder',
        'decoder',
        range(n),
        { attention: mha(heads, kv, hd), mlp: dense(ffn, false, 'gelu') },
        layer,
      ),
    ],
    globalTensors: [
      { name: 'word_embeddings.weight', shape: [vocab, h], role: 'embedding' },
      ...norm('ln_f', h, true),
      ...(tied ? [] : linear('lm_head', vocab, h, 'lm_head', false)),
    ],
  });
}

/** Phi-1/1.5/2: parallel attention and MLP behind one LayerNorm, biases everywhere, LM head with bias. */
export function phi(r: ConfigReader, modelType: string): ModelSpec {
  const h = r.int('hidden_size');
  const n = r.int('num_hidden_layers');
  const heads = r.int('num_attention_heads');
  const kv = r.optInt('num_key_value_heads', heads);
  const inter = r.int('intermediate_size');
  const vocab = r.int('vocab_size');
  const hd = h / heads;
  const qkLn = r.bool('qk_layernorm', false);
  const layer = [
    ...norm('input_layernorm', h, true),
    ...linear('self_attn.q_proj', heads * hd, h, 'attention', true),
    ...linear('self_attn.k_proj', kv * hd, h, 'attention', true),
    ...linear('self_attn.v_proj', kv * hd, h, 'attention', true),
    ...linear('self_attn.dense', h, heads * hd, 'attention', true),
    ...(qkLn ? [...norm('self_attn.q_layernorm', hd, true), ...norm('self_attn.k_layernorm', hd, true)] : []),
    ...linear('mlp.fc1', inter, h, 'mlp', true),
    ...linear('mlp.fc2', h, inter, 'mlp', true),
  ];
  const tied = r.bool('tie_word_embeddings', false);
  return finish(r, modelType, {
    hiddenSize: h,
    vocabSize: vocab,
    numLayers: n,
    maxPositionEmbeddings: r.optInt('max_position_embeddings', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups: [
      group(
        'decoder',
        'decoder',
        range(n),
        { attention: mha(heads, kv, hd), mlp: dense(inter, false, r.str('hidden_act', 'gelu_new')) },
        layer,
      ),
    ],
    globalTensors: [
      { name: 'embed_tokens.weight', shape: [vocab, h], role: 'embedding' },
      ...norm('final_layernorm', h, true),
      ...(tied
        ? [{ name: 'lm_head.bias', shape: [vocab], role: 'lm_head' } as Tensor]
        : linear('lm_head', vocab, h, 'lm_head', true)),
    ],
  });
}
