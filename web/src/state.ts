/**
 * The page state, mirrored in the URL query so a view can be shared: every setting has a short key, defaults are
 * left out. A pasted config.json (when the server has no database to import it into) lives in sessionStorage.
 */

export type Tab = 'inference' | 'compare' | 'training' | 'engine' | 'serving';

export interface State {
  tab: Tab;
  model: string;
  hw: string;
  precision: string;
  kv: string;
  runtime: string;
  /** Serving engine whose KV-cache sizing the capacity figures use, and its release ('' = the modelled default). */
  engine: string;
  engineVersion: string;
  util: number;
  batch: number;
  input: number;
  output: number;
  tp: number;
  pp: number;
  ep: number;
  /** Context parallel degree, sequence parallel, and inference data-parallel replicas ('dp' is training's). */
  cp: number;
  sp: boolean;
  replicas: number;
  /** Compare: entries 'model@precision'. */
  compare: string[];
  /** Training. */
  tPrecision: string;
  optimizer: string;
  zero: number;
  dp: number;
  recompute: string;
  loraRank: number;
  loraTargets: string;
  qlora: boolean;
  tBatch: number;
  tSeq: number;
  /** Serving: engine, plan, formats, lengths, the concurrencies swept ('1,2,4'), SLO limits in ms (0 = none). */
  sEngine: string;
  sTp: number;
  sEp: number;
  sAdp: number;
  sPrecision: string;
  sKv: string;
  sIsl: number;
  sOsl: number;
  sConc: string;
  sloTtft: number;
  sloTpot: number;
}

export const DEFAULTS: State = {
  tab: 'inference',
  model: 'meta-llama/Llama-3.1-8B',
  hw: 'h100-sxm-80gb',
  precision: 'bf16',
  kv: 'auto',
  runtime: 'vllm-v1',
  engine: 'vllm',
  engineVersion: '',
  util: 0.9,
  batch: 8,
  input: 1024,
  output: 256,
  tp: 1,
  pp: 1,
  ep: 1,
  cp: 1,
  sp: false,
  replicas: 1,
  compare: [],
  tPrecision: 'bf16',
  optimizer: 'adamw',
  zero: 0,
  dp: 1,
  recompute: 'none',
  loraRank: 0,
  loraTargets: 'all-linear',
  qlora: false,
  tBatch: 1,
  tSeq: 2048,
  sEngine: 'vllm',
  sTp: 1,
  sEp: 1,
  sAdp: 1,
  sPrecision: 'auto',
  sKv: 'auto',
  sIsl: 1024,
  sOsl: 1024,
  sConc: '1,2,4,8,16,32,64,128,256',
  sloTtft: 0,
  sloTpot: 0,
};

const KEYS: Record<keyof State, string> = {
  tab: 'tab',
  model: 'm',
  hw: 'hw',
  precision: 'p',
  kv: 'kv',
  runtime: 'rt',
  engine: 'eng',
  engineVersion: 'ev',
  util: 'u',
  batch: 'b',
  input: 'in',
  output: 'out',
  tp: 'tp',
  pp: 'pp',
  ep: 'ep',
  cp: 'cp',
  sp: 'sp',
  replicas: 'idp',
  compare: 'cmp',
  tPrecision: 'tp_p',
  optimizer: 'opt',
  zero: 'zero',
  dp: 'dp',
  recompute: 'rc',
  loraRank: 'lora',
  loraTargets: 'lt',
  qlora: 'qlora',
  tBatch: 'tb',
  tSeq: 'ts',
  sEngine: 'eng',
  sTp: 'stp',
  sEp: 'sep',
  sAdp: 'adp',
  sPrecision: 'sv_p',
  sKv: 'sv_kv',
  sIsl: 'isl',
  sOsl: 'osl',
  sConc: 'conc',
  sloTtft: 'slo_ttft',
  sloTpot: 'slo_tpot',
};

export function fromUrl(search: string): State {
  const q = new URLSearchParams(search);
  const s: State = { ...DEFAULTS, compare: [...DEFAULTS.compare] };
  const out = s as unknown as Record<string, unknown>;
  for (const [field, key] of Object.entries(KEYS)) {
    const raw = q.get(key);
    if (raw === null) continue;
    const def = (DEFAULTS as unknown as Record<string, unknown>)[field];
    if (typeof def === 'number') {
      const n = Number(raw);
      if (Number.isFinite(n) && n > 0) out[field] = n;
    } else if (typeof def === 'boolean') out[field] = raw === '1' || raw === 'true';
    else if (Array.isArray(def)) out[field] = raw.split(',').filter(Boolean).slice(0, 8);
    else out[field] = raw.slice(0, 300);
  }
  if (!['inference', 'compare', 'training', 'engine', 'serving'].includes(s.tab)) s.tab = 'inference';
  return s;
}

export function toQuery(s: State): string {
  const q = new URLSearchParams();
  const cur = s as unknown as Record<string, unknown>;
  const def = DEFAULTS as unknown as Record<string, unknown>;
  for (const [field, key] of Object.entries(KEYS)) {
    const v = cur[field];
    const d = def[field];
    if (Array.isArray(v)) {
      if (v.length) q.set(key, v.join(','));
    } else if (v !== d) q.set(key, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

const PASTED = 'infersim.pasted';

/** Configs pasted into this tab, by their 'pasted:NAME' id. */
export function pastedConfigs(): Record<string, Record<string, unknown>> {
  try {
    return JSON.parse(sessionStorage.getItem(PASTED) ?? '{}') as Record<string, Record<string, unknown>>;
  } catch {
    return {};
  }
}

export function savePasted(id: string, config: Record<string, unknown>): void {
  sessionStorage.setItem(PASTED, JSON.stringify({ ...pastedConfigs(), [id]: config }));
}

/** The model part of a request: a pasted config inline, else the id. */
export function modelRef(id: string): { model_id?: string; config?: Record<string, unknown> } {
  const c = id.startsWith('pasted:') ? pastedConfigs()[id] : undefined;
  return c ? { config: c } : { model_id: id };
}
