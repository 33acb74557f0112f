/**
 * The analytical steady-state prediction (core/perf/steady.ts) of a measured.csv row, with each worker's step
 * operators built once per shape and cached, so the calibration can time them under many efficiency tables.
 */
import type { ModelSpec } from '../core/arch/spec.js';
import { kvCache } from '../core/memory/kv.js';
import { kvElementBytes } from '../core/numerics/formats.js';
import { efficiencyFor, type CalibrationTable, type Efficiency } from '../core/perf/efficiency.js';
import { stepContext } from '../core/perf/latency.js';
import { stepOps, type Op, type StepShape } from '../core/perf/ops.js';
import { steadyAgg, steadyDisagg, type StepFn } from '../core/perf/steady.js';
import { timeOps, type StepContext } from '../core/perf/step.js';
import { specOf, systemOf, UNSTATED, wideEpDecode, type ServingRow, type WorkerPlan } from './measured.js';
import { widenPlaceholder } from './serving-rows.js';

/** Prompt chunk per step (vLLM V1, SGLang and TensorRT-LLM defaults on large GPUs: 8192 tokens). */
const CHUNK = 8192;

interface Worker {
  ctx: StepContext;
  plan: WorkerPlan;
  cache: Map<number, { shape: StepShape; ops: Op[] }>;
  aloneCache: Map<number, { shape: StepShape; ops: Op[] }>;
}

export interface AnalyticCase {
  row: ServingRow;
  spec: ModelSpec;
  hwClass: string;
  predict: (eff: Efficiency) => { ttft_s: number; tpot_s: number };
  /** Agg rows: the rank's step time under an efficiency table (decode sequences, prompt tokens). */
  step?: (eff: Efficiency) => StepFn;
  /** Agg rows: users per attention-DP rank and the sequences its KV cache holds. */
  batch?: number;
  kvCapacity?: number;
}

/** Quantise prompt tokens per step to a 2% log grid so the cache holds few shapes per row. */
function quant(p: number): number {
  if (p <= 0) return 0;
  return Math.exp(Math.round(Math.log(p) / 0.02) * 0.02);
}

function makeWorker(row: ServingRow, spec: ModelSpec, plan: WorkerPlan): Worker {
  const { hw, links } = systemOf(row.system);
  const ctx = stepContext(spec, hw, row.precision, { tp: plan.tp, pp: 1, ep: plan.ep }, links);
  return { ctx, plan, cache: new Map(), aloneCache: new Map() };
}

/**
 * A rank's step under an efficiency table. `alone`: the worker's other attention-DP ranks idle, so its experts see
 * only this rank's tokens (otherwise every rank runs the same mix, as the ranks of a loaded worker do).
 */
function stepFn(w: Worker, row: ServingRow, eff: Efficiency, alone = false): StepFn {
  const kvBytes = kvElementBytes(row.kvPrecision)!;
  const ctxDecode = row.isl + Math.floor(row.osl / 2);
  const cache = alone ? w.aloneCache : w.cache;
  return (decode, prompt) => {
    const pq = quant(prompt);
    const key = decode * 1e7 + pq;
    let hit = cache.get(key);
    if (!hit) {
      // Prompts above the chunk run in ceil(ISL / chunk) steps: the step holds 1/n of a whole prompt.
      const n = Math.ceil(row.isl / CHUNK);
      const segments = [];
      if (decode > 0) segments.push({ batch: decode, tokens: 1, context: ctxDecode });
      if (pq > 0) segments.push({ batch: pq / row.isl, tokens: row.isl, context: 0 });
      const shape: StepShape = {
        segments,
        tp: w.plan.tp,
        cp: 1,
        ep: w.plan.ep,
        layerShare: 1,
        kvBytes,
        actBytes: 2,
        logitsRows: decode + pq / row.isl,
        adp: w.plan.adp,
        moeTp: w.plan.moeTp,
        ...(alone ? { moeTokens: decode + pq } : {}),
      };
      hit = { shape, ops: stepOps(w.ctx.spec, w.ctx.layout, shape) };
      if (n > 1 && pq >= row.isl) {
        // A whole prompt over n chunked steps costs n steps of ISL/n tokens each.
        const chunkShape = {
          ...shape,
          segments: segments.map((s) => (s.tokens > 1 ? { ...s, batch: s.batch / n } : s)),
          ...(alone ? { moeTokens: decode + pq / n } : {}),
        };
        const chunkOps = stepOps(w.ctx.spec, w.ctx.layout, chunkShape);
        hit = {
          shape: chunkShape,
          ops: chunkOps.map((o) => ({
            ...o,
            flops: o.flops * n,
            bytes: o.bytes * n,
            kernels: o.kernels * n,
          })),
        };
      }
      cache.set(key, hit);
    }
    return timeOps(w.ctx, hit.shape, hit.ops, eff).time_s;
  };
}

