/** DeepSeek-V2/V3: multi-head latent attention, first-k dense layers then MoE with shared experts. */
import type { ConfigReader } from '../reader.js';
import type { AttentionSpec, ModelSpec, MoeMlpSpec } from '../spec.js';
import {
  attentionSpec,
  buildDecoderGroups,
  decoderGlobals,
  PRE_NORMS,
  readDims,
  type LayerPlan,
} from '../decoder.js';
import { finish } from './layer.js';

/**
 * DeepSeek-style routed experts (n_routed_experts, moe_intermediate_size, n_shared_experts folded into one shared
 * MLP), as DeepSeek-V2/V3 and GLM-4.5+ configs name them; null for a dense model.
 */
export function deepseekMoe(r: ConfigReader, denseIntermediate: number): MoeMlpSpec | null {
  const experts = r.optInt('n_routed_experts', 0);
  if (experts <= 0) return null;
  const moeInter = r.optInt('moe_intermediate_size', denseIntermediate);
  return {
    kind: 'moe',
    numExperts: experts,
    topK: r.int('num_experts_per_tok'),
    gated: true,
    activation: r.str('hidden_act', 'silu'),
    expertIntermediateSize: moeInter,
    sharedIntermediateSize: r.optInt('n_shared_experts', 0) * moeInter,
  };
}

/** The MTP layer (num_nextn_predict_layers) is in the checkpoint, not in the instantiated model: named, not counted. */
export function mtpWarnings(r: ConfigReader): string[] {
  const mtp = r.optInt('num_nextn_predict_layers', 0);
  return mtp > 0
    ? [
        `num_nextn_predict_layers=${mtp}: the multi-token-prediction layer is stored in the checkpoint but not instantiated by the model; it is not counted`,
      ]
    : [];
}

export function deepseek(r: ConfigReader, modelType: string): ModelSpec {
  const dims = readDims(r);
  const vocab = r.int('vocab_size');
  // DeepSeek-MoE (model_type deepseek) has the same MoE layout with plain multi-head attention.
  const mla = modelType !== 'deepseek';
  const qLora = r.optInt('q_lora_rank', null);
  const kvLora = mla ? r.int('kv_lora_rank') : 0;
  const nope = mla ? r.int('qk_nope_head_dim') : 0;
  const rope = mla ? r.int('qk_rope_head_dim') : 0;
  const v = mla ? r.int('v_head_dim') : 0;
  const firstDense = r.optInt('first_k_dense_replace', 0);
  const freq = Math.max(r.optInt('moe_layer_freq', 1), 1);
  const moe = deepseekMoe(r, dims.intermediate);
  const plans: LayerPlan[] = [];
  for (let i = 0; i < dims.numLayers; i++) {
    plans.push({ window: null, chunk: null, moe: moe !== null && i >= firstDense && i % freq === 0 });
  }
  const attention = (plan: LayerPlan): AttentionSpec =>
    mla
      ? {
          kind: 'mla',
          numHeads: dims.numHeads,
          numKvHeads: dims.numHeads,
          headDim: nope + rope,
          vHeadDim: v,
          window: null,
          chunk: null,
          mla: {
            qLoraRank: qLora,
            kvLoraRank: kvLora,
            qkNopeHeadDim: nope,
            qkRopeHeadDim: rope,
            vHeadDim: v,
          },
          cross: false,
          causal: true,
        }
      : attentionSpec(dims, plan);
  const tied = r.bool('tie_word_embeddings', false);
  const groups = buildDecoderGroups({
    dims,
    plans,
    moe,
    attention,
    traits: {
      attention: { qkvBias: false, oBias: false, qkNorm: null, sinks: false },
      mlpBias: false,
      normBias: false,
      layerNorms: PRE_NORMS,
      gated: true,
      activation: r.str('hidden_act', 'silu'),
      // V3's noaux_tc routing adds a per-expert score-correction bias to the router.
      moe: {
        routerBias: false,
        expertBias: false,
        sharedExpertGate: false,
        routerCorrectionBias: r.str('topk_method', '') === 'noaux_tc',
      },
    },
  });
  const warnings: string[] = [];
  warnings.push(...mtpWarnings(r));
  return finish(r, modelType, {
    hiddenSize: dims.hidden,
    vocabSize: vocab,
    numLayers: dims.numLayers,
    maxPositionEmbeddings: r.optInt('max_position_embeddings', null),
    tiedEmbeddings: tied,
    structure: 'decoder',
    groups,
    globalTensors: decoderGlobals(dims.hidden, vocab, tied, { normBias: false }),
    warnings,
  });
}
