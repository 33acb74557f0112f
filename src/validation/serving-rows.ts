/**
 * Rows of measured serving benchmarks (../shared/reference/serving/measured.csv, from NVIDIA's aiconfigurator
 * silicon data) turned into serving simulations, and their predicted median TTFT and TPOT.
 *
 * Mapping of a row:
 * - concurrency: `silicon_concurrency=N` of silicon_data_source (requests the client kept in flight); without it,
 *   batch_size × attention_dp (agg) or decode_batch_size × decode workers (disagg).
 * - agg: one replica of tp × pp × attention_dp GPUs with moe_tp / moe_ep; disagg: prefill_num_workers prefill workers
 *   and decode_num_workers decode workers (1 each when the row leaves them empty), each with its own plan.
 * - formats: the MoE models' experts carry most weights, so moe_quant_mode sets the weight format, else
 *   gemm_quant_mode (fp8 / fp8_block → fp8, nvfp4, int4_wo → int4-g32, empty → bf16); KV cache fp8 for TensorRT-LLM
 *   with fp8/fp4 weights (its default quantised KV), else bf16.
 * - workload: a closed loop of N users at fixed ISL/OSL. It runs 3·N requests (2·N when N ≥ 512, to bound the run
 *   time) and leaves the first N out: they all arrive at once, which a benchmark of many more requests dilutes.
 * - memory: the engine's default memory fraction, or 0.97 where the default leaves no KV cache (the row ran, so
 *   the deployment raised it); a placeholder layout of all ones that cannot hold the weights is widened
 *   (widenPlaceholder).
 * - a tp the attention heads cannot be split by (tp 48 for 128 heads) is one attention-DP rank per GPU.
 * - attention DP: ranks are taken as symmetric (one rank simulated with N / attention_dp users, the MoE layers seeing
 *   attention_dp times its tokens), which keeps rows of thousands of users fast.
 */
import { findDevice, findModel, hardwareSpec, modelSpec, systemLinks } from '../catalog/index.js';
import type { ModelSpec } from '../core/arch/spec.js';
import type { HardwareSpec } from '../core/hardware/spec.js';
import type { Efficiency } from '../core/perf/efficiency.js';
import type { Links } from '../core/perf/step.js';
import { kvCapacity } from '../core/serving/capacity.js';
import { engineDefaults } from '../core/serving/engines.js';
import {
  NoKvError,
  simulateServing,
  type EngineId,
  type ServingInput,
  type ServingPlan,
} from '../core/serving/index.js';

export type ServingRow = Record<string, string>;

export interface RowPrediction {
  ttft_ms: number;
  tpot_ms: number;
}

export interface PredictRowOptions {
  /** Efficiency table to time steps with (the calibration's candidate). */
  efficiency?: Efficiency;
  efficiencyFor?: (hwClass: string) => Efficiency;
  /** Requests per user simulated (default 3, or 2 at 512 users and more); the first wave is left out. */
  waves?: number;
  kvPrecision?: string;
}

export class RowError extends Error {}

/** Same architecture under another repo id (the configs differ only in names, weights or quantisation). */
const SAME_ARCH: Record<string, string> = {
  'deepseek-ai/DeepSeek-R1': 'deepseek-ai/DeepSeek-V3',
  'nvidia/DeepSeek-R1-NVFP4': 'deepseek-ai/DeepSeek-V3',
  'nvidia/DeepSeek-V3.1-NVFP4': 'deepseek-ai/DeepSeek-V3',
  'nvidia/Qwen3-32B-NVFP4': 'Qwen/Qwen3-32B',
  'meta-llama/Llama-3.1-70B': 'meta-llama/Llama-3.1-70B-Instruct',
};

const specCache = new Map<string, ModelSpec>();

export function rowModel(id: string): ModelSpec {
  let s = specCache.get(id);
  if (s) return s;
  for (const name of [id, SAME_ARCH[id]]) {
    if (!name) continue;
    try {
      s = modelSpec(findModel(name));
      break;
    } catch {
      // try the next name
    }
  }
  if (!s) throw new RowError(`model '${id}' is not in the catalog`);
  specCache.set(id, s);
  return s;
}

/** The measured systems: device, and the catalog system whose links they have. */
const SYSTEMS: Record<string, { device: string; links: string | null }> = {
  h100_sxm: { device: 'h100-sxm-80gb', links: 'dgx-h100' },
  h200_sxm: { device: 'h200-sxm-141gb', links: 'hgx-h200' },
  b200_sxm: { device: 'b200', links: 'dgx-b200' },
  b300_sxm: { device: 'b300', links: null },
  gb200: { device: 'gb200', links: 'gb200-nvl72' },
  // GB300 NVL72 has the GB200 NVL72's NVLink 5 switch domain of 72 GPUs.
  gb300: { device: 'gb300', links: 'gb200-nvl72' },
};

export function rowHardware(system: string): { hw: HardwareSpec; links: Links | undefined } {
  const s = SYSTEMS[system];
  if (!s) throw new RowError(`system '${system}' is not one of ${Object.keys(SYSTEMS).join(', ')}`);
  return { hw: hardwareSpec(findDevice(s.device)), links: (s.links && systemLinks(s.links)) || undefined };
}

