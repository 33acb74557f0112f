/**
 * GLM-4.5 / 4.5-Air / 4.6 / 4.7 (model_type glm4_moe): GQA with q/k/v biases (no o_proj bias), optional per-head
 * q/k RMSNorms (use_qk_norm), partial RoPE, first_k_dense_replace dense layers then a sigmoid-routed MoE with
 * shared experts and a per-expert score-correction bias (stored in the checkpoint and counted, as for DeepSeek-V3).
 * Tensors as transformers' modeling_glm4_moe. The MTP layer (num_nextn_predict_layers) is listed in
 * `_keys_to_ignore_on_load_unexpected` and not instantiated, so it is not counted.
 * GLM-4.7-Flash (glm4_moe_lite) is DeepSeek-V3 shaped (MLA) and is read by the DeepSeek adapter.
 */
import type { ConfigReader } from '../reader.js';
import type { ModelSpec } from '../spec.js';
import { buildDecoderGroups, decoderGlobals, PRE_NORMS, readDims, type LayerPlan } from '../decoder.js';
import { deepseekMoe, mtpWarnings } from './deepseek.js';
import { finish } from './layer.js';

export function glm4Moe(r: ConfigReader, modelType: string): ModelSpec {
  const dims = readDims(r);
  const vocab = r.int('vocab_size');
  const moe = deepseekMoe(r, dims.intermediate);
  const firstDense = r.optInt('first_k_dense_replace', 1);
  const plans: LayerPlan[] = Array.from({ length: dims.numLayers }, (_, i) => ({
    window: null,
    chunk: null,
    moe: moe !== null && i >= firstDense,
  }));
  const bias = r.bool('attention_bias', false);
  const groups = buildDecoderGroups({
    dims,
    plans,
    moe,
    traits: {
      attention: {
        qkvBias: bias,
        oBias: false,
        qkNorm: r.bool('use_qk_norm', false) ? 'head' : null,
        sinks: false,
      },
      mlpBias: false,
      normBias: false,
      layerNorms: PRE_NORMS,
      gated: true,
      activation: r.str('hidden_act', 'silu'),
      moe: { routerBias: false, expertBias: false, sharedExpertGate: false, routerCorrectionBias: true },
    },
  }).map((g) => ({
    ...g,
    tensors: g.tensors.map((t) => ({
      ...t,
      name: t.name.replace('mlp.shared_expert.', 'mlp.shared_experts.'),
    })),
  }));
  const tied = r.bool('tie_word_embeddings', false);
  return finish(r, modelType, {
    hiddenSize: dims.hidden,
    vocabSize: vocab,
    numLayers: dims.numLayers,
    maxPositionEmbeddings: r.optInt('max_position_embeddings', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups,
    globalTensors: decoderGlobals(dims.hidden, vocab, tied, { normBias: false }),
    warnings: mtpWarnings(r),
  });
}
