/**
 * Adapters shared by the two memory specs: precision names, the KV dtype that goes with a weight precision,
 * GPU recommendations from the catalog's real device capacities, and a llama-like config built from raw fields.
 */
import { catalog, hardwareSpec } from '../catalog/index.js';
import type { ModelSpec } from '../core/arch/index.js';
import type { HardwareSpec } from '../core/hardware/spec.js';
import { defaultKvPrecision, SERVING_DEFAULTS } from '../core/defaults.js';
import {
  sizeClasses,
  smallestClassFor,
  STARTUP_CONTEXT_BYTES,
  type SizeClass,
} from '../core/hardware/size-class.js';
import {
  FORMAT_IDS,
  isFormat,
  kvElementBytes,
  KV_DTYPES,
  normaliseFormatId,
} from '../core/numerics/formats.js';
import { didYouMean } from '../catalog/precision-names.js';
import { ApiError } from './errors.js';
import { gb } from './describe.js';

/** A weight precision as the core names it ('float16' -> 'fp16'); 'auto' = the checkpoint's own format. */
export function weightPrecision(value: string, field = 'precision'): string {
  if (value === 'auto') return 'auto';
  // Checked against the list of ids: the core's lookup tables are plain objects ('constructor' is a key there).
  if (value.length > 40 || !isFormat(value) || !FORMAT_IDS.includes(normaliseFormatId(value)))
    throw new ApiError(
      422,
      `${field}: unknown precision '${value.slice(0, 40)}'${didYouMean(value)}; accepted: auto, float32, float16, bfloat16, ${FORMAT_IDS.join(', ')}`,
    );
  return normaliseFormatId(value);
}

/** The KV-cache dtype: as asked; else the weight precision when it is a float; else the model's 16-bit dtype. */
export function kvPrecision(spec: ModelSpec, weights: string, asked: string | undefined): string {
  if (asked !== undefined) {
    if (kvElementBytes(asked) === null || !KV_DTYPES.includes(normaliseFormatId(asked)))
      throw new ApiError(
        422,
        `kv_precision: unknown KV-cache dtype '${asked.slice(0, 40)}'${didYouMean(asked, 'kv')}; accepted: ${KV_DTYPES.join(', ')}`,
      );
    return normaliseFormatId(asked);
  }
  return defaultKvPrecision(spec, weights);
}

let gpus: HardwareSpec[] | null = null;

/** Catalog GPUs (and accelerators) by visible memory, smallest first. */
export function gpusByMemory(): HardwareSpec[] {
  if (!gpus) {
    gpus = catalog()
      .devices.items.filter((d) => d.kind === 'gpu' || d.kind === 'accelerator')
      .map(hardwareSpec)
      .sort((a, b) => a.visibleMemoryBytes - b.visibleMemoryBytes);
  }
  return gpus;
}

export interface Recommendations {
  /** The nominal size class (GB, an integer as the spec shows: 16, 24, 32, 40, 48, 80, 94, 96, 141, …). */
  recommended_gpu_memory_gb: number;
  can_fit_24gb_gpu: boolean;
  can_fit_80gb_gpu: boolean;
  min_gpu_memory_gb: number;
  /** infersim: a device of that class, how many of it, and the usable memory the checks compared. */
  recommended_gpu: string;
  recommended_gpu_count: number;
  usable_memory_gb: number;
  usable_rule: string;
  checked_against: { '24gb': string; '80gb': string };
}

let classes: SizeClass[] | null = null;

function gpuClasses(): SizeClass[] {
  return (classes ??= sizeClasses(gpusByMemory()));
}

function classOf(nominal: number): SizeClass {
  const c = gpuClasses().find((x) => x.nominalGb === nominal);
  if (!c) throw new Error(`no catalog GPU of ${nominal} GB`);
  return c;
}

/**
 * The smallest common card size whose usable memory (the engine's 0.9 budget less the CUDA context at start)
 * holds `totalBytes`, as an integer class; when none does, the largest class and how many of its cards.
 */
