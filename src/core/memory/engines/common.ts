/**
 * Model-side terms every engine profile needs, per rank: weights as an engine loads them (vocabulary padded,
 * rotary cache), the transient peak of one forward step, MoE kernel workspaces, and the attention layers whose
 * KV cache the rank holds. Engine files decide which of these they count and how.
 */
import type { AttentionSpec, ModelSpec } from '../../arch/spec.js';
import { normaliseFormatId } from '../../numerics/formats.js';
import { groupTp, stageOf, type ParallelPlan } from '../../parallel/plan.js';
import { indexerBytesPerToken, kvBytesPerTokenLayer } from '../kv.js';
import { weightLayout } from '../weights.js';

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;

/** A term the profile is not sure of, named so a user knows what to check. */
export interface UncertainTerm {
  term: string;
  note: string;
}

/** "0.19.0" -> [0, 19, 0]; compares versions component by component. */
export function parseVersion(v: string): number[] | null {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(v.trim());
  if (!m) return null;
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

export function versionAtLeast(v: readonly number[], min: readonly number[]): boolean {
  for (let i = 0; i < 3; i++) {
    if ((v[i] ?? 0) !== (min[i] ?? 0)) return (v[i] ?? 0) > (min[i] ?? 0);
  }
  return true;
}

/** vLLM and SGLang pad the vocabulary of the embedding and LM head to a multiple of 64 (per TP shard whole). */
export function paddedVocab(vocab: number, multiple = 64): number {
  return Math.ceil(vocab / multiple) * multiple;
}

/** Which decoder layers a pipeline stage holds. */
export function stageFilter(spec: ModelSpec, pp: number, stage: number): (i: number) => boolean {
  return (i) => pp === 1 || stageOf(i, spec.numLayers, pp) === stage;
}

function decoderLayersOn(spec: ModelSpec, gi: number, onStage: (i: number) => boolean): number {
  const g = spec.groups[gi]!;
  if (g.stack !== 'decoder') return 0;
  return g.layers.filter(onStage).length;
}

/** The compute dtype's element size (fp32 checkpoints run in bf16 under 'auto' in vLLM; explicit fp32 is 4). */
export function activationBytes(dtype: string): number {
  return normaliseFormatId(dtype) === 'fp32' ? 4 : 2;
}

export interface LoadedWeights {
  /** Parameter bytes on this rank (expert padding included). */
  parameters: number;
  /** Allowance for what loading adds beyond the parameters (per layer on the rank). */
  loaderSlack: number;
  /** RoPE cos/sin cache: positions x rotary dim in the model dtype (one shared cache per model). */
  rotaryCache: number;
  total: number;
}

/**
 * Weights one rank of a stage holds once loaded. Linear layers split by TP, K/V projections down to one head,
 * experts by TP x EP, embedding and LM head by vocabulary padded to 64 (vLLM VocabParallelEmbedding), the
 * first stage holds the embedding and the last the head (and, when tied, its own copy of the embedding).
 */
export interface LoadOptions {
  /**
   * Pad stacked expert matrices to these multiples (intermediate per rank, hidden), as MoE kernels that need
   * aligned tiles do at load time; null to keep the checkpoint's shapes.
   */
  expertPad?: { intermediate: number; hidden: number } | null;
  /** Bytes per decoder layer on the rank that loading adds beyond the parameters. */
  slackPerLayer?: number;
}

export function loadedWeights(
  spec: ModelSpec,
  precision: string,
  plan: ParallelPlan,
  stage: number,
  b: number,
  opts: LoadOptions = {},
): LoadedWeights {
  const layout = weightLayout(spec, precision === 'auto' ? 'auto' : normaliseFormatId(precision));
  const { tp, pp, ep } = plan;
  const onStage = stageFilter(spec, pp, stage);
  let parameters = 0;
  let layers = 0;
  spec.groups.forEach((g, gi) => {
    const w = layout.groups[gi]!;
    const n = g.stack === 'decoder' ? decoderLayersOn(spec, gi, onStage) : stage === 0 ? g.count : 0;
    if (n === 0) return;
    if (g.stack === 'decoder') layers += n;
    const gtp = groupTp(g, tp);
    const kvShard = g.attention && g.attention.kind !== 'mla' ? Math.min(gtp, g.attention.numKvHeads) : gtp;
    let expert = w.expert / (tp * ep);
    const pad = opts.expertPad;
    if (pad && g.mlp?.kind === 'moe') {
      const I = g.mlp.expertIntermediateSize / tp;
      const H = spec.hiddenSize;
      const up = (x: number, m: number) => Math.ceil(x / m) * m;
      expert *= (up(I, pad.intermediate) * up(H, pad.hidden)) / (I * H);
    }
    parameters += n * (w.tpSplit / gtp + w.kvProj / kvShard + expert + w.replicated);
  });
  const vocabPad = paddedVocab(spec.vocabSize) / spec.vocabSize;
  const first = stage === 0;
  const last = stage === pp - 1;
  if (first) parameters += (layout.embeddingBytes * vocabPad) / tp + layout.globalReplicated;
  if (last) {
    const head =
      layout.headBytes > 0 ? layout.headBytes : spec.tiedEmbeddings && pp > 1 ? layout.embeddingBytes : 0;
    parameters += (head * vocabPad) / tp;
  }
  const a = firstAttention(spec);
  const rotaryDim = a ? (a.mla ? a.mla.qkRopeHeadDim : a.headDim) : 0;
  const positions = spec.maxPositionEmbeddings ?? 0;
  const rotaryCache = spec.structure === 'decoder' ? positions * rotaryDim * b : 0;
  const loaderSlack = layers * (opts.slackPerLayer ?? 0);
  return { parameters, loaderSlack, rotaryCache, total: parameters + loaderSlack + rotaryCache };
}

function firstAttention(spec: ModelSpec): AttentionSpec | null {
  return spec.groups.find((g) => g.stack === 'decoder' && g.attention)?.attention ?? null;
}

export type MoePath = 'bf16' | 'fp8' | 'fp4';

/** Which fused-MoE kernel family the expert weights select. */
export function moePath(spec: ModelSpec, precision: string): MoePath {
  const f = precision === 'auto' ? (spec.checkpointQuant?.format ?? '') : normaliseFormatId(precision);
  if (/fp4/.test(f)) return 'fp4';
  if (/fp8/.test(f)) return 'fp8';
  return 'bf16';
}

/**
 * Workspace of a fused-MoE step over M tokens, per rank. vLLM's modular kernel (0.19) takes it from one
 * persistent workspace sized at the profile run and kept afterwards: Triton experts need M·topk·max(I, H)
 * and M·topk·max(2I, H) elements plus the M·H output; FP8 adds the quantised activations (1 B each); the
 * MXFP4/NVFP4 paths keep the gate-up output M·topk·2I and the output.
 */
export function moeWorkspaceBytes(
  spec: ModelSpec,
  path: MoePath,
  M: number,
  tp: number,
  b: number,
  onStage: (i: number) => boolean,
): number {
  let peak = 0;
  for (const g of spec.groups) {
    const m = g.mlp;
    if (g.stack !== 'decoder' || m?.kind !== 'moe' || !g.layers.some(onStage)) continue;
    const I = m.expertIntermediateSize / tp;
    const H = spec.hiddenSize;
    const k = m.topK;
    let ws: number;
    if (path === 'fp4') ws = M * k * 2 * I * b + M * H * b;
    else {
      ws = (M * k * Math.max(I, H) + M * k * Math.max(2 * I, H) + M * H) * b;
      if (path === 'fp8') ws += M * H + M * k * I;
    }
    peak = Math.max(peak, ws);
  }
  return peak;
}

/**
 * Transient peak of one forward step of T tokens on a rank (besides MoE workspaces): the residual stream,
 * the layer input, its normalised copy and the layer's output (4·T·H) plus the largest layer intermediate —
 * the gate-up output and its activation for a dense MLP, q/k/v and the attention output for attention, the
 * shared expert and fp32 router logits for an MoE layer. vLLM 0.19 logs a 0.85 GiB peak for granite-3.1-8b
 * (this gives 0.84) and 1.10 GiB for the first PP stage of Llama-3.1-8B (this gives 0.91: an underestimate).
 */
export function forwardPeakBytes(
  spec: ModelSpec,
  T: number,
  tp: number,
  b: number,
  onStage: (i: number) => boolean,
): number {
  let layer = 0;
  for (const g of spec.groups) {
    if (g.stack !== 'decoder' || !g.layers.some(onStage)) continue;
    const a = g.attention;
    if (a) {
      const q = (a.numHeads / tp) * a.headDim;
      const kv = a.mla
        ? (a.numHeads / tp) * (a.mla.qkNopeHeadDim + a.vHeadDim)
        : Math.max(1, a.numKvHeads / tp) * (a.headDim + a.vHeadDim);
      layer = Math.max(layer, T * (q + kv + (a.numHeads / tp) * a.vHeadDim) * b);
    }
    const m = g.mlp;
    if (m?.kind === 'dense') {
      const I = m.intermediateSize / tp;
      layer = Math.max(layer, T * I * (m.gated ? 3 : 2) * b);
    } else if (m?.kind === 'moe') {
      const Is = m.sharedIntermediateSize / tp;
      layer = Math.max(layer, T * Is * (m.gated ? 3 : 2) * b + T * m.numExperts * 4);
    }
    if (g.ssm) layer = Math.max(layer, T * ((2 * g.ssm.dInner + g.ssm.convDim) / tp) * b);
  }
  return 4 * T * spec.hiddenSize * b + layer;
}

/** One kind of attention layer a rank caches: bytes per token per layer, window, and how many such layers. */
export interface KvLayerType {
  bytesPerTokenLayer: number;
  /** Sliding window or attention chunk in tokens; null for full attention. */
  window: number | null;
  layers: number;
}

/** Engine-specific cache layouts. */
export interface KvFormats {
  /**
   * DeepSeek's fp8_ds_mla layout for sparse MLA (DSA indexer, kv_lora_rank 512, rope 64) with an fp8 KV cache:
   * 512 fp8 latent values + 4 fp32 scales + 64 bf16 rope values = 656 B per token (vLLM FlashMLASparseBackend
   * get_kv_cache_shape; the sparse MLA layer switches fp8 to fp8_ds_mla: "Using DeepSeek's fp8_ds_mla KV cache
   * format"). The indexer cache is separate and unchanged.
   */
  fp8DsMla?: boolean;
}

/** Bytes per token of one layer of the fp8_ds_mla layout. */
export const FP8_DS_MLA_BYTES = 512 + 4 * 4 + 64 * 2;

/**
 * The attention layers of a stage, grouped by (bytes per token, window), as engines build their KV specs. Layers
 * that read an earlier layer's cache (Gemma 3n kv-shared layers) get no cache of their own: vLLM's
 * gpu_model_runner get_kv_cache_spec skips layers with kv_sharing_target_layer_name.
 */
export function kvLayerTypes(
  spec: ModelSpec,
  kvBytes: number,
  tp: number,
  onStage: (i: number) => boolean,
  formats: KvFormats = {},
): { types: KvLayerType[]; ssmLayers: number } {
  const byKey = new Map<string, KvLayerType>();
  let ssmLayers = 0;
  for (const g of spec.groups) {
    if (g.stack !== 'decoder') continue;
    const n = g.layers.filter(onStage).length;
    if (g.ssm) ssmLayers += n;
    const a = g.attention;
    if (!a || a.cross || a.kvShared || n === 0) continue;
    const dsMla =
      formats.fp8DsMla &&
      kvBytes === 1 &&
      a.mla &&
      a.sparseTopK !== undefined &&
      a.mla.kvLoraRank === 512 &&
      a.mla.qkRopeHeadDim === 64;
    const bytes = dsMla ? FP8_DS_MLA_BYTES + indexerBytesPerToken(a) : kvBytesPerTokenLayer(a, kvBytes, tp);
    const window = a.window ?? a.chunk ?? null;
    const key = `${bytes}:${window}`;
    const t = byKey.get(key);
    if (t) t.layers += n;
    else byKey.set(key, { bytesPerTokenLayer: bytes, window, layers: n });
  }
  return { types: [...byKey.values()], ssmLayers };
}

/** KV bytes per token on a rank if every attention layer cached every token (the slope for full attention). */
export function kvBytesPerTokenAll(types: readonly KvLayerType[]): number {
  let s = 0;
  for (const t of types) s += t.bytesPerTokenLayer * t.layers;
  return s;
}

/**
 * The multimodal part of a profile run (vLLM 0.19 gpu_model_runner.profile_run): the encoder budget is
 * max(max_num_batched_tokens, tokens of one item), filled with images of the largest size; the vision tower
 * runs on all their patches at once and its outputs stay in the encoder cache during the language-model
 * forward and the sampler. Peak of the tower: 3 x patches x vision hidden (stream, input, normed copy) plus the
 * MLP's two intermediates.
 */
export function visionProfileBytes(
  spec: ModelSpec,
  T: number,
  b: number,
): { towerPeak: number; encoderCache: number } {
  const v = spec.vision;
  if (!v || v.tokensPerImage <= 0) return { towerPeak: 0, encoderCache: 0 };
  const images = Math.max(1, Math.floor(Math.max(T, v.tokensPerImage) / v.tokensPerImage));
  const patches = images * Math.ceil(v.imageSize / v.patchSize) ** 2;
  let mlp = 0;
  for (const g of spec.groups) {
    if (g.stack !== 'vision') continue;
    if (g.mlp?.kind === 'dense') mlp = Math.max(mlp, g.mlp.intermediateSize * (g.mlp.gated ? 3 : 2));
  }
  return {
    towerPeak: patches * (3 * v.hiddenSize + mlp) * b,
    encoderCache: images * v.tokensPerImage * spec.hiddenSize * b,
  };
}
