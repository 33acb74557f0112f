/**
 * MiniMax-M2 / M2.x (model_type minimax_m2): full GQA attention on every layer with q/k RMSNorms over all heads
 * (qk_norm_type per_layer), partial RoPE (rotary_dim), and a sigmoid-routed MoE of num_local_experts experts with a
 * per-expert routing bias (use_routing_bias) and no shared expert. Tensor names follow the checkpoint
 * (block_sparse_moe.*). The routing bias is a parameter of the checkpoint's own modelling code and of vLLM's
 * (an nn.Parameter, as DeepSeek-V3's e_score_correction_bias), so it is counted.
 * The MTP modules (use_mtp, num_mtp_modules) are not instantiated by the model code; they are not counted.
 */
import type { ConfigReader } from '../reader.js';
import type { ModelSpec, MoeMlpSpec } from '../spec.js';
import { buildDecoderGroups, decoderGlobals, PRE_NORMS, readDims, type LayerPlan } from '../decoder.js';
import { finish } from './layer.js';

export function minimaxM2(r: ConfigReader, modelType: string): ModelSpec {
  const dims = readDims(r);
  const vocab = r.int('vocab_size');
  const experts = r.int('num_local_experts', 'num_experts');
  const moe: MoeMlpSpec = {
    kind: 'moe',
    numExperts: experts,
    topK: r.int('num_experts_per_tok'),
    gated: true,
    activation: r.str('hidden_act', 'silu'),
    // MiniMax-M2 names the expert width intermediate_size (there is no dense MLP).
    expertIntermediateSize: dims.intermediate,
    sharedIntermediateSize: r.optInt('shared_intermediate_size', 0),
  };
  const qkNorm = r.bool('use_qk_norm', true) ? 'full' : null;
  const plans: LayerPlan[] = Array.from({ length: dims.numLayers }, () => ({
    window: null,
    chunk: null,
    moe: true,
  }));
  const groups = buildDecoderGroups({
    dims,
    plans,
    moe,
    traits: {
      attention: { qkvBias: false, oBias: false, qkNorm, sinks: false },
      mlpBias: false,
      normBias: false,
      layerNorms: PRE_NORMS,
      gated: true,
      activation: r.str('hidden_act', 'silu'),
      moe: {
        routerBias: false,
        expertBias: false,
        sharedExpertGate: false,
        routerCorrectionBias: r.bool('use_routing_bias', false),
      },
    },
  }).map((g) => ({
    ...g,
    tensors: g.tensors.map((t) => ({
      ...t,
      name: t.name.replace(/^mlp\./, 'block_sparse_moe.').replace('gate.e_score', 'e_score'),
    })),
  }));
  const tied = r.bool('tie_word_embeddings', false);
  const warnings: string[] = [];
  const mtp = r.optInt('num_mtp_modules', 0);
  if (r.bool('use_mtp', false) && mtp > 0) {
    warnings.push(
      `num_mtp_modules=${mtp}: the multi-token-prediction modules are not instantiated by the model; they are not counted`,
    );
  }
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