export function recommendations(totalBytes: number): Recommendations {
  const { cls, count } = smallestClassFor(totalBytes, gpuClasses());
  const c24 = classOf(24);
  const c80 = classOf(80);
  return {
    recommended_gpu_memory_gb: cls.nominalGb,
    can_fit_24gb_gpu: totalBytes <= c24.usableBytes,
    can_fit_80gb_gpu: totalBytes <= c80.usableBytes,
    min_gpu_memory_gb: gb(totalBytes),
    recommended_gpu: cls.device.name,
    recommended_gpu_count: count,
    usable_memory_gb: gb(cls.usableBytes),
    usable_rule: `floor(visible memory x ${SERVING_DEFAULTS.gpuMemoryUtilization}) - ${STARTUP_CONTEXT_BYTES / 2 ** 20} MiB CUDA context at start`,
    checked_against: { '24gb': c24.device.name, '80gb': c80.device.name },
  };
}

/** The raw shape fields api-memory-calculator.md accepts instead of a model name. */
export interface RawShape {
  model_size?: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  intermediate_size?: number;
  vocab_size?: number;
  head_dim?: number;
}

/**
 * A llama-like config.json from raw fields, so the same core computes it: head_dim = hidden / heads unless
 * given; vocabulary 32000 unless given; the MLP width from the fields, else solved so that the exact parameter
 * count equals model_size (billions), else Llama's 8/3·hidden rounded up to 256.
 */
export function configFromShape(
  s: RawShape,
  maxSeq: number,
): { config: Record<string, unknown>; warnings: string[] } {
  const warnings: string[] = [];
  const h = s.hidden_size;
  const L = s.num_hidden_layers;
  const H = s.num_attention_heads;
  const KV = s.num_key_value_heads ?? H;
  const V = s.vocab_size ?? 32000;
  if (s.head_dim === undefined && h % H !== 0)
    throw new ApiError(
      422,
      `hidden_size: ${h} is not divisible by num_attention_heads ${H}; give head_dim to say the head size`,
    );
  const hd = s.head_dim ?? h / H;
  if (H % KV !== 0)
    throw new ApiError(422, `num_key_value_heads: ${KV} must divide num_attention_heads ${H}`);
  let I = s.intermediate_size;
  if (I === undefined && s.model_size !== undefined) {
    const attn = h * H * hd + 2 * h * KV * hd + H * hd * h;
    const nonMlp = 2 * V * h + h + L * (attn + 2 * h);
    I = Math.round((s.model_size * 1e9 - nonMlp) / (3 * L * h));
    if (I < 1)
      throw new ApiError(
        422,
        `model_size: ${s.model_size}B is less than the attention and embedding parameters of this shape alone (${(nonMlp / 1e9).toFixed(3)}B)`,
      );
    warnings.push(
      `intermediate_size not given: ${I} makes the llama-like model built from these fields have ${s.model_size}B parameters`,
    );
  } else if (I === undefined) {
    I = Math.ceil((8 * h) / 3 / 256) * 256;
    warnings.push(`intermediate_size not given: Llama's 8/3 · hidden_size rounded up to 256 (${I}) is used`);
  }
  if (s.vocab_size === undefined) warnings.push('vocab_size not given: 32000 is used');
  warnings.push(
    'the model is built from the fields given as a llama-like decoder (gated SiLU MLP, RMSNorm, untied embeddings, no biases)',
  );
  return {
    config: {
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      hidden_size: h,
      num_hidden_layers: L,
      num_attention_heads: H,
      num_key_value_heads: KV,
      head_dim: hd,
      intermediate_size: I,
      vocab_size: V,
      max_position_embeddings: Math.max(maxSeq, 2048),
      hidden_act: 'silu',
      rms_norm_eps: 1e-5,
      tie_word_embeddings: false,
      attention_bias: false,
      torch_dtype: 'bfloat16',
    },
    warnings,
  };
}
