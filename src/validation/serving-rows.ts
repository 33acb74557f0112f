/**
 * Rows of measured serving benchmarks (../shared/reference/serving/measured.csv, from NVIDIA's aiconfigurator
 * silicon data) turned into serving simulations, and their predicted median TTFT and TPOT.
 *
 * Mapping of a row:
 * - concurrency: `silicon_concurrency=N` of silicon_data_source (requests the client kept in flight); without it,
 *   batch_size × attention_dp (agg) or decode_batch_size × decode workers (disagg).
 * - agg: one replica of tp × pp × attention_dp GPUs with moe_tp / moe_ep; disagg: prefill_num_workers prefill workers
 *   and decode_num_workers decode workers, each with its own plan. Unstated decode workers: the fewest whose KV
 *   holds every user (decodeWorkersFor); unstated prefill workers: as many as the decode side's request rate keeps
 *   80% busy (prefillWorkersFor).
 * - formats: the MoE models' experts carry most weights, so moe_quant_mode sets the weight format, else
 *   gemm_quant_mode (fp8 / fp8_block → fp8, nvfp4, int4_wo → int4-g32, empty → bf16); KV cache fp8 with fp8/fp4
 *   weights for every engine (TensorRT-LLM's default; the InferenceX recipes of vLLM and SGLang pass
 *   --kv-cache-dtype fp8), else bf16 — as measured.ts reads the rows the calibration is fitted on.
 * - layout labels: an aggregated row labelled tp_size = tp · moe_tp beyond one NVLink domain is read as the run it
 *   repeats (measured.ts relabelRecord), as the calibration reads it.
 * - workload: a closed loop of N users at fixed ISL/OSL, started in the engine's calibrated waves
 *   (core/serving/stagger.ts). It runs 3·N requests and leaves the first N out (the start). More than 256 users on
 *   one simulated rank are simulated as 256 or fewer, each standing for batch_scale identical users
 *   (ServingInput.batchScale).
 * - memory: the engine's default memory fraction, or 0.97 where the default leaves no KV cache (the row ran, so
 *   the deployment raised it); a placeholder layout of all ones that cannot hold the weights is widened
 *   (widenPlaceholder).
 * - a tp the attention heads cannot be split by (tp 48 for 128 heads) is one attention-DP rank per GPU.
 * - attention DP: ranks are taken as symmetric (one rank simulated with N / attention_dp users, the MoE layers seeing
 *   attention_dp times its tokens), which keeps rows of thousands of users fast. Disaggregated: one decode rank and
 *   round(prefill ranks / decode ranks) prefill ranks, or round(decode ranks / prefill ranks) decode ranks and one
 *   prefill rank, so each simulated prefill rank sees the load it has in the deployment.
 */
