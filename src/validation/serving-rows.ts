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
 * - attention DP: ranks are taken as symmetric (one rank simulated with N / attention_dp users, the MoE layers seeing
 *   attention_dp times its tokens), which keeps rows of thousands of users fast.
 */
import { findDevice, findModel, hardwareSpec, modelSpec, systemLinks } from '../catalog/index.js';
import type { ModelSpec } from '../core/arch/spec.js';
import type { HardwareSpec } from '../core/hardware/spec.js';
import type { Efficiency } from '../core/perf/efficiency.js';
import type { Links } from '../core/perf/step.js';
import { simulateServing, type EngineId, type ServingPlan } from '../core/serving/index.js';

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
  const tp = Math.max(1, int(row, `${prefix}tp_size`, 1));
  const pp = Math.max(1, int(row, `${prefix}pp_size`, 1));
  const dp = Math.max(1, int(row, `${prefix}attention_dp_size`, 1));
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
  const agg = disagg ? null : rowPlan(row, '', spec);
  const prefill = disagg ? rowPlan(row, 'prefill_', spec) : null;
  const decode = disagg ? rowPlan(row, 'decode_', spec) : null;
  // Symmetric attention-DP ranks and decode workers: simulate one decode rank's share of the users; the prefill
  // workers that serve all ranks are shared by them (their steps stretched when they have less capacity).
  const dp = (agg ?? decode)!.attentionDp;
  const decodeWorkers = disagg ? Math.max(1, int(row, 'decode_num_workers', 1)) : 1;
  const prefillWorkers = disagg ? Math.max(1, int(row, 'prefill_num_workers', 1)) : 1;
  const ranks = dp * decodeWorkers;
  const share = Math.max(1, Math.round(users / ranks));
  const waves = options.waves ?? (share >= 512 ? 2 : 3);
  const r = simulateServing({
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
  });
  return { ttft_ms: r.estimate.ttft_s.p50 * 1e3, tpot_ms: r.estimate.tpot_s.p50 * 1e3 };
}
