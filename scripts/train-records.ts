/**
 * The published training runs of shared/reference/calibration/training.json as infersim inputs: the model (the
 * catalog's, or a config built from the record's own architecture, or for the few records that name a model the
 * catalog lacks and print no architecture, a config written here and checked against the record's printed
 * TFLOP/s ÷ tokens/s), the device, the run's degrees, and the measured tokens/s per GPU.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { catalog, findDevice, hardwareSpec, modelSpec } from '../src/catalog/index.js';
import { specFromConfig, type ModelSpec } from '../src/core/arch/index.js';
import type { HardwareSpec } from '../src/core/hardware/spec.js';
import { trainingMemory } from '../src/core/memory/training.js';
import type { TrainPrecision, TrainRun, TrainZero } from '../src/core/perf/train-time.js';

/** The shared reference data beside the repository (env INFERSIM_TRAINING_JSON overrides). */
export const TRAINING_JSON =
  process.env.INFERSIM_TRAINING_JSON ??
  fileURLToPath(new URL('../../shared/reference/calibration/training.json', import.meta.url));

interface Arch {
  layers: number;
  hidden: number;
  heads: number | null;
  kv_heads: number | null;
  ffn: number | null;
  vocab: number | null;
}

interface RawRecord {
  id: string;
  source: { repo?: string; path?: string };
  model: { name_as_printed: string; hf_repo_id: string | null; arch: Arch | null };
  training_kind: string;
  hardware: { gpu: string; num_gpus: number };
  parallelism: Record<string, number | null>;
  precision: { compute: string | null };
  micro_batch_size: number | null;
  global_batch_size: number | null;
  seq_len: number | null;
  activation_checkpointing: string | null;
  other_settings: Record<string, unknown> | null;
  measured: Record<string, number | null>;
  derived: { tokens_per_s_per_gpu?: number } | null;
  framework: { name: string };
}

export interface TrainRecord {
  id: string;
  source: string;
  framework: string;
  gpuName: string;
  gpu: string;
  modelName: string;
  spec: ModelSpec;
  hw: HardwareSpec;
  run: TrainRun;
  /** Measured tokens/s per GPU and how it was read. */
  target: number;
  targetFrom: string;
}

/** Catalog entries standing in for a repo id the catalog holds under a sibling name (same architecture). */
const CATALOG_ALIAS: Record<string, string> = {
  'moonshotai/Kimi-K2-Base': 'moonshotai/Kimi-K2-Instruct',
  'meta-llama/Llama-3.1-70B': 'meta-llama/Llama-3.1-70B-Instruct',
};

/**
 * Configs for models the record names but neither the catalog nor the record describes (NeMo/Megatron recipe
 * shapes, recalled). Each matches the record's printed FLOPs per token (TFLOP/s ÷ tokens/s) within 0.5 %:
 * GPT3-5B 32.68 GF, GPT3-20B 128.2 GF, Nemotron-8B 51.4 GF, Nemotron-22B 130.2 GF.
 */
const CONFIGS: Record<string, Record<string, unknown>> = {
  'GPT3-5B': gpt(24, 4096, 32, 32, 16384, 50257, false),
  'GPT3-20B': gpt(44, 6144, 48, 48, 24576, 50257, false),
  'GPT3-175B': gpt(96, 12288, 96, 96, 49152, 51200, false),
  'Nemotron-8B': gpt(32, 4096, 32, 32, 16384, 256000, false),
  'Nemotron-22B': gpt(40, 6144, 48, 48, 24576, 256000, false),
  'Nemotron-4 15B': gpt(32, 6144, 48, 8, 24576, 256000, false),
  'nvidia/Nemotron-4-340B-Base': gpt(96, 18432, 96, 8, 73728, 256000, false),
  // Grok-1: 8 experts, top-2 (xai-org/grok-1 model card and code).
  'xai-org/grok-1': {
    model_type: 'mixtral',
    hidden_size: 6144,
    num_hidden_layers: 64,
    num_attention_heads: 48,
    num_key_value_heads: 8,
    intermediate_size: 32768,
    num_local_experts: 8,
    num_experts_per_tok: 2,
    vocab_size: 131072,
  },
  // Nemotron-H 56B is a Mamba-2 / attention hybrid the catalog cannot read: a dense stand-in of the same
  // parameter count (~56 B), which over-counts attention FLOPs (~9 % at 8K).
  'nvidia/Nemotron-H-56B-Base-8K': gpt(78, 8192, 64, 8, 32768, 131072, false),
};

function gpt(L: number, h: number, a: number, kv: number, ffn: number, V: number, tied: boolean) {
  return {
    model_type: 'starcoder2',
    hidden_size: h,
    num_hidden_layers: L,
    num_attention_heads: a,
    num_key_value_heads: kv,
    intermediate_size: ffn,
    vocab_size: V,
    tie_word_embeddings: tied,
    use_bias: false,
  };
}

