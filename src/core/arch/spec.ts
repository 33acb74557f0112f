/**
 * The architecture IR. A model is a list of layer groups (real models are heterogeneous: dense then MoE layers,
 * sliding and global attention, attention and SSM, encoder and decoder, a vision tower) plus the tensors that sit
 * outside the layers (embeddings, final norm, LM head, projector).
 *
 * Every group carries both its semantics (what the performance and KV models need) and the exact list of its
 * parameter tensors (what the parameter counts and weight bytes need), so counts are tensor by tensor.
 */

/** What a tensor is, for breakdowns and for deciding which tensors a quantised format applies to. */
export type TensorRole =
  | 'embedding'
  | 'position'
  | 'attention'
  | 'mlp'
  | 'expert'
  | 'shared_expert'
  | 'router'
  | 'norm'
  | 'lm_head'
  | 'ssm'
  | 'vision'
  | 'projector';

export interface Tensor {
  name: string;
  shape: readonly number[];
  role: TensorRole;
}

export type AttentionKind = 'mha' | 'gqa' | 'mqa' | 'mla';

export interface MlaDims {
  qLoraRank: number | null;
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
}

export interface AttentionSpec {
  kind: AttentionKind;
  numHeads: number;
  numKvHeads: number;
  /** Query/key head dimension (for MLA: nope + rope). Taken from the config's head_dim when present. */
  headDim: number;
  /** Value head dimension (equals headDim except for MLA). */
  vHeadDim: number;
  /** Sliding-window length in tokens; null for global attention. */
  window: number | null;
  /** Chunked (block-local) attention length, as Llama-4; null when not chunked. */
  chunk: number | null;
  mla: MlaDims | null;
  /** Cross-attention over encoder tokens (T5 decoder). */
  cross: boolean;
  /** Causal self-attention (false for encoders). */
  causal: boolean;
  /** DeepSeek sparse attention (DeepSeek-V3.2, GLM-5): a lightning indexer picks top-k tokens per query. */
  indexer?: IndexerSpec | null;
  /**
   * DSA: cached tokens each query attends to (index_topk), on the layers with an indexer and on those that reuse an
   * earlier layer's top-k (GLM-5.2's "shared" layers, which have no indexer of their own); absent: every cached token.
   */
  sparseTopK?: number;
  /** Reads the KV cache of an earlier layer and stores none (Gemma 3n's num_kv_shared_layers). */
  kvShared?: boolean;
}

/** The DSA lightning indexer: its own small heads and a key cache of one head per token. */
export interface IndexerSpec {
  numHeads: number;
  headDim: number;
  /** Tokens each query attends to (index_topk); attention reads at most this many cached tokens. */
  topK: number;
}

export interface DenseMlpSpec {
  kind: 'dense';
  /** Gated GLU (SwiGLU, GeGLU): three matrices; plain: two. */
  gated: boolean;
  activation: string;
  intermediateSize: number;
}

export interface MoeMlpSpec {
  kind: 'moe';
  numExperts: number;
  topK: number;
  gated: boolean;
  activation: string;
  expertIntermediateSize: number;
  /** Always-active shared experts (DeepSeek, Qwen2-MoE, Llama-4) as one fused MLP of this width; 0 when none. */
  sharedIntermediateSize: number;
}

export type MlpSpec = DenseMlpSpec | MoeMlpSpec;

export interface SsmSpec {
  /**
   * gated_deltanet (Qwen3-Next / Qwen3.5 linear attention) keeps the same state shapes as mamba2: a conv state over
   * convDim channels and a recurrent state of numHeads (value heads) x headDim (value head dim) x dState (key head dim).
   */
  kind: 'mamba1' | 'mamba2' | 'gated_deltanet';
  dInner: number;
  dState: number;
  dConv: number;
  /** Channels passing through the causal conv (mamba1: dInner; mamba2: dInner + 2·groups·dState). */
  convDim: number;
  /** mamba2 heads (the SSM state is heads · headDim · dState); mamba1: 0. */
  numHeads: number;
  headDim: number;
  nGroups: number;
}

export type Stack = 'decoder' | 'encoder' | 'vision';

export interface LayerGroup {
  /** e.g. "decoder.sliding", "decoder.moe", "encoder", "vision". */
  name: string;
  stack: Stack;
  /** How many layers share this shape. */
  count: number;
  /** Which layer indices of its stack (0-based) belong to the group. */
  layers: readonly number[];
  attention: AttentionSpec | null;
  crossAttention: AttentionSpec | null;
  mlp: MlpSpec | null;
  ssm: SsmSpec | null;
  /** Parameter tensors of ONE layer of this group. */
  tensors: readonly Tensor[];
}

export interface VisionSpec {
  /** Tokens one image becomes in the language model's sequence (after the projector/merger). */
  tokensPerImage: number;
  imageSize: number;
  patchSize: number;
  hiddenSize: number;
}

export interface ModelSpec {
  modelType: string;
  /** Decoder (or encoder-only) hidden size. */
  hiddenSize: number;
  vocabSize: number;
  /** Layers of the main stack (the decoder; the encoder for encoder-only models). */
  numLayers: number;
  maxPositionEmbeddings: number | null;
  tiedEmbeddings: boolean;
  /** Encoder-only (BERT), decoder-only, or encoder-decoder (T5). */
  structure: 'decoder' | 'encoder' | 'encoder-decoder';
  groups: readonly LayerGroup[];
  /** Tensors outside the layers: embeddings, final norms, LM head, vision embeddings, projector. */
  globalTensors: readonly Tensor[];
  vision: VisionSpec | null;
  /** Checkpoint quantisation declared by the config (gpt-oss mxfp4, DeepSeek-V3 fp8 blocks), if any. */
  checkpointQuant: CheckpointQuant | null;
  /** The dtype the checkpoint is stored in (config torch_dtype), when stated. */
  torchDtype: string | null;
  /** Things read with an assumption (unknown model_type read as llama, defaults taken). */
  warnings: readonly string[];
}

export interface CheckpointQuant {
  method: string;
  /** Format id for core/numerics (e.g. "mxfp4", "fp8_block"). */
  format: string;
  /** Roles of tensors that stay unquantised. */
  excludedRoles: readonly TensorRole[];
  blockSize: readonly number[] | null;
  /**
   * Modules the checkpoint leaves unquantised, as its config names them (modelopt `exclude_modules`,
   * compressed-tensors `ignore`, `modules_to_not_convert`): exact names, `*` globs or `re:` regexes.
   */
  excludedModules?: readonly string[];
  /** KV-cache dtype the checkpoint was calibrated for (modelopt kv_cache_quant_algo FP8), if any. */
  kvCacheDtype?: string | null;
  /**
   * Per-module formats of a mixed-precision checkpoint (ModelOpt MIXED_PRECISION `quantized_layers`): module name
   * -> format id. When present, a matrix is stored in the format of its module (or of the nearest listed parent) and
   * every unlisted module stays at the model dtype.
   */
  moduleFormats?: Readonly<Record<string, string>>;
}
