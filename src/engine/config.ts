/**
 * The engine's view of a Hugging Face config.json: the few numbers the forward pass needs, for the two families it
 * runs. gpt2: LayerNorm, learned positions, fused c_attn, GELU MLP, Conv1D weights. llama-like (llama, mistral,
 * qwen2, qwen3): RMSNorm, RoPE (with rope_scaling), GQA, SwiGLU, optional q/k/v bias (qwen2) and per-head
 * q/k RMSNorm (qwen3).
 */
export type Family = 'gpt2' | 'llama';

export const LLAMA_TYPES = new Set(['llama', 'mistral', 'qwen2', 'qwen3']);

export interface RopeScaling {
  type: 'default' | 'linear' | 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

export interface ModelConfig {
  family: Family;
  modelType: string;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositions: number;
  normEps: number;
  activation: string;
  tiedEmbeddings: boolean;
  qkvBias: boolean;
  oBias: boolean;
  qkNorm: boolean;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  slidingWindow: number | null;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

export class ConfigError extends Error {}

type Raw = Record<string, unknown>;

function num(c: Raw, ...keys: string[]): number {
  for (const k of keys) {
    const v = c[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  throw new ConfigError(`config.json lacks ${keys.join(' / ')}`);
}

function opt(c: Raw, key: string, fallback: number): number {
  const v = c[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

function ids(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

function ropeScaling(c: Raw): RopeScaling | null {
  const r = c['rope_scaling'];
  if (!r || typeof r !== 'object') return null;
  const s = r as Raw;
  const type = String(s['rope_type'] ?? s['type'] ?? 'default');
  if (type !== 'default' && type !== 'linear' && type !== 'llama3')
    throw new ConfigError(`rope_scaling type '${type}' is not supported (default, linear, llama3)`);
  return {
    type,
    factor: opt(s, 'factor', 1),
    lowFreqFactor: opt(s, 'low_freq_factor', 1),
    highFreqFactor: opt(s, 'high_freq_factor', 4),
    originalMaxPositions: opt(s, 'original_max_position_embeddings', 8192),
  };
}

export function readModelConfig(raw: unknown): ModelConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError('config.json must be an object');
  const c = raw as Raw;
  const modelType = String(c['model_type'] ?? '');
  if (modelType === 'gpt2') {
    const h = num(c, 'n_embd', 'hidden_size');
    const heads = num(c, 'n_head', 'num_attention_heads');
    if (h % heads) throw new ConfigError('n_embd must be divisible by n_head');
    return {
      family: 'gpt2',
      modelType,
      hiddenSize: h,
      numLayers: num(c, 'n_layer', 'num_hidden_layers'),
      numHeads: heads,
      numKvHeads: heads,
      headDim: h / heads,
      intermediateSize: opt(c, 'n_inner', 4 * h),
      vocabSize: num(c, 'vocab_size'),
      maxPositions: num(c, 'n_positions', 'max_position_embeddings'),
      normEps: opt(c, 'layer_norm_epsilon', 1e-5),
      activation: String(c['activation_function'] ?? 'gelu_new'),
      tiedEmbeddings: c['tie_word_embeddings'] !== false,
      qkvBias: true,
      oBias: true,
      qkNorm: false,
      ropeTheta: 0,
      ropeScaling: null,
      slidingWindow: null,
      bosTokenId: ids(c['bos_token_id'])[0] ?? null,
      eosTokenIds: ids(c['eos_token_id']),
    };
  }
  if (!LLAMA_TYPES.has(modelType))
    throw new ConfigError(
      `model_type '${modelType}' is not supported by the engine (gpt2, ${[...LLAMA_TYPES].join(', ')})`,
    );
  const h = num(c, 'hidden_size');
  const heads = num(c, 'num_attention_heads');
  const kvHeads = opt(c, 'num_key_value_heads', heads);
  if (heads % kvHeads) throw new ConfigError('num_attention_heads must be divisible by num_key_value_heads');
  const bias = c['attention_bias'] === true;
  const useWindow = modelType === 'mistral' || c['use_sliding_window'] === true;
  const window =
    typeof c['sliding_window'] === 'number' && useWindow ? (c['sliding_window'] as number) : null;
  if (modelType !== 'mistral' && window !== null && opt(c, 'max_window_layers', 0) > 0)
    throw new ConfigError('per-layer sliding windows (max_window_layers) are not supported by the engine');
  return {
    family: 'llama',
    modelType,
    hiddenSize: h,
    numLayers: num(c, 'num_hidden_layers'),
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim: opt(c, 'head_dim', h / heads),
    intermediateSize: num(c, 'intermediate_size'),
    vocabSize: num(c, 'vocab_size'),
    maxPositions: opt(c, 'max_position_embeddings', 2048),
    normEps: opt(c, 'rms_norm_eps', 1e-6),
    activation: String(c['hidden_act'] ?? 'silu'),
    tiedEmbeddings: c['tie_word_embeddings'] === true,
    qkvBias: modelType === 'qwen2' ? true : bias,
    oBias: modelType === 'qwen2' ? false : bias,
    qkNorm: modelType === 'qwen3',
    ropeTheta: opt(c, 'rope_theta', 10000),
    ropeScaling: ropeScaling(c),
    slidingWindow: window,
    bosTokenId: ids(c['bos_token_id'])[0] ?? null,
    eosTokenIds: ids(c['eos_token_id']),
  };
}
