/** The planner's request and answer, and what its phases pass between threads (structured-clonable). */
import type { ModelSpec } from '../arch/spec.js';
import type { HardwareSpec } from '../hardware/spec.js';
import { InputError } from '../memory/inference.js';
import type { Efficiency } from '../perf/efficiency.js';
import type { Links } from '../perf/step.js';
import type { EngineId } from '../serving/index.js';
import type { PriceChoice } from './cost.js';

export type EngineIdList = EngineId[];

/** A request the planner cannot search (a 422 at the API, exit code 2 in the CLI). */
export class PlanInputError extends InputError {}

export interface PlanDevice {
  /** Catalog id. */
  id: string;
  hw: HardwareSpec;
  links?: Links;
  price: PriceChoice | null;
  /** GPUs a tensor-parallel group may span (one node); default 8. */
  perNode?: number;
}

export type Percentile = 50 | 90 | 99;

export interface PlanRequest {
  spec: ModelSpec;
  devices: PlanDevice[];
  /** Closed loop of this many users, or an open loop at this many requests per second. */
  users?: number;
  rate?: number;
  isl: number;
  osl: number;
  limits: {
    ttftMs?: number;
    tpotMs?: number;
    e2eMs?: number;
    percentile?: Percentile;
    /** A prediction up to this fraction over a limit counts as meeting it (limits.ts; default 0). */
    margin?: number;
  };
  engines: EngineId[];
  /** Weight formats (core/perf names: 'bf16', 'fp8', 'nvfp4', 'int4-g32', or 'auto' = as the checkpoint ships). */
  precisions?: string[];
  /** KV-cache dtypes; default: the model dtype, and fp8 too where the device computes in fp8. */
  kvPrecisions?: string[];
  /** Most GPUs in all (replicas × GPUs per replica). */
  maxGpus: number;
  efficiency?: Efficiency;
  efficiencyFor?: (hwClass: string) => Efficiency;
  /**
   * Also search disaggregated serving: per replica, prefill and decode workers of one layout in the ratios
   * SPLITS (layouts without attention DP).
   */
  disagg?: boolean;
  /**
   * Simulate every configuration past the pre-filter instead of the steady-state estimate's selection (slow;
   * the tests compare the two).
   */
  exhaustive?: boolean;
  /** Requests simulated per user (default 3; the first wave is left out). */
  waves?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface Candidate {
  gpu: string;
  /** 'disagg': each replica is prefill_workers prefill and decode_workers decode workers of the layout. */
  mode: 'agg' | 'disagg';
  prefill_workers: number | null;
  decode_workers: number | null;
  gpus: number;
  gpus_per_replica: number;
  layout: string;
  tp: number;
  pp: number;
  ep: number;
  attention_dp: number;
  replicas: number;
  engine: EngineId;
  precision: string;
  kv_precision: string;
  /** At the limits' percentile. */
  ttft_ms: number;
  tpot_ms: number;
  e2e_ms: number;
  output_tokens_per_s: number;
  output_tokens_per_s_per_gpu: number;
  /** 1000 / TPOT at the percentile. */
  output_tokens_per_s_per_user: number;
  usd_per_hour: number | null;
  usd_per_million_output_tokens: number | null;
  price_source: PriceChoice | null;
}

export type RejectStage = 'unsupported' | 'does-not-fit' | 'ideal-ttft' | 'ideal-tpot' | 'limits' | 'error';

/** A family: one device, engine and weight precision; rejected when none of its configurations meets the limits. */
export interface Rejection {
  gpu: string;
  engine: EngineId;
  precision: string;
  stage: RejectStage;
  reason: string;
}

export interface Suggestion {
  change: 'more-gpus' | 'lower-precision' | 'shorter-context' | 'relax-limits';
  description: string;
}

export interface PlanResult {
  recommended: Candidate | null;
  candidates: Candidate[];
  pareto: Candidate[];
  rejected: Rejection[];
  /** When nothing meets the limits: the nearest options. */
  nearest: Suggestion[];
  /**
   * Configurations listed; pruned by the memory and ideal-latency bounds; estimated by the steady state; simulated
   * (the estimate's selection); and simulations run (several per configuration: the replica search).
   */
  searched: {
    configurations: number;
    prefiltered: number;
    estimated: number;
    simulated: number;
    simulations: number;
  };
}

/** One device · engine · precision family's furthest stage, and whether any configuration of it met the limits. */
export interface FamilyState extends Rejection {
  met: boolean;
  /** How far over the limits its nearest configuration was (limit ratio), to report the nearest. */
  miss?: number;
}

/** What one shard's simulations found (structured-clonable, for worker threads). */
export interface PlanPart {
  candidates: Candidate[];
  families: FamilyState[];
  /** Configurations simulated. */
  configurations: number;
  simulations: number;
}

/** A configuration past the pre-filter, as the steady-state estimate sees it at its fewest replicas. */
export interface JobEstimate {
  /** Index in the request's configuration list. */
  index: number;
  family: string;
  disagg: boolean;
  /** Fewest replicas the estimate meets the limits with (with the slack); the most that fit when none does. */
  replicas: number;
  meets: boolean;
  /** Largest limit ratio at `replicas` (≤ 1 + slack when it meets). */
  miss: number;
  usdPerMillion: number | null;
  perGpu: number;
  perUser: number;
  /** The estimate failed (the simulation names why): always simulated. */
  unestimated?: boolean;
}

/** What one shard's estimates found (structured-clonable, for worker threads). */
export interface EstimatePart {
  estimates: JobEstimate[];
  families: FamilyState[];
  configurations: number;
  prefiltered: number;
  anyFit: boolean;
}
