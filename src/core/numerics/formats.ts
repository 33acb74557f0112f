/**
 * Storage formats and their real size per tensor, scales and zero points included.
 * Block layouts are from the formats' definitions: OCP MX (mxfp4: 32 fp4 + one E8M0 scale), NVIDIA NVFP4
 * (16 fp4 + one E4M3 scale, plus an fp32 per-tensor scale), bitsandbytes NF4 (64-element blocks, fp32 absmax, or
 * 8-bit absmax with an fp32 constant per 256 blocks under double quantisation), GPTQ/AWQ (fp16 scales and packed
 * 4-bit zeros per group and column; GPTQ adds an int32 g_idx per input row), GGUF block types from llama.cpp's
 * ggml-common.h block structs (bytes per 32 or 256 weights).
 */
import type { Tensor, TensorRole } from '../arch/spec.js';

export interface StorageFormat {
  id: string;
  description: string;
  /** Bits per element of a quantised matrix, scales included (for the explain trace). */
  bitsPerWeight: number;
  /** Exact bytes of one matrix [out, in] (or stacked experts [E, out, in]) in this format. */
  matrixBytes: (shape: readonly number[]) => number;
  /** Element size of tensors the format leaves alone (norms, biases, and the 16-bit modules). */
  keepBytes: number;
  /** GGUF and friends quantise embeddings and the head too. */
  quantizesEmbeddings: boolean;
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
/** Rows and columns of a matrix, folding a leading expert dimension into rows. */
function rowsCols(shape: readonly number[]): [number, number] {
  const cols = shape[shape.length - 1] ?? 1;
  return [prod(shape) / cols, cols];
}

function plain(id: string, bits: number, description: string): StorageFormat {
  return {
    id,
    description,
    bitsPerWeight: bits,
    matrixBytes: (s) => (prod(s) * bits) / 8,
    keepBytes: bits >= 16 ? bits / 8 : 2,
    quantizesEmbeddings: bits >= 16,
  };
}

/** Fixed blocks along the input dimension: `block` weights take `blockBytes` bytes. */
function blocked(
  id: string,
  block: number,
  blockBytes: number,
  description: string,
  embeddings = false,
): StorageFormat {
  return {
    id,
    description,
    bitsPerWeight: (blockBytes * 8) / block,
    matrixBytes: (s) => {
      const [rows, cols] = rowsCols(s);
      return rows * Math.ceil(cols / block) * blockBytes;
    },
    keepBytes: embeddings ? 4 : 2,
    quantizesEmbeddings: embeddings,
  };
}

function groupwise(method: 'gptq' | 'awq', bits: number, group: number): StorageFormat {
  return {
    id: `${method}-int${bits}-g${group}`,
    description: `${method.toUpperCase()} ${bits}-bit, group ${group}: fp16 scale and packed ${bits}-bit zero per group and output column${method === 'gptq' ? ', int32 g_idx per input row' : ''}`,
    bitsPerWeight: bits + (16 + bits) / group,
    matrixBytes: (s) => {
      const [rows, cols] = rowsCols(s);
      const groups = Math.ceil(cols / group);
      const q = (rows * cols * bits) / 8;
      const scales = rows * groups * 2;
      const zeros = (rows * groups * bits) / 8;
      const experts = s.length > 2 ? s[0]! : 1;
      const gIdx = method === 'gptq' ? experts * cols * 4 : 0;
      return q + scales + zeros + gIdx;
    },
    keepBytes: 2,
    quantizesEmbeddings: false,
  };
}

/**
 * compressed-tensors pack-quantized int4, symmetric (Kimi-K2.5/K2-Thinking routed experts): 4-bit values packed in
 * int32, one bf16 scale per group, no zero point, and an int64[2] weight_shape per module.
 */
function intSym(group: number): StorageFormat {
  return {
    id: `int4-sym-g${group}`,
    description: `int4 symmetric, bf16 scale per group of ${group} (compressed-tensors pack-quantized)`,
    bitsPerWeight: 4 + 16 / group,
    matrixBytes: (s) => {
      const [rows, cols] = rowsCols(s);
      const modules = s.length > 2 ? s[0]! : 1;
      return (rows * cols) / 2 + rows * Math.ceil(cols / group) * 2 + modules * 16;
    },
    keepBytes: 2,
    quantizesEmbeddings: false,
  };
}

const FORMATS: StorageFormat[] = [
  plain('fp32', 32, 'IEEE float32'),
  plain('fp16', 16, 'IEEE float16'),
  plain('bf16', 16, 'bfloat16'),
  plain('fp8', 8, 'FP8 (E4M3 or E5M2), per-tensor scale'),
  plain('fp8_e4m3', 8, 'FP8 E4M3, per-tensor scale'),
  plain('fp8_e5m2', 8, 'FP8 E5M2, per-tensor scale'),
  {
    id: 'fp8_block',
    description: 'FP8 E4M3 with one fp32 scale per 128x128 block (DeepSeek-V3 checkpoints)',
    bitsPerWeight: 8 + 32 / (128 * 128),
    matrixBytes: (s) => {
      const [rows, cols] = rowsCols(s);
      const experts = s.length > 2 ? s[0]! : 1;
      const r = rows / experts;
      return rows * cols + experts * Math.ceil(r / 128) * Math.ceil(cols / 128) * 4;
    },
    keepBytes: 2,
    quantizesEmbeddings: false,
  },
  {
    id: 'int8',
    description: 'int8 weights with one fp32 scale per output row (LLM.int8 / per-channel)',
    bitsPerWeight: 8,
    matrixBytes: (s) => {
      const [rows, cols] = rowsCols(s);
      return rows * cols + rows * 4;
    },
    keepBytes: 2,
    quantizesEmbeddings: false,
  },
  blocked('int4', 128, 64 + 2, 'int4 weights, fp16 scale per group of 128 (symmetric)'),
  blocked('int4-g32', 32, 16 + 4, 'int4 weights, bf16 scale and zero per group of 32 (gpt-fast int4)'),
  intSym(32),
  intSym(128),
  blocked('mxfp4', 32, 16 + 1, 'OCP MXFP4: 32 FP4 E2M1 values + one E8M0 scale'),
  {
    ...blocked('nvfp4', 16, 8 + 1, 'NVFP4: 16 FP4 E2M1 values + one FP8 E4M3 scale, fp32 per-tensor scale'),
    matrixBytes: (s) => {
      const [rows, cols] = rowsCols(s);
      return rows * Math.ceil(cols / 16) * 9 + 4;
    },
  },
  blocked('nf4', 64, 32 + 4, 'bitsandbytes NF4: 64-value blocks with fp32 absmax'),
  {
    id: 'nf4_dq',
    description:
      'bitsandbytes NF4 with double quantisation: 8-bit absmax per 64, fp32 constant per 256 blocks',
    bitsPerWeight: 4 + 8 / 64 + 32 / (64 * 256),
    matrixBytes: (s) => {
      const n = prod(s);
      const blocks = Math.ceil(n / 64);
      return n / 2 + blocks + Math.ceil(blocks / 256) * 4;
    },
    keepBytes: 2,
    quantizesEmbeddings: false,
  },
  groupwise('gptq', 4, 128),
  groupwise('gptq', 8, 128),
  groupwise('awq', 4, 128),
  // GGUF block types (bytes per block / weights per block), from ggml-common.h.
  blocked('q8_0', 32, 34, 'GGUF Q8_0: 32 int8 + fp16 scale', true),
  blocked('q4_0', 32, 18, 'GGUF Q4_0: 32 4-bit + fp16 scale', true),
  blocked('q6_k', 256, 210, 'GGUF Q6_K super-block', true),
  blocked('q5_k', 256, 176, 'GGUF Q5_K super-block', true),
  blocked('q4_k', 256, 144, 'GGUF Q4_K super-block', true),
  blocked('q3_k', 256, 110, 'GGUF Q3_K super-block', true),
  blocked('q2_k', 256, 84, 'GGUF Q2_K super-block', true),
];

const BY_ID = new Map(FORMATS.map((f) => [f.id, f]));

/** GGUF "_M" mixes: llama.cpp raises attn_v and ffn_down to a larger type in the use_more_bits layers. */
export const GGUF_MIXES: Record<string, { base: string; more: string; output: string }> = {
  q5_k_m: { base: 'q5_k', more: 'q6_k', output: 'q6_k' },
  q4_k_m: { base: 'q4_k', more: 'q6_k', output: 'q6_k' },
  q3_k_m: { base: 'q3_k', more: 'q5_k', output: 'q6_k' },
};

/** Aliases people and the specs use. */
const ALIASES: Record<string, string> = {
  float32: 'fp32',
  float: 'fp32',
  float16: 'fp16',
  half: 'fp16',
  bfloat16: 'bf16',
  fp8e4m3: 'fp8_e4m3',
  e4m3: 'fp8_e4m3',
  fp8e5m2: 'fp8_e5m2',
  int4_awq: 'awq-int4-g128',
  awq: 'awq-int4-g128',
  gptq: 'gptq-int4-g128',
  int4_gptq: 'gptq-int4-g128',
  gptq_int8: 'gptq-int8-g128',
  fp4: 'nvfp4',
  nf4_double_quant: 'nf4_dq',
  qlora: 'nf4_dq',
  int8_weight_only: 'int8',
  q8: 'q8_0',
  q2_k_s: 'q2_k',
  q2_k_m: 'q2_k',
};

export const FORMAT_IDS: readonly string[] = [...BY_ID.keys(), ...Object.keys(GGUF_MIXES)].sort();

const normalised = new Map<string, string>();

/** The canonical id of a format name (case, dashes and aliases folded); memoised, it sits on hot paths. */
export function normaliseFormatId(id: string): string {
  let n = normalised.get(id);
  if (n === undefined) {
    n = normalise(id);
    if (normalised.size < 10000) normalised.set(id, n);
  }
  return n;
}

function normalise(id: string): string {
  const k = id.trim().toLowerCase().replace(/-/g, '_');
  const dashed = id.trim().toLowerCase();
  if (BY_ID.has(dashed)) return dashed;
  if (Object.hasOwn(GGUF_MIXES, k)) return k;
  // Own keys only: 'constructor' and friends are not formats.
  if (Object.hasOwn(ALIASES, k)) return ALIASES[k]!;
  if (Object.hasOwn(ALIASES, dashed)) return ALIASES[dashed]!;
  return k;
}

export function getFormat(id: string): StorageFormat | null {
  return BY_ID.get(normaliseFormatId(id)) ?? null;
}

export function isFormat(id: string): boolean {
  const k = normaliseFormatId(id);
  return BY_ID.has(k) || Object.hasOwn(GGUF_MIXES, k);
}

const KV_BYTES: Record<string, number> = {
  fp32: 4,
  fp16: 2,
  bf16: 2,
  fp8: 1,
  fp8_e4m3: 1,
  fp8_e5m2: 1,
  int8: 1,
  int4: 0.5,
  nvfp4: 0.5625,
};

/** Bytes per KV-cache element for a KV dtype (fp8 caches hold one scale per layer, negligible). */
export function kvElementBytes(id: string): number | null {
  const k = normaliseFormatId(id);
  return Object.hasOwn(KV_BYTES, k) ? KV_BYTES[k]! : null;
}

export const KV_DTYPES: readonly string[] = Object.keys(KV_BYTES);

/** Roles a weight format applies to unless told otherwise (embeddings, head, norms, router stay 16-bit). */
export const QUANTIZED_ROLES: ReadonlySet<TensorRole> = new Set([
  'attention',
  'mlp',
  'expert',
  'shared_expert',
  'ssm',
  'vision',
  'projector',
]);

export type { Tensor };
