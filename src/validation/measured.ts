/**
 * Rows of ../shared/reference/serving/measured.csv (aiconfigurator's silicon_sample.csv, Apache-2.0, NVIDIA; see
 * that folder's README): median TTFT and TPOT of a closed loop of N users at fixed ISL/OSL, parsed into the
 * question the step-time model answers for each (model, GPU, engine, formats, parallelism per worker type).
 */
import { readFileSync } from 'node:fs';
import { catalog, findDevice, hardwareSpec, modelSpec } from '../catalog/index.js';
import type { ModelSpec } from '../core/arch/spec.js';
import { hardwareClass, type HardwareSpec } from '../core/hardware/spec.js';
import type { EngineId } from '../core/perf/efficiency.js';
import type { Links } from '../core/perf/step.js';
import { REFERENCE_DIR } from './rows.js';

/** One worker type's parallelism: attention TP × attention-DP ranks, experts over moe_tp × moe_ep devices. */
export interface WorkerPlan {
  tp: number;
  adp: number;
  moeTp: number;
  ep: number;
  /** Workers of this type (disagg; 1 where the row does not say). */
  workers: number;
  /** Whether `workers` was given by the row (the rest assume 1). */
  workersKnown: boolean;
  /** Sequences per attention-DP rank (agg, or disagg decode when given). */
  batch: number | null;
}

export interface ServingRow {
  id: string;
  /** The repo id as the row names it. */
  model: string;
  /** Architecture family, for leave-one-model-out (DeepSeek-R1/V3/V3.1 share one config). */
  family: string;
  engine: EngineId;
  system: string;
  mode: 'agg' | 'disagg';
  isl: number;
  osl: number;
  concurrency: number;
  /** Weight format of the GEMMs and the KV-cache dtype the row ran with. */
  precision: string;
  kvPrecision: string;
  agg: WorkerPlan | null;
  prefill: WorkerPlan | null;
  decode: WorkerPlan | null;
  ttft_ms: number;
  tpot_ms: number;
}

export const SERVING_CSV = `${REFERENCE_DIR}serving/measured.csv`;

/** Minimal CSV: the file has no quoted commas except in silicon_data_source, which we parse field by field. */
export function parseCsv(text: string): Record<string, string>[] {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  const head = splitLine(lines[0]!);
  return lines.slice(1).map((l) => {
    const f = splitLine(l);
    return Object.fromEntries(head.map((h, i) => [h, f[i] ?? '']));
  });
}

