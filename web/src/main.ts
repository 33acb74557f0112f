/** infersim's page: state in the URL, the settings sidebar, and five views over the JSON API. */
import './style.css';
import { postJson, type AnalyzeResult, type PlanResult, type TrainingResult } from './api';
import { catalogs, deviceOf, findModel, loadCatalogs, modelName } from './catalog';
import { destroyCharts } from './charts';
import { number, renderControls } from './controls';
import { installExplain } from './explain';
import { el } from './fmt';
import { renderCompare, type CompareEntry } from './panels/compare';
import { renderEngine } from './panels/engine';
import { renderInference } from './panels/inference';
import { renderServing } from './panels/serving';
import { servingForm } from './panels/serving-form';
import { parseConcurrencies, runSweep, type ServingPoint } from './panels/serving-run';
import { renderTraining } from './panels/training';
import { fromUrl, modelRef, toQuery, type State, type Tab } from './state';

let state: State = fromUrl(location.search);
let timer: number | undefined;
let inflight: AbortController | null = null;
let generation = 0;

const $ = (id: string) => document.getElementById(id)!;
const SEQ_LENGTHS = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];

function setStatus(s: 'loading' | 'ready' | 'error'): void {
  document.body.dataset['status'] = s;
}

const same = (a: unknown, b: unknown): boolean =>
  Array.isArray(a) && Array.isArray(b) ? a.join('\n') === b.join('\n') : a === b;

/**
 * A change of settings: the URL, then a recompute. A patch that changes nothing is dropped (Chromium fires
 * `change` again on an edited input when it leaves the page, which would otherwise recompute twice).
 */
function update(patch: Partial<State>): void {
  const cur = state as unknown as Record<string, unknown>;
  if (Object.entries(patch).every(([k, v]) => same(cur[k], v))) return;
  const modelChanged = patch.model !== undefined && patch.model !== state.model;
  const tabChanged = patch.tab !== undefined && patch.tab !== state.tab;
  state = { ...state, ...patch };
  history.replaceState(null, '', `${location.pathname}${toQuery(state)}`);
  if (modelChanged || tabChanged) renderSidebar();
  schedule();
}

/** Recompute shortly (one request for a burst of changes); the page is 'loading' until the newest answer is shown. */
function schedule(): void {
  setStatus('loading');
  window.clearTimeout(timer);
  timer = window.setTimeout(() => {
    timer = undefined;
    void refresh();
  }, 150);
}

function renderSidebar(): void {
  const aside = $('controls');
  aside.hidden = state.tab === 'engine';
  // Training has its own precision, sizes and parallelism (in its form): the inference ones are hidden there.
  aside.dataset['tab'] = state.tab;
  renderControls(aside, state, update);
}

function showTab(tab: Tab): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) {
    b.setAttribute('aria-selected', String(b.dataset['tab'] === tab));
  }
  for (const s of document.querySelectorAll<HTMLElement>('[data-view]')) s.hidden = s.dataset['view'] !== tab;
}

function planRequest(model: string, precision = state.precision) {
  return {
    ...modelRef(model),
    hardware_id: state.hw,
    precision,
    ...(state.kv !== 'auto' ? { kv_precision: state.kv } : {}),
    batch_size: state.batch,
    input_len: state.input,
    output_len: state.output,
    tp: state.tp,
    pp: state.pp,
    ep: state.ep,
    cp: state.cp,
    sp: state.sp,
    dp: state.replicas,
    gpu_memory_utilization: state.util,
    runtime: state.runtime,
    engine: state.engine,
    ...(state.engineVersion ? { engine_version: state.engineVersion } : {}),
  };
}