function weightFormat(row: ServingRow, spec: ModelSpec): string {
  const moe = spec.groups.some((g) => g.mlp?.kind === 'moe');
  const mode = (
    (moe ? row.moe_quant_mode : row.gemm_quant_mode) ||
    row.gemm_quant_mode ||
    row.precision ||
    ''
  )
    .toLowerCase()
    .trim();
  if (mode === 'fp8' || mode === 'fp8_block') return 'fp8';
  if (mode === 'nvfp4' || mode === 'fp4') return 'nvfp4';
  if (mode === 'int4_wo' || mode === 'int4') return 'int4-g32';
  if (mode === '' || mode === 'bf16' || mode === 'fp16') return 'bf16';
  throw new RowError(`quantisation '${mode}' is not supported`);
}

function int(row: ServingRow, key: string, fallback?: number): number {
  const v = row[key];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    throw new RowError(`${key} is empty`);
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new RowError(`${key} must be a non-negative integer (got '${v}')`);
  return n;
}

/** The plan of a row's agg replica or one of its worker kinds (prefix '' or 'prefill_' / 'decode_'). */
function rowPlan(row: ServingRow, prefix: string, spec: ModelSpec): ServingPlan {
  let tp = Math.max(1, int(row, `${prefix}tp_size`, 1));
  const pp = Math.max(1, int(row, `${prefix}pp_size`, 1));
  let dp = Math.max(1, int(row, `${prefix}attention_dp_size`, 1));
  // Wide deployments list tp = every GPU of the worker (SGLang's --tp 48 --dp 48 --enable-dp-attention); a tp that
  // the attention heads cannot be split by is read that way: one attention-DP rank per GPU.
  const heads = spec.groups.find((g) => g.attention)?.attention?.numHeads ?? 1;
  if (heads % tp !== 0) {
    dp *= tp;
    tp = 1;
  }
  const moe = spec.groups.some((g) => g.mlp?.kind === 'moe');
  const group = tp * dp;
  let moeEp = moe ? Math.max(1, int(row, `${prefix}moe_ep_size`, 1)) : 1;
  if (group % moeEp !== 0) moeEp = 1;
  return { tp, pp, attentionDp: dp, moeTp: group / moeEp, moeEp };
}

export function rowConcurrency(row: ServingRow): number {
  const m = /silicon_concurrency=(\d+)/.exec(row.silicon_data_source ?? '');
  if (m) return Number(m[1]);
  if (row.mode === 'disagg')
    return int(row, 'decode_batch_size') * Math.max(1, int(row, 'decode_num_workers', 1));
  return int(row, 'batch_size') * Math.max(1, int(row, 'attention_dp_size', 1));
}

const isOne = (p: ServingPlan) => p.tp === 1 && p.attentionDp === 1 && p.moeEp === 1 && p.moeTp === 1;

/**
 * A layout of all ones (tp, attention DP, MoE TP/EP of 1) is a placeholder when one GPU cannot hold the weights
 * (DeepSeek-R1 on one GB200): it becomes the smallest power-of-two group that holds a request, in the layout such
 * deployments use: attention DP with expert parallel over every GPU (MoE), tensor parallel (dense).
 */
function widenPlaceholder(
  p: ServingPlan,
  spec: ModelSpec,
  hw: HardwareSpec,
  o: { precision: string; kvPrecision: string; engine: EngineId; tokens: number },
): ServingPlan {
  if (!isOne(p)) return p;
  const moe = spec.groups.some((g) => g.mlp?.kind === 'moe');
  const holds = (q: ServingPlan) =>
    kvCapacity(spec, hw, {
      precision: o.precision,
      kvPrecision: o.kvPrecision,
      plan: q,
      engine: engineDefaults(o.engine, hw.memoryBytes),
      maxModelLen: o.tokens,
      memoryFraction: 0.97,
    }).tokensPerRank >= o.tokens;
  if (holds(p)) return p;
  for (let n = 2; n <= 64; n *= 2) {
    const q = moe
      ? { tp: 1, pp: 1, attentionDp: n, moeTp: 1, moeEp: n }
      : { tp: n, pp: 1, attentionDp: 1, moeTp: n, moeEp: 1 };
    if (holds(q)) return q;
  }
  return p;
}

/** The row ran, so its weights fit: where the engine's default memory fraction leaves no KV, it was raised. */
function fitting(input: ServingInput) {
  try {
    return simulateServing(input);
  } catch (e) {
    if (!(e instanceof NoKvError)) throw e;
    return simulateServing({ ...input, memoryFraction: 0.97 });
  }
}