/** KV bytes of one prompt over the decoder's layers (what the prefill worker sends to the decode worker). */
function promptKvBytes(spec: ModelSpec, row: ServingRow): number {
  return oneSequence(spec, row, row.isl, 1).kvCacheBytes;
}

/** KV cache and recurrent state of one sequence of `seq` tokens on one device of a TP `tp` group (memory/kv.ts). */
function oneSequence(spec: ModelSpec, row: ServingRow, seq: number, tp: number) {
  return kvCache(spec, {
    batch: 1,
    seq,
    kvBytes: kvElementBytes(row.kvPrecision)!,
    tp,
    blockSize: null,
    layerFilter: null,
    stateBytes: 2,
  });
}

/**
 * Sequences of ISL + OSL tokens the rank's memory holds: 0.9 of the device less the weights and 3 GB of
 * activations, over one sequence's KV cache and (hybrid models) recurrent state as core/memory/kv.ts sizes them.
 */
function kvCapacity(row: ServingRow, spec: ModelSpec, w: Worker): number {
  const free = w.ctx.hw.visibleMemoryBytes * 0.9 - weightsPerGpu(spec, w) - 3e9;
  const one = oneSequence(spec, row, row.isl + row.osl, w.plan.tp);
  return Math.max(1, free / (one.kvCacheBytes + one.stateBytes));
}

/** Weight bytes per GPU of a worker: experts over every GPU, the rest split by attention TP. */
function weightsPerGpu(spec: ModelSpec, w: Worker): number {
  const l = w.ctx.layout;
  let expert = 0;
  for (let i = 0; i < spec.groups.length; i++) expert += l.groups[i]!.expert * spec.groups[i]!.count;
  return (l.total - expert) / w.plan.tp + expert / (w.plan.tp * w.plan.adp);
}

/**
 * A worker labelled with a placeholder layout of all ones that cannot hold the model (DeepSeek-R1 at 8 bits on one
 * GB200) is read as the simulator reads it (serving-rows.ts widenPlaceholder): the smallest power-of-two group that
 * holds a request, attention DP with EP over every GPU for MoE, TP for dense. An assumption, not a measurement.
 */
export function widenToFit(row: ServingRow, spec: ModelSpec, plan: WorkerPlan): WorkerPlan {
  const q = widenPlaceholder(
    { tp: plan.tp, pp: 1, attentionDp: plan.adp, moeTp: plan.moeTp, moeEp: plan.ep },
    spec,
    systemOf(row.system).hw,
    { precision: row.precision, kvPrecision: row.kvPrecision, engine: row.engine, tokens: row.isl + row.osl },
  );
  if (q.tp === plan.tp && q.attentionDp === plan.adp) return plan;
  return { ...plan, tp: q.tp, adp: q.attentionDp, moeTp: q.moeTp, ep: q.moeEp, batch: null };
}

/**
 * Workers the row does not state (most disaggregated rows name only each worker's parallelism). Assumptions, not
 * measurements (measured.ts UNSTATED, wideEpDecode): an MoE decode worker with expert parallelism runs attention
 * data-parallel over its ranks; decode workers are added until a rank runs ≤ UNSTATED.maxRankUsers users; prefill
 * workers are as many as keep them ≤ UNSTATED.prefillUtilisation busy.
 */
function inferDecode(row: ServingRow, spec: ModelSpec): WorkerPlan {
  const d = row.decode!;
  if (d.workersKnown) return d;
  const moe = spec.groups.some((g) => g.mlp?.kind === 'moe');
  const plan = { ...d, ...wideEpDecode(moe, d) };
  plan.workers = Math.max(1, Math.ceil(row.concurrency / (plan.adp * UNSTATED.maxRankUsers)));
  return plan;
}

