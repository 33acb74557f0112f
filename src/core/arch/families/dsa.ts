/**
 * DeepSeek sparse attention (DSA): DeepSeek-V3.2 (deepseek_v32) and GLM-5 (glm_moe_dsa) are DeepSeek-V3 decoders
 * (MLA, first-k dense layers then MoE with a shared expert) whose attention adds a lightning indexer: its own small
 * heads score the cached tokens and each query attends to the top index_topk of them. Indexer tensors as
 * transformers' DeepseekV32Indexer instantiates them: wq_b (q_lora_rank -> heads x head_dim), wk (hidden -> head_dim),
 * k_norm (LayerNorm with bias) and weights_proj (hidden -> heads). GLM-5.x may share one layer's top-k with the
 * next ("shared" in indexer_types): those layers have no indexer.
 */
import type { ConfigReader } from '../reader.js';
import type { IndexerSpec, LayerGroup, ModelSpec, Tensor } from '../spec.js';
import { linear, norm } from '../tensors.js';
import { deepseek } from './deepseek.js';

/** Which layers run their own indexer (GlmMoeDsaConfig.__post_init__; DeepSeek-V3.2: all of them). */
function indexerLayers(r: ConfigReader, n: number): boolean[] {
  const types = r.array('indexer_types');
  if (types && types.length === n) return types.map((t) => t !== 'shared');
  const pattern = r.raw['index_topk_pattern'];
  if (typeof pattern === 'string' && pattern.length === n) return [...pattern].map((c) => c !== 'S');
  const freq = Math.max(r.optInt('index_topk_freq', 1), 1);
  const offset = r.optInt('index_skip_topk_offset', 2);
  return Array.from({ length: n }, (_, i) => Math.max(i - offset + 1, 0) % freq === 0);
}

function indexerTensors(ix: IndexerSpec, hidden: number, qLora: number): Tensor[] {
  return [
    ...linear('self_attn.indexer.wq_b', ix.numHeads * ix.headDim, qLora, 'attention', false),
    ...linear('self_attn.indexer.wk', ix.headDim, hidden, 'attention', false),
    ...norm('self_attn.indexer.k_norm', ix.headDim, true),
    ...linear('self_attn.indexer.weights_proj', ix.numHeads, hidden, 'attention', false),
  ];
}

/** Adds the indexer to the attention of the layers that have one, splitting groups where some do not. */
export function withIndexer(spec: ModelSpec, r: ConfigReader, ix: IndexerSpec): ModelSpec {
  const has = indexerLayers(r, spec.numLayers);
  const groups: LayerGroup[] = [];
  for (const g of spec.groups) {
    const a = g.attention;
    if (g.stack !== 'decoder' || !a?.mla) {
      groups.push(g);
      continue;
    }
    const qLora = a.mla.qLoraRank ?? spec.hiddenSize;
    const on = g.layers.filter((i) => has[i]);
    const off = g.layers.filter((i) => !has[i]);
    if (on.length) {
      groups.push({
        ...g,
        name: off.length ? `${g.name}.indexer` : g.name,
        count: on.length,
        layers: on,
        attention: { ...a, indexer: ix, sparseTopK: ix.topK },
        tensors: [...g.tensors, ...indexerTensors(ix, spec.hiddenSize, qLora)],
      });
    }
    // A shared layer reuses the previous full layer's top-k: still sparse, no indexer of its own.
    if (off.length) {
      groups.push({
        ...g,
        name: `${g.name}.shared_topk`,
        count: off.length,
        layers: off,
        attention: { ...a, sparseTopK: ix.topK },
      });
    }
  }
  return { ...spec, groups };
}

function readIndexer(r: ConfigReader, defaults: { heads: number }): IndexerSpec {
  return {
    numHeads: r.optInt('index_n_heads', defaults.heads),
    headDim: r.optInt('index_head_dim', 128),
    topK: r.optInt('index_topk', 2048),
  };
}

/** deepseek_v32 (DeepSeek-V3.2, V3.2-Exp): V3 with a 64-head indexer on every layer. */
export function deepseekV32(r: ConfigReader, modelType: string): ModelSpec {
  const ix = readIndexer(r, { heads: 64 });
  return withIndexer(deepseek(r, modelType), r, ix);
}

/** glm_moe_dsa (GLM-5, GLM-5.x): the same layout with GLM's sizes and a 32-head indexer by default. */
export function glmMoeDsa(r: ConfigReader, modelType: string): ModelSpec {
  const ix = readIndexer(r, { heads: 32 });
  return withIndexer(deepseek(r, modelType), r, ix);
}
