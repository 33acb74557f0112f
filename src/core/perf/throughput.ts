/**
 * Offline throughput as trtllm-bench and vLLM's throughput benchmark measure it: fixed input/output lengths, all
 * requests queued at once, concurrency bounded by KV capacity, max batch and max tokens per step; steady-state
 * continuous batching, where each step decodes every running sequence and prefills the chunk of prompt tokens that
 * refills the slots finishing at that rate (input_len / output_len prompt tokens per generated token).
 */
import type { ModelSpec } from '../arch/spec.js';
import { Trace, NO_TRACE, type TraceEntry } from '../explain.js';
import { hardwareClass, type HardwareSpec } from '../hardware/spec.js';
import { engineKvCapacity, type EngineCapacity, type EngineId } from '../memory/engines/index.js';
import { InputError } from '../memory/inference.js';
import { kvElementBytes } from '../numerics/formats.js';
import { devices as planDevices, validatePlan, type ParallelPlan } from '../parallel/plan.js';
import { efficiencyFor, IDEAL, type Efficiency } from './efficiency.js';
import { stepContext } from './latency.js';
import { stepTime, type Bound, type Links } from './step.js';

export interface ThroughputOptions {
  precision: string;
  /** KV-cache dtype; default: the engine's ('auto': the model dtype, fp8 for checkpoints that ship it). */
  kvPrecision?: string;
  plan: ParallelPlan;
  inputLen: number;
  outputLen: number;
  /** Engine max batch (vLLM max_num_seqs); default: the engine's own. */
  maxBatch?: number;
  /** Engine max tokens per step (vLLM max_num_batched_tokens); default: the engine's own. */
  maxNumTokens?: number;
  /** The engine whose KV capacity bounds the batch (default vllm) and its release. */
  engine?: EngineId;
  engineVersion?: string;
  /** vLLM --gpu-memory-utilization; other engines ignore it (use memoryFraction). */
  gpuMemoryUtilization?: number;
  /** The engine's own memory fraction (SGLang mem_fraction_static, TRT-LLM kv_cache_free_gpu_mem_fraction). */
  memoryFraction?: number;
  links?: Links;
  efficiency?: Efficiency;
  explain?: boolean;
}

export interface ThroughputFigures {
  /** Generated tokens per second of the whole TP/PP/EP group. */
  output_tokens_per_s: number;
  step_s: number;
  bound: Bound;
}

export interface ThroughputResult extends ThroughputFigures {
  /** Requests of input_len + output_len tokens the engine's KV cache holds, unrounded as engines print it. */
  max_concurrency: number;
  /** The engine capacity behind max_concurrency. */
  capacity: EngineCapacity;
  /** Sequences running at once in the steady state. */
  batch: number;
  /** What limits the batch: KV capacity, max batch or max tokens per step. */
  batch_limit: 'kv_capacity' | 'max_batch' | 'max_num_tokens';
  output_tokens_per_s_per_device: number;
  devices: number;
  ideal: ThroughputFigures;
  trace: TraceEntry[];
}