/**
 * A worker whose tp does not divide the attention heads cannot run tensor-parallel attention: some rows (GB200
 * "agg" rows of tp 12…72 for DeepSeek-R1, 128 heads) name the GPUs of a wide expert-parallel deployment. Read an
 * MoE one as attention DP over those GPUs with the experts spread over all of them.
 */
function wideEp(w: WorkerPlan, spec: ModelSpec): WorkerPlan {
  const heads = spec.groups.find((g) => g.attention)?.attention?.numHeads ?? 0;
  const moe = spec.groups.some((g) => g.mlp?.kind === 'moe');
  if (!moe || heads === 0 || heads % w.tp === 0) return w;
  const gpus = w.tp * w.adp;
  return { ...w, tp: 1, adp: gpus, moeTp: 1, ep: gpus, batch: w.batch === null ? null : w.batch / gpus };
}

/** The row's analytical case, or an error naming why it cannot be predicted. */
export function analyticCase(row: ServingRow): AnalyticCase | { row: ServingRow; error: string } {
  const spec = specOf(row.model);
  if (!spec) return { row, error: `model '${row.model}' is not in the catalog` };
  const { hwClass, links } = systemOf(row.system);
  if (row.mode === 'agg') {
    const plan = widenToFit(row, spec, wideEp(row.agg!, spec));
    const w = makeWorker(row, spec, plan);
    const batch = plan.batch ?? row.concurrency / plan.adp;
    const cap = kvCapacity(row, spec, w);
    return {
      row,
      spec,
      hwClass,
      step: (eff) => stepFn(w, row, eff),
      batch,
      kvCapacity: cap,
      predict: (eff) => {
        const r = steadyAgg({
          batch,
          kvCapacity: cap,
          requestS: eff.requestS,
          burst: eff.burst,
          burstHalf: eff.burstHalf,
          isl: row.isl,
          osl: row.osl,
          step: stepFn(w, row, eff),
          chunk: CHUNK,
        });
        return { ttft_s: r.ttft_s, tpot_s: r.tpot_s };
      },
    };
  }
  const pp = widenToFit(row, spec, wideEp(row.prefill!, spec));
  const pw = makeWorker(row, spec, pp);
  const d = inferDecode({ ...row, decode: widenToFit(row, spec, wideEp(row.decode!, spec)) }, spec);
  const dw = makeWorker(row, spec, d);
  const decodeBatch = d.batch ?? row.concurrency / (d.workers * d.adp);
  const cap = kvCapacity(row, spec, dw);
  const kvBytes = promptKvBytes(spec, row);
  const prefillGpus = pp.tp * pp.adp;
  return {
    row,
    spec,
    hwClass,
    predict: (eff) => {
      // Each prefill GPU sends its shard: NVLink inside an NVL72 domain, the 400G NIC otherwise.
      const link = links.devicesPerNode > 8 ? links.intra : links.inter!;
      const transferS =
        link.latencyS * eff.alpha + kvBytes / (prefillGpus * link.bandwidthBytesPerS * eff.link);
      const prefillStep = stepFn(pw, row, eff);
      const decodeStep = stepFn(dw, row, eff);
      let prefillRanks = pp.workers * pp.adp;
      if (!pp.workersKnown) {
        const per = Math.max(1, Math.floor(CHUNK / row.isl));
        const s = prefillStep(0, per * row.isl) / per;
        const lambda = row.concurrency / (s + Math.max(0, row.osl - 1) * decodeStep(decodeBatch, 0));
        prefillRanks = pp.adp * Math.max(1, Math.ceil((lambda * s) / pp.adp / UNSTATED.prefillUtilisation));
      }
      const r = steadyDisagg({
        users: row.concurrency,
        decodeBatch,
        kvCapacity: cap,
        requestS: eff.requestS,
        burst: eff.burst,
        prefillRanks,
        isl: row.isl,
        osl: row.osl,
        prefillStep,
        prefillStepAlone: stepFn(pw, row, eff, true),
        decodeStep,
        transferS,
        chunk: CHUNK,
      });
      return { ttft_s: r.ttft_s, tpot_s: r.tpot_s };
    },
  };
}

/** Efficiency of a row under a table (the class of its GPU, the host costs of its engine). */
export function rowEfficiency(c: AnalyticCase, table?: CalibrationTable): Efficiency {
  return efficiencyFor(c.hwClass, c.row.engine, table);
}