function splitLine(l: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < l.length; i++) {
    const c = l[i]!;
    if (q) {
      if (c === '"' && l[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const int = (s: string | undefined, d: number): number => (s && s.trim() !== '' ? Number(s) : d);
/** A parallel degree: blank or 0 (some rows write 0 for 'off') is 1. */
const degree = (s: string | undefined, d: number): number => Math.max(1, int(s, d));

function worker(r: Record<string, string>, prefix: string, fallbackBatch: number | null): WorkerPlan {
  const tp = degree(r[`${prefix}tp_size`], 1);
  const adp = degree(r[`${prefix}attention_dp_size`], 1);
  const known = (r[`${prefix}num_workers`] ?? '').trim() !== '' && prefix !== '';
  const b = r[`${prefix}batch_size`];
  return {
    tp,
    adp,
    moeTp: degree(r[`${prefix}moe_tp_size`], tp * adp),
    ep: degree(r[`${prefix}moe_ep_size`], 1),
    workers: prefix === '' ? 1 : int(r[`${prefix}num_workers`], 1),
    workersKnown: known,
    batch: b && b.trim() !== '' ? Number(b) : fallbackBatch,
  };
}

/** Family of a repo id: the NVFP4 re-quantisations and R1 share their base model's architecture. */
export function familyOf(model: string): string {
  const m = model
    .replace(/^nvidia\//, '')
    .replace(/-NVFP4$/, '')
    .replace(/-(Instruct|hf)$/, '')
    .split('/')
    .pop()!;
  if (/DeepSeek-(R1|V3)/i.test(m)) return 'DeepSeek-V3';
  // Llama 3.1 and 3.3 70B share one config.json.
  if (/^Llama-3\.[13]-70B/i.test(m)) return 'Llama-3-70B';
  return m;
}

/**
 * Some aggregated rows (a gap-analysis set) repeat a measurement under tp_size = tp · moe_tp (tp16 moe_tp4 ep4 is
 * the same run as tp4 moe_tp1 ep4, TTFT and TPOT identical): a TP group beyond one NVLink node with both expert
 * splits above 1 is read as that labelling.
 */
function relabel(w: WorkerPlan, nvlinkDomain: number): WorkerPlan {
  if (w.tp > nvlinkDomain && w.moeTp > 1 && w.ep > 1 && w.tp % w.moeTp === 0)
    return { ...w, tp: w.tp / w.moeTp, moeTp: 1 };
  // The same set labels attention DP alike (adp64 moe_tp8 ep8 batch 2 is the tp8 ep8 run of 8 ranks × 16 users).
  if (w.adp > nvlinkDomain && w.tp === 1 && w.moeTp > 1 && w.ep > 1 && w.adp % w.moeTp === 0)
    return {
      ...w,
      adp: w.adp / w.moeTp,
      moeTp: 1,
      batch: w.batch === null ? null : w.batch * w.moeTp,
    };
  // ... and tp4 adp4 moe_ep16 batch 16 beyond a node is the tp4 ep4 run of one rank of 64 users (MiniMax-M2.5 on
  // H100: TTFT and TPOT within 0.3% of the tp4 ep4 row of that concurrency).
  if (w.tp * w.adp > nvlinkDomain && w.tp > 1 && w.adp > 1 && w.moeTp === 1 && w.ep === w.tp * w.adp)
    return { ...w, adp: 1, ep: w.adp, batch: w.batch === null ? null : w.batch * w.adp };
  return w;
}

/**
 * Workers a disaggregated row leaves unstated, as the calibration (analytic.ts) and the simulator
 * (serving-rows.ts) both read them. Assumptions, not measurements: a decode rank runs at most `maxRankUsers` users
 * (TensorRT-LLM and SGLang default to 256–512 per rank); prefill workers are as many as keep them
 * `prefillUtilisation` busy.
 */
export const UNSTATED = { maxRankUsers: 256, prefillUtilisation: 0.8 } as const;

/**
 * An unstated decode worker of an MoE model with expert parallelism and no attention DP is read as the wide-EP
 * recipes of TensorRT-LLM and SGLang deploy it: attention data-parallel over its tp GPUs.
 */
export function wideEpDecode(
  moe: boolean,
  w: { tp: number; adp: number; ep: number },
): { tp: number; adp: number } {
  return moe && w.ep > 1 && w.adp === 1 ? { tp: 1, adp: w.tp } : { tp: w.tp, adp: w.adp };
}

/**
 * An aggregated record with its layout read as relabel reads it, the degrees written back (the planner check
 * counts GPUs and configurations from the records); other records as they are.
 */
export function relabelRecord(r: Record<string, string>): Record<string, string> {
  if (r['mode'] === 'disagg') return r;
  const w = worker(r, '', int(r['batch_size'], 1));
  const x = relabel(w, SYSTEMS[r['system'] ?? '']?.nvlinkDomain ?? 8);
  if (x === w) return r;
  return {
    ...r,
    tp_size: String(x.tp),
    attention_dp_size: String(x.adp),
    moe_tp_size: String(x.moeTp),
    moe_ep_size: String(x.ep),
    batch_size: x.batch === w.batch ? r['batch_size']! : String(x.batch),
  };
}

export function parseServingRow(r: Record<string, string>): ServingRow {
  const engine = r['backend'] as EngineId;
  if (!['vllm', 'sglang', 'trtllm'].includes(engine)) throw new Error(`unknown backend '${r['backend']}'`);
  const mode = r['mode'] === 'disagg' ? 'disagg' : 'agg';
  const gq = (r['gemm_quant_mode'] || r['precision'] || 'bf16').toLowerCase();
  const precision =
    gq === 'nvfp4' || gq === 'fp4'
      ? 'nvfp4'
      : gq.startsWith('fp8')
        ? 'fp8'
        : gq.startsWith('int4')
          ? 'int4-g32'
          : 'bf16';
  // FP8/FP4 checkpoints are served with an FP8 KV cache (TensorRT-LLM's default for them; the InferenceX recipes
  // of vLLM and SGLang pass --kv-cache-dtype fp8): a 16-bit cache would not hold the rows' concurrency, e.g.
  // Llama-3.1-70B FP8 on one H200 at 32 × 9,216 tokens, measured without queueing.
  const kvPrecision = precision === 'fp8' || precision === 'nvfp4' ? 'fp8' : 'bf16';
  const c = /silicon_concurrency=(\d+)/.exec(r['silicon_data_source'] ?? '');
  const domain = SYSTEMS[r['system'] ?? '']?.nvlinkDomain ?? 8;
  const agg = mode === 'agg' ? relabel(worker(r, '', int(r['batch_size'], 1)), domain) : null;
  const concurrency = c ? Number(c[1]) : agg ? agg.batch! * agg.adp : int(r['decode_batch_size'], 1);
  return {
    id: r['id']!,
    model: r['model_path']!,
    family: familyOf(r['model_path']!),
    engine,
    system: r['system']!,
    mode,
    isl: int(r['isl'], NaN),
    osl: int(r['osl'], NaN),
    concurrency,
    precision,
    kvPrecision,
    agg,
    prefill: mode === 'disagg' ? worker(r, 'prefill_', null) : null,
    decode: mode === 'disagg' ? worker(r, 'decode_', null) : null,
    ttft_ms: Number(r['silicon_ttft_ms']),
    tpot_ms: Number(r['silicon_tpot_ms']),
  };
}

export function loadServingRows(path = SERVING_CSV): ServingRow[] {
  return parseCsv(readFileSync(path, 'utf8')).map(parseServingRow);
}

const SYSTEMS: Record<string, { device: string; nvlinkDomain: number }> = {
  h100_sxm: { device: 'h100-sxm-80gb', nvlinkDomain: 8 },
  h200_sxm: { device: 'h200-sxm-141gb', nvlinkDomain: 8 },
  b200_sxm: { device: 'b200', nvlinkDomain: 8 },
  b300_sxm: { device: 'b300', nvlinkDomain: 8 },
  // GB200/GB300 NVL72: one NVLink domain of 72 GPUs.
  gb200: { device: 'gb200', nvlinkDomain: 72 },
  gb300: { device: 'gb300', nvlinkDomain: 72 },
};

/** The device of a row's system and the links its collectives cross (NVLink domain, 400G NIC per GPU beyond). */
export function systemOf(system: string): { hw: HardwareSpec; links: Links; hwClass: string } {
  const s = SYSTEMS[system];
  if (!s) throw new Error(`unknown system '${system}'`);
  const hw = hardwareSpec(findDevice(s.device));
  return {
    hw,
    hwClass: hardwareClass(hw),
    links: {
      intra: { name: 'NVLink', bandwidthBytesPerS: hw.interconnectBytesPerS ?? 32e9, latencyS: 3e-6 },
      inter: { name: 'InfiniBand 400G', bandwidthBytesPerS: 50e9, latencyS: 8e-6 },
      devicesPerNode: s.nvlinkDomain,
    },
  };
}

/** Repo ids of the rows that the catalog names differently (same config.json). */
const ALIASES: Record<string, string> = {
  'deepseek-ai/DeepSeek-R1': 'deepseek-ai/DeepSeek-V3',
  'nvidia/DeepSeek-R1-NVFP4': 'deepseek-ai/DeepSeek-V3',
  'nvidia/DeepSeek-V3.1-NVFP4': 'deepseek-ai/DeepSeek-V3',
  'meta-llama/Llama-3.1-70B': 'meta-llama/Llama-3.1-70B-Instruct',
  'nvidia/Qwen3-32B-NVFP4': 'Qwen/Qwen3-32B',
};

const specCache = new Map<string, ModelSpec | null>();

/** The catalog's spec for a row's model, or null when the catalog does not have it. */
export function specOf(model: string): ModelSpec | null {
  if (specCache.has(model)) return specCache.get(model)!;
  const c = catalog().models;
  const hit = c.find(model) ?? (ALIASES[model] ? c.find(ALIASES[model]) : undefined);
  const spec = hit ? modelSpec(hit) : null;
  specCache.set(model, spec);
  return spec;
}
