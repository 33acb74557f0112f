/** The JSON API the page calls: same origin, errors carry the server's `detail`. */

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const b = body as { detail?: unknown; error?: unknown } | null;
    const msg =
      typeof b?.detail === 'string' ? b.detail : typeof b?.error === 'string' ? b.error : text.slice(0, 200);
    throw new HttpError(res.status, msg || `HTTP ${res.status}`);
  }
  return body as T;
}

export async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  return parse<T>(await fetch(url, { signal }));
}

export async function postJson<T>(url: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return parse<T>(
    await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    }),
  );
}

export interface TraceEntry {
  figure: string;
  /** A number from the server; the page's own traces may say '> 64' where no plan was found. */
  value: number | string;
  unit: string;
  formula: string;
  inputs: Record<string, unknown>;
}

export interface ModelRow {
  id: string;
  name: string;
  author: string | null;
  family: string | null;
  aliases: string[];
  total_parameters: number;
  active_parameters: number | null;
  attention_type: string | null;
  source: string;
}

export interface DeviceRow {
  id: string;
  name: string;
  vendor: string;
  kind: string;
  memory_bytes: number;
  visible_memory_bytes: number;
}

export interface SystemRow {
  id: string;
  name: string;
  device: string;
  num_chips: number;
}

export interface Phase<T> {
  prefill: T;
  decode: T;
}

export interface PerfFigures {
  ttft_s: number;
  tpot_s: number;
  tokens_per_s: number;
  e2e_s: number;
  bound: Phase<string>;
  mfu: Phase<number>;
  bandwidth_utilization: Phase<number>;
  communication_s: Phase<number>;
}

export interface PlanResult {
  model: { id: string | null; name: string; total_parameters: number; active_parameters: number };
  hardware: {
    id: string;
    name: string;
    memory_bytes: number;
    visible_memory_bytes: number;
    system: { id: string; name: string; chips: number } | null;
  };
  precision: string;
  kv_precision: string;
  plan: { tp: number; pp: number; ep: number; cp: number; sp: boolean; dp: number };
  /** Devices of the whole plan (tp · pp · ep · cp · dp) and of one replica (without dp). */
  devices: number;
  replica_devices: number;
  memory_per_device: {
    weights_bytes: number;
    kv_cache_bytes: number;
    activation_bytes: number;
    state_bytes: number;
    image_bytes: number;
    overhead_bytes: number;
    total_bytes: number;
    kv_cache_bytes_per_token: number;
    capacity_bytes: number;
    usable_bytes: number;
    fits: boolean;
  };
  /** The engine's KV cache at max_model_len; only engine, max_model_len, fits and error when it refuses the setup. */
  capacity: {
    engine: string;
    engine_version?: string;
    max_model_len: number;
    kv_cache_dtype?: string;
    kv_cache_bytes_available?: number;
    max_kv_tokens?: number;
    /** Requests of max_model_len at once, to two decimals as engines print it. */
    max_concurrency?: number;
    fits: boolean;
    error: string | null;
    uncertain_terms?: { term: string; note: string }[];
  };
  performance: {
    estimate: PerfFigures;
    ideal: PerfFigures;
    /** Replicas; estimate and ideal are one replica's figures. */
    data_parallel: number;
    /** dp × one replica's output tokens/s. */
    aggregate_tokens_per_s: { estimate: number; ideal: number };
  };
  batch_sweep: {
    batch_size: number;
    tokens_per_s: number;
    ideal_tokens_per_s: number;
    ttft_s: number;
    tpot_s: number;
    memory_per_device_bytes: number;
    fits: boolean;
  }[];
  fits_on: {
    id: string;
    name: string;
    memory_bytes: number;
    devices_needed: number | null;
    plan: { tp: number; pp: number; ep: number } | null;
    memory_per_device_bytes: number | null;
    tokens_per_s: number | null;
  }[];
  warnings: string[];
  trace: { memory: TraceEntry[]; capacity: TraceEntry[]; performance: TraceEntry[] } | null;
}

export interface AnalyzeResult {
  model_id: string;
  analysis: Record<string, { total_memory_bytes: number; kv_cache_bytes: number }>;
  trace?: Record<string, TraceEntry[]>;
}

export interface TrainingResult {
  model: { id: string | null; name: string };
  components_bytes: Record<string, number>;
  phases_bytes: { forward_peak: number; backward_peak: number; optimizer_step_peak: number };
  peak_bytes: number;
  trainable_parameters: number;
  total_parameters: number;
  trainable_percent: number;
  trace: TraceEntry[] | null;
}

/** POST /api/serving/simulate: the benchmark's figures (milliseconds, tokens/s), null where undefined. */
export interface ServingFigures {
  ttft_ms: number | null;
  ttft_ms_p90: number | null;
  ttft_ms_p99: number | null;
  tpot_ms: number | null;
  tpot_ms_p90: number | null;
  tpot_ms_p99: number | null;
  itl_ms: number | null;
  e2e_ms: number | null;
  output_tokens_per_s: number | null;
  output_tokens_per_s_per_gpu: number | null;
  output_tokens_per_s_per_user: number | null;
  goodput_requests_per_s: number | null;
  queue_ms: number | null;
  prefill_ms: number | null;
  completed?: number | null;
  duration_s?: number | null;
}

export interface ServingResponse extends ServingFigures {
  gpus: number;
  /** The same schedule at datasheet speed (the bound). */
  ideal?: ServingFigures | null;
  preemptions?: number;
  /** Whether measured rows back this hardware class, weight format and engine (core/perf/confidence.ts). */
  confidence?: { level: 'calibrated' | 'extrapolated'; reason: string };
  trace?: TraceEntry[] | null;
}