import { findDevice, findModel, hardwareSpec, modelSpec, systemLinks } from '../catalog/index.js';
import type { ModelSpec } from '../core/arch/spec.js';
import type { HardwareSpec } from '../core/hardware/spec.js';
import type { Efficiency } from '../core/perf/efficiency.js';
import type { Links } from '../core/perf/step.js';
import { kvCapacity } from '../core/serving/capacity.js';
import { engineDefaults } from '../core/serving/engines.js';
import { estimateEfficiency, StepTimer, type StepTimeOptions } from '../core/serving/step-time.js';
import { kvElementBytes } from '../core/numerics/formats.js';
import { relabelRecord, UNSTATED, wideEpDecode } from './measured.js';
import {
  NoKvError,
  simulateServing,
  type EngineId,
  type ServingInput,
  type ServingPlan,
  type WorkerGroup,
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
  /** Requests per simulated user (default 3); the first wave is left out. */
  waves?: number;
  /** Most users simulated per rank (default 256); more stand in for several each (batch_scale). Lower is faster. */
  maxSimulatedUsers?: number;
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
export function widenPlaceholder(
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

/**
 * Prefill workers a disaggregated row leaves unstated: enough for the request rate its decode side sustains, at
 * UNSTATED.prefillUtilisation (80%). Rate ≈ users / (prefill time + (OSL − 1) · decode step time); one prefill rank
 * serves 1 / (per-prompt time of a full chunk of ISL prompts) requests per second.
 */
function prefillWorkersFor(
  prefill: ServingPlan,
  decode: ServingPlan,
  o: {
    spec: ModelSpec;
    hw: HardwareSpec;
    precision: string;
    kvBytes: number;
    links: Links | undefined;
    users: number;
    decodeWorkers: number;
    isl: number;
    osl: number;
    engine: EngineId;
    options: PredictRowOptions;
  },
): number {
  const timer = (plan: ServingPlan) => {
    const so: StepTimeOptions = {
      spec: o.spec,
      hw: o.hw,
      precision: o.precision,
      kvBytes: o.kvBytes,
      plan,
      links: o.links,
      efficiency: o.options.efficiency,
      efficiencyFor: o.options.efficiencyFor,
      engine: o.engine,
    };
    return new StepTimer(so, estimateEfficiency(so));
  };
  // A busy prefill worker batches the waiting prompts up to its chunk: per prompt, a full chunk's step over the
  // prompts it holds (as the calibration's steady state serves a prefill queue, core/perf/steady.ts).
  const per = Math.max(1, Math.floor(engineDefaults(o.engine, o.hw.memoryBytes).maxStepTokens / o.isl));
  const tp =
    timer(prefill).exact(
      {
        prefill: Array.from({ length: per }, () => ({ tokens: o.isl, context: 0 })),
        decodes: 0,
        decodeContext: 0,
      },
      per * o.isl * prefill.attentionDp,
    ) / per;
  const b = Math.max(1, Math.round(o.users / (o.decodeWorkers * decode.attentionDp)));
  const td = timer(decode).exact(
    { prefill: [], decodes: b, decodeContext: b * (o.isl + o.osl / 2) },
    b * decode.attentionDp,
  );
  const rate = o.users / (tp + Math.max(0, o.osl - 1) * td);
  return Math.max(1, Math.ceil((rate * tp) / (UNSTATED.prefillUtilisation * prefill.attentionDp)));
}

/** An unstated decode worker read as the calibration reads it (measured.ts wideEpDecode). */
function unstatedDecode(p: ServingPlan, spec: ModelSpec): ServingPlan {
  const moe = spec.groups.some((g) => g.mlp?.kind === 'moe');
  const w = wideEpDecode(moe, { tp: p.tp, adp: p.attentionDp, ep: p.moeEp });
  return { ...p, tp: w.tp, attentionDp: w.adp };
}

/**
 * Decode workers a row leaves unstated: the fewest whose KV cache holds every user's prompt and output (and, in
 * rowInput, whose ranks run at most UNSTATED.maxRankUsers users each).
 */
function decodeWorkersFor(
  decode: ServingPlan,
  o: {
    spec: ModelSpec;
    hw: HardwareSpec;
    precision: string;
    kvPrecision: string;
    engine: EngineId;
    users: number;
    isl: number;
    osl: number;
  },
): number {
  const cap = kvCapacity(o.spec, o.hw, {
    precision: o.precision,
    kvPrecision: o.kvPrecision,
    plan: decode,
    engine: engineDefaults(o.engine, o.hw.memoryBytes),
    maxModelLen: o.isl + o.osl,
  });
  const perWorker = cap.tokensPerRank * decode.attentionDp;
  if (perWorker <= 0) return 1;
  return Math.max(1, Math.ceil((o.users * (o.isl + o.osl)) / perWorker));
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

/** The serving simulation a row describes (see the mapping above). */
export function rowInput(labelled: ServingRow, options: PredictRowOptions = {}): ServingInput {
  const row = relabelRecord(labelled);
  const spec = rowModel(row.model_path ?? '');
  const { hw, links } = rowHardware(row.system ?? '');
  const engine = row.backend as EngineId;
  if (!['vllm', 'sglang', 'trtllm'].includes(engine))
    throw new RowError(`backend '${row.backend}' is not supported`);
  const precision = weightFormat(row, spec);
  const kvPrecision = options.kvPrecision ?? (precision === 'fp8' || precision === 'nvfp4' ? 'fp8' : 'bf16');
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
  const statedDecode = int(row, 'decode_num_workers', 0) > 0;
  const decode = disagg ? (statedDecode ? plan('decode_') : unstatedDecode(plan('decode_'), spec)) : null;
  // Symmetric attention-DP ranks and decode workers: simulate one decode rank's share of the users; the prefill
  // workers that serve all ranks are shared by them (their steps stretched when they have less capacity).
  const dp = (agg ?? decode)!.attentionDp;
  const kvBytes = kvElementBytes(kvPrecision) ?? 2;
  const decodeWorkers = !decode
    ? 1
    : int(row, 'decode_num_workers', 0) ||
      Math.max(
        decodeWorkersFor(decode, { spec, hw, precision, kvPrecision, engine, users, isl, osl }),
        Math.ceil(users / (decode.attentionDp * UNSTATED.maxRankUsers)),
      );
  const ranks = dp * decodeWorkers;
  const share = Math.max(1, Math.round(users / ranks));
  // Disaggregated: the prefill ranks per decode rank decide who queues. One decode rank and round(ratio) prefill
  // ranks are simulated when there are more prefill ranks; round(1 / ratio) decode ranks (their users) and one
  // prefill rank when there are fewer.
  let users1 = share;
  let sides: { prefill: WorkerGroup; decode: WorkerGroup } | undefined;
  if (prefill && decode) {
    const workers =
      int(row, 'prefill_num_workers', 0) ||
      prefillWorkersFor(prefill, decode, {
        spec,
        hw,
        precision,
        kvBytes,
        links,
        users,
        decodeWorkers,
        isl,
        osl,
        engine,
        options,
      });
    const ratio = (workers * prefill.attentionDp) / ranks;
    const p = Math.max(1, Math.round(ratio));
    const d = ratio >= 1 ? 1 : Math.max(1, Math.round(1 / ratio));
    users1 = share * d;
    sides = {
      prefill: {
        plan: prefill,
        workers: Math.ceil(p / prefill.attentionDp),
        simulatedRanks: Math.min(p, prefill.attentionDp),
      },
      decode: {
        plan: decode,
        workers: Math.ceil(d / decode.attentionDp),
        simulatedRanks: Math.min(d, decode.attentionDp),
      },
    };
  }
  // Many users per rank: simulate 256 or fewer, each standing for batch_scale identical users (mean field).
  const scale = Math.max(1, Math.ceil(users1 / (options.maxSimulatedUsers ?? 256)));
  users1 = Math.max(1, Math.round(users1 / scale));
  const waves = options.waves ?? 3;
  const input: ServingInput = {
    spec,
    hw,
    precision,
    kvPrecision,
    engine,
    links,
    agg: agg ? { plan: agg, workers: 1, simulatedRanks: 1 } : undefined,
    disagg: sides,
    workload: {
      kind: 'closed',
      users: users1,
      numRequests: users1 * waves,
      input: { kind: 'fixed', value: isl },
      output: { kind: 'fixed', value: osl },
      seed: 1,
    },
    warmup: users1,
    batchScale: scale,
    efficiency: options.efficiency,
    efficiencyFor: options.efficiencyFor,
    ideal: false,
    itl: false,
  };
  return input;
}

/** The row's predicted median TTFT and TPOT (ms). */
export function predictRow(row: ServingRow, options: PredictRowOptions = {}): RowPrediction {
  const r = fitting(rowInput(row, options));
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