/** Memory against length; `perDevice` follows the form's parallel plan (the inference view's chart is per device). */
async function analyzeOf(
  model: string,
  precision: string,
  signal: AbortSignal,
  perDevice = false,
): Promise<AnalyzeResult> {
  if (model.startsWith('pasted:'))
    throw new Error('The memory-vs-length chart needs an imported model (the server has no database).');
  return postJson<AnalyzeResult>(
    '/api/models/analyze',
    {
      model_id: model,
      precision,
      batch_size: state.batch,
      sequence_lengths: [...new Set([...SEQ_LENGTHS, state.input + state.output])].sort((a, b) => a - b),
      ...(state.kv !== 'auto' ? { kv_precision: state.kv } : {}),
      runtime: state.runtime,
      ...(perDevice ? { tp: state.tp, pp: state.pp, ep: state.ep, cp: state.cp, sp: state.sp } : {}),
    },
    signal,
  );
}

function errorBox(view: HTMLElement, msg: string): void {
  destroyCharts(view);
  view.replaceChildren(
    el(
      'div',
      { class: 'card error-card', 'data-testid': 'error' },
      el('h2', { text: 'Cannot compute this' }),
      el('p', { text: msg }),
    ),
  );
}

async function refreshInference(signal: AbortSignal): Promise<void> {
  const req = planRequest(state.model);
  const [plan, analyze] = await Promise.allSettled([
    postJson<PlanResult>('/api/web/plan?explain=true', req, signal),
    analyzeOf(state.model, state.precision, signal, true),
  ]);
  if (signal.aborted) return;
  if (plan.status === 'rejected') throw plan.reason;
  renderInference(
    $('view-inference'),
    plan.value,
    analyze.status === 'fulfilled' ? analyze.value : null,
    analyze.status === 'rejected' ? (analyze.reason as Error).message : null,
    req,
  );
}

function parseEntry(key: string): { model: string; precision: string } {
  const at = key.lastIndexOf('@');
  return at > 0
    ? { model: key.slice(0, at), precision: key.slice(at + 1) }
    : { model: key, precision: state.precision };
}

/** The chosen configurations, as chips with a remove button (or a hint when there are none). */
function compareChips(): HTMLElement {
  if (!state.compare.length)
    return el('p', {
      class: 'muted',
      text: 'Nothing to compare yet: add models or the same model at several precisions.',
    });
  return el(
    'ul',
    { class: 'chips', id: 'compare-list' },
    ...state.compare.map((k) => {
      const { model, precision } = parseEntry(k);
      const rm = el('button', { type: 'button', class: 'chip-x', 'aria-label': `remove ${k}`, text: '×' });
      rm.addEventListener('click', () => update({ compare: state.compare.filter((x) => x !== k) }));
      return el('li', { class: 'chip' }, `${modelName(model)} @ ${precision}`, rm);
    }),
  );
}

/** Built once, like the training form: a recompute redraws the chips, never the search box being typed in. */
let compareBox: { root: HTMLElement; chips: HTMLElement } | null = null;

function compareControls(): { root: HTMLElement; chips: HTMLElement } {
  const chips = el('div', { id: 'compare-chips' });
  const search = el('input', {
    id: 'compare-search',
    type: 'search',
    list: 'model-options',
    placeholder: 'Add a model…',
    autocomplete: 'off',
  });
  const prec = el('select', { id: 'compare-precision' });
  for (const p of ['auto', ...catalogs.precisions]) prec.append(el('option', { value: p, text: p }));
  prec.value = state.precision;
  const add = el('button', { type: 'button', id: 'compare-add', text: 'Add' });
  const addCurrent = el('button', {
    type: 'button',
    id: 'compare-add-current',
    text: 'Add the current model',
  });
  const push = (key: string) => {
    if (!state.compare.includes(key) && state.compare.length < 8)
      update({ compare: [...state.compare, key] });
  };
  add.addEventListener('click', () => {
    const m = findModel(search.value);
    if (m) {
      push(`${m.id}@${prec.value}`);
      search.value = '';
    }
  });
  addCurrent.addEventListener('click', () => push(`${state.model}@${state.precision}`));
  return {
    root: el('div', {}, chips, el('div', { class: 'row add' }, search, prec, add, addCurrent)),
    chips,
  };
}

