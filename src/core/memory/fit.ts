/**
 * The fit verdict: does a setup fit on a device, by how much (bytes and a fraction, headroom or shortfall), and —
 * when it does not — which single change makes it fit. Every suggestion is verified by recomputing the memory with
 * that change; none is a rule of thumb.
 *
 * Inference compares the per-device total with the engine's budget, visible memory × gpu_memory_utilization (what
 * vLLM budgets). Training compares the step's peak with the visible memory (no engine keeps a margin there).
 * When inference does not fit, the message is worded as vLLM's own error for that case (vllm-project/vllm,
 * vllm/v1/core/kv_cache_utils.py `_check_enough_kv_cache_memory`, commit 001cabc1): "No available memory for the
 * cache blocks. ..." when nothing is left for KV, "To serve at least one request with the models's max seq len (N),
 * (X GiB KV cache is needed, which is larger than the available KV cache memory (Y GiB). ..." when the KV cache is
 * short; weights that do not load at all end as PyTorch's "CUDA out of memory".
 */
import type { ModelSpec } from '../arch/spec.js';
import type { HardwareSpec } from '../hardware/spec.js';
import { TRAINING_DEFAULTS } from '../defaults.js';
import { kvElementBytes, normaliseFormatId } from '../numerics/formats.js';
import { inferenceMemory, InputError, type InferenceMemory, type InferenceOptions } from './inference.js';
import { trainingMemory, type TrainingOptions, type ZeroStage } from './training.js';
import { weightLayout } from './weights.js';

/** One change and what the memory is with it. `change` names option fields as the core's options do. */
export interface FitSuggestion {
  change: Record<string, string | number | boolean>;
  /** What the change is, in words. */
  description: string;
  fits: boolean;
  required_bytes: number;
  headroom_bytes: number;
}

export type FitReason = 'weights' | 'no_kv_memory' | 'kv_cache' | 'peak';

export interface FitVerdict {
  fits: boolean;
  device: string;
  device_name: string;
  /** Memory the driver exposes on one device. */
  visible_bytes: number;
  /** Fraction of it the budget is (vLLM's gpu_memory_utilization; 1 for training). */
  gpu_memory_utilization: number;
  /** floor(visible × gpu_memory_utilization): what the setup may use on one device. */
  available_bytes: number;
  /** Per-device total of the setup (worst pipeline stage). */
  required_bytes: number;
  /** available − required: headroom when ≥ 0, shortfall when < 0. */
  headroom_bytes: number;
  /** headroom_bytes / available_bytes. */
  headroom_fraction: number;
  /** Why it does not fit; null when it fits. */
  reason: FitReason | null;
  /** The engine's own words for the failure (vLLM for inference, PyTorch for training); null when it fits. */
  message: string | null;
  suggestions: FitSuggestion[];
}

const GiB = 2 ** 30;
/** vLLM formats its GiB figures with two decimals (format_gib). */
const gib = (b: number) => (b / GiB).toFixed(2);

/** Powers of two above `from`, up to `max`. */
function doublings(from: number, max: number): number[] {
  const out: number[] = [];
  for (let d = 2; d <= max; d *= 2) if (d > from) out.push(d);
  return out;
}