/** The simulation a row describes, and its predicted median TTFT and TPOT (ms). */
export function predictRow(row: ServingRow, options: PredictRowOptions = {}): RowPrediction {
  const spec = rowModel(row.model_path ?? '');
  const { hw, links } = rowHardware(row.system ?? '');
  const engine = row.backend as EngineId;
  if (!['vllm', 'sglang', 'trtllm'].includes(engine))
    throw new RowError(`backend '${row.backend}' is not supported`);
  const precision = weightFormat(row, spec);
  const kvPrecision =
    options.kvPrecision ??
    (engine === 'trtllm' && precision !== 'bf16' && precision !== 'int4-g32' ? 'fp8' : 'bf16');
  const isl = int(row, 'isl');
  const osl = int(row, 'osl');
  if (isl < 1 || osl < 1) throw new RowError('isl and osl must be positive');
  const users = rowConcurrency(row);
  if (users < 1) throw new RowError('concurrency must be positive');
  const disagg = row.mode === 'disagg';
  const fmt = { precision, kvPrecision, engine, tokens: isl + osl };
  const plan = (prefix: string) => widenPlaceholder(rowPlan(row, prefix, spec), spec, hw, fmt);
  const agg = disagg ? null : plan('');
  const prefill = disagg ? plan('prefill_') : null;
  const decode = disagg ? plan('decode_') : null;
  // Symmetric attention-DP ranks and decode workers: simulate one decode rank's share of the users; the prefill
  // workers that serve all ranks are shared by them (their steps stretched when they have less capacity).
  const dp = (agg ?? decode)!.attentionDp;
  const decodeWorkers = disagg ? Math.max(1, int(row, 'decode_num_workers', 1)) : 1;
  const prefillWorkers = disagg ? Math.max(1, int(row, 'prefill_num_workers', 1)) : 1;
  const ranks = dp * decodeWorkers;
  const share = Math.max(1, Math.round(users / ranks));
  const waves = options.waves ?? (share >= 512 ? 2 : 3);
  const input: ServingInput = {
    spec,
    hw,
    precision,
    kvPrecision,
    engine,
    links,
    agg: agg ? { plan: agg, workers: 1, simulatedRanks: 1 } : undefined,
    disagg:
      prefill && decode
        ? {
            prefill: {
              plan: prefill,
              workers: 1,
              timeScale: Math.max(1, ranks / (prefillWorkers * prefill.attentionDp)),
              simulatedRanks: 1,
            },
            decode: { plan: decode, workers: 1, simulatedRanks: 1 },
          }
        : undefined,
    workload: {
      kind: 'closed',
      users: share,
      numRequests: share * waves,
      input: { kind: 'fixed', value: isl },
      output: { kind: 'fixed', value: osl },
      seed: 1,
    },
    warmup: share,
    efficiency: options.efficiency,
    efficiencyFor: options.efficiencyFor,
    ideal: false,
    itl: false,
  };
  const r = fitting(input);
  return { ttft_ms: r.estimate.ttft_s.p50 * 1e3, tpot_ms: r.estimate.tpot_s.p50 * 1e3 };
}

export type RowResult = { id: string; ttft_ms: number; tpot_ms: number } | { id: string; error: string };

/** One prediction per row; a row that cannot be simulated is an error entry, never an exception. */
export function predictRows(
  rows: readonly ServingRow[],
  options: PredictRowOptions = {},
  onRow?: (done: number, total: number) => void,
): RowResult[] {
  const out: RowResult[] = [];
  rows.forEach((row, i) => {
    const id = row.id || `row ${i + 1}`;
    try {
      const p = predictRow(row, options);
      out.push({ id, ttft_ms: p.ttft_ms, tpot_ms: p.tpot_ms });
    } catch (e) {
      out.push({ id, error: e instanceof Error ? e.message.split('\n')[0]! : String(e) });
    }
    onRow?.(i + 1, rows.length);
  });
  return out;
}

export interface GroupError {
  engine: string;
  system: string;
  mode: string;
  rows: number;
  predicted: number;
  ttft_median_abs_error: number;
  tpot_median_abs_error: number;
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median absolute relative error of TTFT and TPOT per (engine, system, mode), over rows with measurements. */
export function groupErrors(rows: readonly ServingRow[], results: readonly RowResult[]): GroupError[] {
  const groups = new Map<string, { g: GroupError; ttft: number[]; tpot: number[] }>();
  rows.forEach((row, i) => {
    const key = `${row.backend}|${row.system}|${row.mode}`;
    let e = groups.get(key);
    if (!e) {
      e = {
        g: {
          engine: row.backend ?? '',
          system: row.system ?? '',
          mode: row.mode ?? '',
          rows: 0,
          predicted: 0,
          ttft_median_abs_error: NaN,
          tpot_median_abs_error: NaN,
        },
        ttft: [],
        tpot: [],
      };
      groups.set(key, e);
    }
    e.g.rows++;
    const r = results[i]!;
    if ('error' in r) return;
    e.g.predicted++;
    const mt = Number(row.silicon_ttft_ms);
    const mp = Number(row.silicon_tpot_ms);
    if (mt > 0) e.ttft.push(Math.abs(r.ttft_ms / mt - 1));
    if (mp > 0) e.tpot.push(Math.abs(r.tpot_ms / mp - 1));
  });
  return [...groups.values()].map(({ g, ttft, tpot }) => ({
    ...g,
    ttft_median_abs_error: median(ttft),
    tpot_median_abs_error: median(tpot),
  }));
}