async function refreshCompare(signal: AbortSignal): Promise<void> {
  const entries: CompareEntry[] = await Promise.all(
    state.compare.map(async (key): Promise<CompareEntry> => {
      const { model, precision } = parseEntry(key);
      const label = `${modelName(model)} @ ${precision}`;
      const [p, a] = await Promise.allSettled([
        postJson<PlanResult>('/api/web/plan?explain=true', planRequest(model, precision), signal),
        analyzeOf(model, precision, signal),
      ]);
      return {
        key,
        label,
        plan: p.status === 'fulfilled' ? p.value : null,
        analyze: a.status === 'fulfilled' ? a.value : null,
        error: p.status === 'rejected' ? (p.reason as Error).message : null,
      };
    }),
  );
  if (signal.aborted) return;
  compareBox ??= compareControls();
  compareBox.chips.replaceChildren(compareChips());
  renderCompare(
    $('view-compare'),
    entries,
    compareBox.root,
    deviceOf(state.hw)?.visible_memory_bytes ?? null,
  );
}

function trainingForm(): HTMLElement {
  const sel = (id: string, opts: string[], v: string, f: (x: string) => void, labels?: string[]) => {
    const s = el('select', { id });
    opts.forEach((o, i) => s.append(el('option', { value: o, text: labels?.[i] ?? o })));
    s.value = v;
    s.addEventListener('change', () => f(s.value));
    return s;
  };
  // Integers; typing 16 recomputes without leaving the field (controls.ts number).
  const num = (id: string, v: number, min: number, max: number, f: (x: number) => void) =>
    number(id, v, min, max, 1, f);
  const field = (label: string, c: HTMLElement) =>
    el('label', { class: 'field' }, el('span', { text: label }), c);
  const targets = el('input', { id: 'train-lora-targets', type: 'text', value: state.loraTargets });
  targets.addEventListener('change', () => update({ loraTargets: targets.value || 'all-linear' }));
  const qlora = el('input', { id: 'train-qlora', type: 'checkbox', checked: state.qlora });
  qlora.addEventListener('change', () => update({ qlora: qlora.checked }));
  const optimizers = catalogs.optimizers.map((o) => o.id);
  return el(
    'div',
    { class: 'train-form' },
    el(
      'div',
      { class: 'row three' },
      field(
        'Precision',
        sel('train-precision', ['bf16', 'fp16', 'fp32', 'fp8'], state.tPrecision, (v) =>
          update({ tPrecision: v }),
        ),
      ),
      field(
        'Optimizer',
        sel(
          'train-optimizer',
          optimizers,
          optimizers.find((o) => o.toLowerCase() === state.optimizer.toLowerCase()) ??
            optimizers[0] ??
            'adamw',
          (v) => update({ optimizer: v }),
        ),
      ),
      field(
        'ZeRO',
        sel('train-zero', ['0', '1', '2', '3'], String(state.zero), (v) => update({ zero: Number(v) })),
      ),
      field(
        'Data parallel',
        num('train-dp', state.dp, 1, 64, (v) => update({ dp: v })),
      ),
      field(
        'Recompute',
        sel('train-recompute', ['none', 'selective', 'full'], state.recompute, (v) =>
          update({ recompute: v }),
        ),
      ),
      field(
        'Micro-batch',
        num('train-batch', state.tBatch, 1, 4096, (v) => update({ tBatch: v })),
      ),
      field(
        'Sequence',
        num('train-seq', state.tSeq, 1, 1_048_576, (v) => update({ tSeq: v })),
      ),
      field(
        'LoRA rank (0 = full)',
        num('train-lora', state.loraRank, 0, 4096, (v) => update({ loraRank: v })),
      ),
      field('LoRA targets', targets),
    ),
    el('label', { class: 'check' }, qlora, ' QLoRA (4-bit NF4 base; needs a LoRA rank)'),
  );
}

/**
 * The training form is built once and stays in the page: a recompute replaces the figures beside it, never the
 * inputs (replacing them lost what was being typed, and Chromium's `change` from the removed, focused input came
 * back after the new form had been built from the older settings).
 */
let trainForm: HTMLElement | null = null;