export function offlineThroughput(spec: ModelSpec, hw: HardwareSpec, o: ThroughputOptions): ThroughputResult {
  if (!(Number.isInteger(o.inputLen) && o.inputLen >= 1))
    throw new InputError(`input_len must be a positive integer`);
  if (!(Number.isInteger(o.outputLen) && o.outputLen >= 1))
    throw new InputError(`output_len must be a positive integer`);
  validatePlan(spec, o.plan);
  const seqLen = o.inputLen + o.outputLen;
  const engine = o.engine ?? 'vllm';
  // The engine sizes its KV cache as it would at start with max_model_len = input + output (its own defaults
  // for whatever is not given), so the batch is bounded by what the engine prints, not a separate estimate.
  const cap = engineKvCapacity(spec, hw, {
    engine,
    engineVersion: o.engineVersion,
    plan: o.plan,
    precision: o.precision,
    kvCacheDtype: o.kvPrecision,
    maxModelLen: seqLen,
    maxNumSeqs: o.maxBatch,
    maxNumBatchedTokens: o.maxNumTokens,
    memoryFraction: o.memoryFraction ?? (engine === 'vllm' ? o.gpuMemoryUtilization : undefined),
  });
  // The KV dtype the engine picked ('auto' = its default for this checkpoint) is what decode steps read.
  const kvBytes = kvElementBytes(cap.settings.kv_cache_dtype);
  if (kvBytes === null) throw new InputError(`unknown kv precision '${cap.settings.kv_cache_dtype}'`);
  const maxBatch = cap.settings.max_num_seqs;
  const maxNumTokens = cap.settings.max_num_batched_tokens;
  const concurrency = cap.fits ? cap.max_concurrency : 0;
  const kvLimit = Math.floor(concurrency);
  const perStepLimit = Math.max(1, Math.floor(maxNumTokens / (1 + o.inputLen / o.outputLen)));
  const batch = Math.min(kvLimit, maxBatch, perStepLimit);
  const limit = batch === kvLimit ? 'kv_capacity' : batch === maxBatch ? 'max_batch' : 'max_num_tokens';
  const ctx = stepContext(spec, hw, o.precision, o.plan, o.links);
  const actBytes = ctx.precision === 'fp32' ? 4 : 2;
  const pp = o.plan.pp;
  const run = (eff: Efficiency): ThroughputFigures => {
    if (batch < 1) return { output_tokens_per_s: 0, step_s: Infinity, bound: 'memory' };
    // PP keeps up to pp micro-batches in flight, each stage running 1/pp of the layers on batch/m sequences;
    // fewer sequences than stages leave stages idle.
    const m = Math.min(pp, batch);
    const micro = batch / m;
    const st = stepTime(
      ctx,
      {
        segments: [
          { batch: micro, tokens: 1, context: o.inputLen + Math.floor(o.outputLen / 2) },
          { batch: micro / o.outputLen, tokens: o.inputLen, context: 0 },
        ],
        tp: o.plan.tp,
        cp: o.plan.cp ?? 1,
        ep: o.plan.ep,
        layerShare: 1 / pp,
        kvBytes,
        actBytes,
        logitsRows: micro,
      },
      eff,
    );
    // A micro-batch needs pp stage-steps per token; m of them are in flight, so batch / (pp · stage step).
    // DP replicas run independently and add up.
    return {
      output_tokens_per_s: ((micro * m) / (pp * st.time_s)) * (o.plan.dp ?? 1),
      step_s: st.time_s,
      bound: st.bound,
    };
  };
  const eff = o.efficiency ?? efficiencyFor(hardwareClass(hw));
  const est = run(eff);
  const ideal = run(IDEAL);
  const devices = planDevices(o.plan);
  const t = o.explain ? new Trace(true) : NO_TRACE;
  t.add(
    'max_concurrency',
    concurrency,
    'sequences',
    `${cap.engine} ${cap.engine_version}: KV cache / KV of one input_len + output_len request (unrounded)`,
    { kv_cache_bytes_available: cap.kv_cache_bytes_available, seq_len: seqLen },
  );
  t.add(
    'batch',
    batch,
    'sequences',
    'min(floor(max_concurrency), max_batch, floor(max_num_tokens / (1 + input_len/output_len)))',
    { max_batch: maxBatch, max_num_tokens: maxNumTokens },
  );
  t.add(
    'step_s',
    est.step_s,
    's',
    'one step: decode of every running sequence at mean context + the prompt chunk input_len/output_len per sequence',
    {},
  );
  t.add('output_tokens_per_s', est.output_tokens_per_s, 'tokens/s', '(batch / pp) / step_s', { pp });
  return {
    ...est,
    max_concurrency: concurrency,
    capacity: cap,
    batch,
    batch_limit: limit,
    output_tokens_per_s_per_device: est.output_tokens_per_s / devices,
    devices,
    ideal,
    trace: t.entries,
  };
}