/** Largest integer in [lo, hi] with ok(n), given ok is monotone (true then false); null when ok(lo) is false. */
function largest(lo: number, hi: number, ok: (n: number) => boolean): number | null {
  if (hi < lo || !ok(lo)) return null;
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    if (ok(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function base(hw: HardwareSpec, required: number, util: number) {
  if (!(util > 0 && util <= 1))
    throw new InputError(`gpu_memory_utilization must be in (0, 1] (got ${util})`);
  const available = Math.floor(hw.visibleMemoryBytes * util);
  const headroom = available - required;
  return {
    fits: headroom >= 0,
    device: hw.id,
    device_name: hw.name,
    visible_bytes: hw.visibleMemoryBytes,
    gpu_memory_utilization: util,
    available_bytes: available,
    required_bytes: required,
    headroom_bytes: headroom,
    headroom_fraction: available > 0 ? headroom / available : -Infinity,
  };
}

/** Collects the suggestions: each measured, kept when it fits. */
class Suggestions {
  readonly list: FitSuggestion[] = [];
  constructor(private readonly available: number) {}
  /** Required bytes under a change, or null when the change is not a valid setup. */
  try(measure: () => number): number | null {
    try {
      return measure();
    } catch {
      return null;
    }
  }
  fits(bytes: number | null): boolean {
    return bytes !== null && bytes <= this.available;
  }
  add(change: FitSuggestion['change'], description: string, bytes: number): void {
    this.list.push({
      change,
      description,
      fits: bytes <= this.available,
      required_bytes: bytes,
      headroom_bytes: this.available - bytes,
    });
  }
  /** The first candidate that fits, added. */
  first<T>(
    candidates: T[],
    measure: (c: T) => number,
    describe: (c: T) => [FitSuggestion['change'], string],
  ): void {
    for (const c of candidates) {
      const b = this.try(() => measure(c));
      if (this.fits(b)) {
        const [change, text] = describe(c);
        this.add(change, text, b!);
        return;
      }
    }
  }
}

export interface InferenceFitOptions extends InferenceOptions {
  /** The engine's share of the device (default 0.9, vLLM's). */
  gpuMemoryUtilization: number;
}

/** Lower-precision weight formats vLLM serves, best quality first. */
const LOWER_WEIGHT_FORMATS = ['fp8', 'awq-int4-g128'];

/** Inference on one device of the plan: the verdict, in vLLM's words when it does not fit, and what fits. */
export function inferenceFit(
  spec: ModelSpec,
  hw: HardwareSpec,
  o: InferenceFitOptions,
): FitVerdict & { memory: InferenceMemory } {
  const mem = inferenceMemory(spec, { ...o, explain: false });
  const v = base(hw, mem.total_bytes, o.gpuMemoryUtilization);
  const kv = mem.kv_cache_bytes + mem.state_bytes;
  const nonKv = mem.total_bytes - kv;
  const kvAvailable = v.available_bytes - nonKv;
  const measure = (change: Partial<InferenceOptions>) =>
    inferenceMemory(spec, { ...o, ...change, explain: false }).total_bytes;
  let reason: FitReason | null = null;
  let message: string | null = null;
  if (!v.fits) {
    if (mem.weights_bytes + mem.overhead_bytes > v.available_bytes) {
      reason = 'weights';
      message =
        `torch.OutOfMemoryError: CUDA out of memory: the weights (${gib(mem.weights_bytes)} GiB) and the runtime (${gib(mem.overhead_bytes)} GiB) ` +
        `do not load in the ${gib(v.available_bytes)} GiB the engine may use on one ${hw.name}`;
    } else if (kvAvailable <= 0) {
      reason = 'no_kv_memory';
      message =
        'ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine.';
    } else {
      reason = 'kv_cache';
      const maxLen = largest(1, o.seq - 1, (s) => measure({ seq: s }) <= v.available_bytes);
      const who =
        o.batch === 1
          ? `To serve at least one request with the models's max seq len (${o.seq})`
          : `To serve ${o.batch} requests of ${o.seq} tokens`;
      message =
        `ValueError: ${who}, (${gib(kv)} GiB KV cache is needed, which is larger than the available KV cache memory ` +
        `(${gib(kvAvailable)} GiB). ` +
        (maxLen ? `Based on the available memory, the estimated maximum model length is ${maxLen}. ` : '') +
        'Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.';
    }
  }
  const s = new Suggestions(v.available_bytes);
  if (!v.fits) {
    const { tp, pp } = o.plan;
    s.first(
      doublings(tp, 64),
      (t) => measure({ plan: { ...o.plan, tp: t } }),
      (t) => [{ tp: t }, `tensor parallel ${t}`],
    );
    const ppMax = Math.min(64, spec.numLayers);
    s.first(
      Array.from({ length: Math.max(0, ppMax - pp) }, (_, i) => pp + 1 + i),
      (p) => measure({ plan: { ...o.plan, pp: p } }),
      (p) => [{ pp: p }, `pipeline parallel ${p}`],
    );
    const weightsNow = weightLayout(
      spec,
      o.precision === 'auto' ? 'auto' : normaliseFormatId(o.precision),
    ).total;
    s.first(
      LOWER_WEIGHT_FORMATS.filter((f) => weightLayout(spec, f).total < weightsNow),
      (f) => measure({ precision: f }),
      (f) => [{ precision: f }, `weights in ${f}`],
    );
    if ((kvElementBytes(o.kvPrecision) ?? 0) > 1)
      s.first(
        ['fp8'],
        (k) => measure({ kvPrecision: k }),
        (k) => [{ kv_precision: k }, `KV cache in ${k}`],
      );
    const seq = largest(1, o.seq - 1, (n) => s.fits(s.try(() => measure({ seq: n }))));
    if (seq !== null) s.add({ seq }, `at most ${seq} tokens per sequence`, measure({ seq }));
    const batch = largest(1, o.batch - 1, (n) => s.fits(s.try(() => measure({ batch: n }))));
    if (batch !== null)
      s.add({ batch }, `at most ${batch} sequence${batch === 1 ? '' : 's'} at once`, measure({ batch }));
    // No single change is enough: the fewest devices of TP within a node (up to 8) times PP across nodes.
    if (!s.list.length) {
      const plans = [tp, ...doublings(tp, 8)]
        .flatMap((t) => doublings(pp, 64).map((p) => ({ t, p })))
        .sort((a, b) => a.t * a.p - b.t * b.p || b.t - a.t);
      s.first(
        plans,
        ({ t, p }) => measure({ plan: { ...o.plan, tp: t, pp: p } }),
        ({ t, p }) => [{ tp: t, pp: p }, `tensor parallel ${t} x pipeline parallel ${p}`],
      );
    }
  }
  return { ...v, reason, message, suggestions: s.list, memory: mem };
}

/** Training on one device: the step's peak against the visible memory, and the changes that make it fit. */
export function trainingFit(spec: ModelSpec, hw: HardwareSpec, o: TrainingOptions): FitVerdict {
  const peak = (change: Partial<TrainingOptions>) =>
    trainingMemory(spec, { ...o, ...change, explain: false }).peak_bytes;
  const v = base(hw, peak({}), 1);
  const s = new Suggestions(v.available_bytes);
  if (!v.fits) {
    const recompute = o.recompute ?? 'none';
    s.first(
      (['selective', 'full'] as const).filter(
        (r) => recompute === 'none' || (recompute === 'selective' && r === 'full'),
      ),
      (r) => peak({ recompute: r }),
      (r) => [{ recompute: r }, `${r} activation recomputation`],
    );
    const dp = o.dp ?? 1;
    const zero = o.zero ?? 0;
    const rank = (z: ZeroStage) => (z === 'fsdp' ? 3 : z);
    if (dp > 1)
      s.first(
        ([1, 2, 3] as const).filter((z) => z > rank(zero)),
        (z) => peak({ zero: z }),
        (z) => [{ zero: z }, `ZeRO stage ${z} over the ${dp} data-parallel ranks`],
      );
    s.first(
      doublings(dp, 1024),
      (d) => peak({ dp: d, zero: 3 }),
      (d) => [{ dp: d, zero: 3 }, `ZeRO-3 over ${d} data-parallel ranks`],
    );
    const loraRank = o.lora?.rank ?? TRAINING_DEFAULTS.loraRank;
    const lora = { rank: loraRank, targets: TRAINING_DEFAULTS.loraTargets };
    if (!o.lora)
      s.first(
        [lora],
        (l) => peak({ lora: l, trainablePercent: undefined }),
        (l) => [{ lora_rank: l.rank, lora_targets: l.targets }, `LoRA rank ${l.rank} on ${l.targets} layers`],
      );
    if (!o.qlora)
      s.first(
        [o.lora ?? lora],
        (l) => peak({ lora: l, qlora: true, trainablePercent: undefined }),
        (l) => [
          {
            qlora: true,
            lora_rank: l.rank,
            lora_targets: l.targets === 'all-linear' ? 'all-linear' : l.targets.join(','),
          },
          `QLoRA (4-bit NF4 base) with LoRA rank ${l.rank}`,
        ],
      );
    const tp = o.tp ?? 1;
    s.first(
      doublings(tp, 64),
      (t) => peak({ tp: t }),
      (t) => [{ tp: t }, `tensor parallel ${t}`],
    );
    const pp = o.pp ?? 1;
    const ppMax = Math.min(64, spec.numLayers);
    s.first(
      Array.from({ length: Math.max(0, ppMax - pp) }, (_, i) => pp + 1 + i),
      (p) => peak({ pp: p }),
      (p) => [{ pp: p }, `pipeline parallel ${p}`],
    );
    const batch = largest(1, o.batch - 1, (n) => s.fits(s.try(() => peak({ batch: n }))));
    if (batch !== null) s.add({ batch }, `micro-batch ${batch}`, peak({ batch }));
    const seq = largest(1, o.seq - 1, (n) => s.fits(s.try(() => peak({ seq: n }))));
    if (seq !== null) s.add({ seq }, `sequences of at most ${seq} tokens`, peak({ seq }));
    // No single change is enough: ZeRO-3 over more ranks with full recomputation, then with TP 8 as well.
    if (!s.list.length)
      s.first(
        doublings(dp, 1024),
        (d) => peak({ dp: d, zero: 3, recompute: 'full' }),
        (d) => [{ dp: d, zero: 3, recompute: 'full' }, `ZeRO-3 over ${d} ranks with full recomputation`],
      );
    if (!s.list.length && tp < 8)
      s.first(
        doublings(dp, 1024),
        (d) => peak({ dp: d, zero: 3, recompute: 'full', tp: 8 }),
        (d) => [
          { tp: 8, dp: d, zero: 3, recompute: 'full' },
          `tensor parallel 8, ZeRO-3 over ${d} ranks, full recomputation`,
        ],
      );
  }
  return {
    ...v,
    reason: v.fits ? null : 'peak',
    message: v.fits
      ? null
      : `torch.OutOfMemoryError: CUDA out of memory: the training step peaks at ${gib(v.required_bytes)} GiB; ` +
        `GPU 0 has a total capacity of ${gib(v.visible_bytes)} GiB`,
    suggestions: s.list,
  };
}