const GATED = /llama/i;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function specFor(r: RawRecord): ModelSpec {
  const m = r.model;
  const repo = m.hf_repo_id ? (CATALOG_ALIAS[m.hf_repo_id] ?? m.hf_repo_id) : null;
  const entry = repo ? catalog().models.find(repo) : undefined;
  if (entry) return modelSpec(entry);
  const a = m.arch;
  if (a && a.heads && a.vocab) {
    const kv = a.kv_heads ?? a.heads;
    const ffn = a.ffn ?? 4 * a.hidden;
    if (GATED.test(m.name_as_printed))
      return specFromConfig({
        model_type: 'llama',
        hidden_size: a.hidden,
        num_hidden_layers: a.layers,
        num_attention_heads: a.heads,
        num_key_value_heads: kv,
        intermediate_size: ffn,
        vocab_size: a.vocab,
      });
    // MPT ties its embeddings; Megatron GPT benchmark models do not.
    return specFromConfig(gpt(a.layers, a.hidden, a.heads, kv, ffn, a.vocab, /mpt/i.test(m.name_as_printed)));
  }
  const cfg =
    CONFIGS[m.hf_repo_id ?? ''] ?? CONFIGS[m.name_as_printed] ?? (a ? CONFIGS['GPT3-175B'] : undefined);
  if (!cfg) throw new Error(`${r.id}: no model for '${m.name_as_printed}'`);
  return specFromConfig(cfg);
}

function precisionOf(s: string | null): TrainPrecision {
  const p = (s ?? 'bf16').toLowerCase();
  if (p.includes('fp4')) return 'fp4';
  if (p.includes('fp8')) return 'fp8';
  return 'bf16';
}

/** Megatron's r0.8 model FLOPs per token (GPT, 4h MLP, MHA): 72Lh² + 12Lhs + 6Vh — to read its TFLOP/s rows. */
function megatronFlopsPerToken(a: Arch, seq: number): number {
  const { layers: L, hidden: h } = a;
  return 12 * L * h * h * (2 + seq / h + 4 + (a.vocab ?? 0) / (2 * L * h));
}

export function loadTrainRecords(path = TRAINING_JSON): TrainRecord[] {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { records: RawRecord[] };
  return raw.records.map((r) => {
    const spec = specFor(r);
    const device = findDevice(
      r.hardware.gpu
        .replace(/^NVIDIA /, '')
        .replace(/\(.*$/, '')
        .trim(),
    );
    const hw = hardwareSpec(device);
    const p = r.parallelism;
    const gpus = r.hardware.num_gpus;
    const tp = p.tp ?? 1;
    const pp = p.pp ?? 1;
    const cp = p.cp ?? 1;
    const dp = gpus / (tp * pp * cp);
    if (!Number.isInteger(dp)) throw new Error(`${r.id}: ${gpus} GPUs not divisible by tp·pp·cp`);
    const m = r.measured;
    // FSDP runs of MoE models that print no EP degree (NeMo AutoModel) shard the experts over the FSDP group, as
    // AutoModel's MoE recipes do; gathering every expert each micro-batch would take tens of seconds a step.
    const experts = spec.groups.find((g) => g.mlp?.kind === 'moe')?.mlp;
    const nExperts = experts?.kind === 'moe' ? experts.numExperts : 0;
    let ep = p.ep ?? 1;
    if (p.ep == null && nExperts > 0 && (p.fsdp ?? 0) > 1) ep = gcd(nExperts, dp * cp * tp);
    const mbs = r.micro_batch_size ?? (r.other_settings?.local_batch_size as number | undefined) ?? 1;
    const stepTokens = (m.tokens_per_s_total ?? 0) * (m.step_time_s ?? 0);
    const seq =
      r.seq_len ?? (stepTokens && r.global_batch_size ? Math.round(stepTokens / r.global_batch_size) : 4096);
    let global = r.global_batch_size ?? mbs * dp;
    if (global % (mbs * dp) !== 0) global = Math.max(1, Math.round(global / (mbs * dp))) * mbs * dp;
    const megatron = /megatron|nemo/i.test(r.framework.name) && !/automodel/i.test(r.framework.name);
    const zero: TrainZero =
      (p.fsdp ?? 0) > 1 ? 'fsdp' : p.zero_stage != null ? (p.zero_stage as 0 | 1 | 2 | 3) : megatron ? 1 : 0;
    const ac = r.activation_checkpointing ?? '';
    const lora = /lora/i.test(r.training_kind);
    const adapterParameters = lora
      ? trainingMemory(spec, {
          precision: 'bf16',
          optimizer: 'adamw',
          batch: 1,
          seq: 16,
          lora: { rank: 16, targets: 'all-linear' },
          explain: false,
        }).trainable_parameters
      : null;
    const run: TrainRun = {
      precision: precisionOf(r.precision.compute),
      microBatch: mbs,
      seq,
      globalBatch: global,
      dp,
      tp,
      pp,
      vpp: p.vpp ?? 1,
      cp,
      ep,
      zero,
      recompute: ac.startsWith('full') ? 'full' : ac.startsWith('selective') ? 'selective' : 'none',
      adapterParameters,
      qlora: false,
    };
    let target = m.tokens_per_s_per_gpu ?? r.derived?.tokens_per_s_per_gpu ?? null;
    let targetFrom = m.tokens_per_s_per_gpu ? 'measured' : 'derived';
    if (target === null && m.tokens_per_s_total) {
      target = m.tokens_per_s_total / gpus;
      targetFrom = 'total/gpus';
    }
    if (target === null && m.tflops_per_gpu && r.model.arch) {
      target = (m.tflops_per_gpu * 1e12) / megatronFlopsPerToken(r.model.arch, seq);
      targetFrom = 'tflops/megatron-flops-per-token';
    }
    if (target === null) throw new Error(`${r.id}: no tokens/s per GPU to compare with`);
    return {
      id: r.id,
      source: `${r.source.repo ?? '?'}:${(r.source.path ?? '').split(' ')[0]}`,
      framework: r.framework.name.split(/[ (]/)[0]!,
      gpuName: r.hardware.gpu,
      gpu: device.id,
      modelName: r.model.name_as_printed,
      spec,
      hw,
      run,
      target,
      targetFrom,
    };
  });
}