async function refreshTraining(signal: AbortSignal): Promise<void> {
  const req = {
    ...modelRef(state.model),
    precision: state.tPrecision,
    optimizer: state.optimizer,
    batch_size: state.tBatch,
    seq_len: state.tSeq,
    data_parallel: state.dp,
    zero_stage: state.zero,
    recompute: state.recompute,
    lora_rank: state.loraRank,
    lora_targets: state.loraTargets,
    qlora: state.qlora,
  };
  let r: TrainingResult | null = null;
  let error: string | null = null;
  try {
    r = await postJson<TrainingResult>('/api/web/training?explain=true', req, signal);
  } catch (e) {
    if (signal.aborted) return;
    error = (e as Error).message;
  }
  if (signal.aborted) return;
  const dev = deviceOf(state.hw);
  trainForm ??= trainingForm();
  renderTraining(
    $('view-training'),
    trainForm,
    r,
    error,
    dev?.visible_memory_bytes ?? null,
    dev?.name ?? '',
    req,
  );
  if (error) throw new Error(error);
}

/** The serving form, built once like the training form. */
let servForm: HTMLElement | null = null;

/**
 * One simulation per concurrency, in turn; the view is redrawn after each (its progress visible), and refresh()
 * says 'ready' only once the last has been drawn.
 */
async function refreshServing(signal: AbortSignal): Promise<void> {
  servForm ??= servingForm(state, update);
  const dev = deviceOf(state.hw);
  const sys = catalogs.systems.find((x) => x.id === state.hw);
  const engines: Record<string, string> = { vllm: 'vLLM', sglang: 'SGLang', trtllm: 'TensorRT-LLM' };
  let concurrencies: number[] = [];
  const view = (points: ServingPoint[], next: number | null, error: string | null) =>
    renderServing($('view-serving'), servForm!, {
      points,
      concurrencies,
      next,
      error,
      label: {
        model: modelName(state.model),
        hardware: sys?.name ?? dev?.name ?? state.hw,
        engine: engines[state.sEngine] ?? state.sEngine,
      },
      slo: { ttftMs: state.sloTtft, tpotMs: state.sloTpot },
    });
  let shown: ServingPoint[] = [];
  try {
    concurrencies = parseConcurrencies(state.sConc);
    await runSweep(state, concurrencies, signal, (done, next) => {
      shown = [...done];
      if (!signal.aborted) view(shown, next, null);
    });
  } catch (e) {
    if (signal.aborted) return;
    view(shown, null, (e as Error).message);
    throw e;
  }
}

async function refresh(): Promise<void> {
  inflight?.abort();
  const ctl = new AbortController();
  inflight = ctl;
  const mine = ++generation;
  showTab(state.tab);
  try {
    if (state.tab === 'inference') await refreshInference(ctl.signal);
    else if (state.tab === 'compare') await refreshCompare(ctl.signal);
    else if (state.tab === 'training') await refreshTraining(ctl.signal);
    else if (state.tab === 'serving') await refreshServing(ctl.signal);
    else renderEngine($('view-engine'));
    // 'ready' only for the newest settings: not when a newer change is waiting for its recompute.
    if (mine === generation && timer === undefined) setStatus('ready');
  } catch (e) {
    if (ctl.signal.aborted || mine !== generation || timer !== undefined) return;
    if (state.tab === 'inference') errorBox($('view-inference'), (e as Error).message);
    if (state.tab === 'compare') errorBox($('view-compare'), (e as Error).message);
    setStatus('error');
  }
}

async function start(): Promise<void> {
  setStatus('loading');
  installExplain();
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) {
    b.addEventListener('click', () => update({ tab: b.dataset['tab'] as Tab }));
  }
  try {
    await loadCatalogs();
  } catch (e) {
    errorBox($('view-inference'), `Cannot reach the infersim API: ${(e as Error).message}`);
    setStatus('error');
    return;
  }
  if (!state.model.startsWith('pasted:') && !findModel(state.model) && catalogs.models[0])
    state.model = catalogs.models[0].id;
  renderSidebar();
  showTab(state.tab);
  await refresh();
}

void start();
