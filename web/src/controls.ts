/** The settings sidebar: model (search, paste a config.json, import from the Hub), hardware, precision, sizes, plan. */
import { HttpError, postJson } from './api';
import { catalogs, findModel, modelName, reloadModels } from './catalog';
import { el, gb, params } from './fmt';
import { savePasted, type State } from './state';

export type Update = (patch: Partial<State>) => void;

export const DEGREES = [1, 2, 4, 8, 16, 32, 64];
const RUNTIMES = ['vllm-v1', 'vllm-v0', 'pytorch', 'none'];
export const ENGINES: [string, string][] = [
  ['vllm', 'vLLM'],
  ['sglang', 'SGLang'],
  ['trtllm', 'TensorRT-LLM'],
];

/** What each parallelism degree does, shown on hover (and read by screen readers) wherever the name appears. */
export const PARALLEL_TIPS: Record<string, string> = {
  TP: 'Tensor parallel: each weight matrix is split across TP devices; every layer all-reduces its output. Cuts weights and KV cache per device, costs communication on every layer.',
  PP: 'Pipeline parallel: the layers are split into PP consecutive stages on different devices; activations pass from stage to stage. Cuts weights per device, adds pipeline bubbles.',
  EP: 'Expert parallel: the experts of an MoE layer are spread over EP devices; tokens are sent to the device holding their expert (all-to-all).',
  CP: 'Context parallel: the sequence is split over CP devices and attention exchanges K/V around a ring. Cuts activations and KV cache of long contexts per device.',
  DP: 'Data parallel: independent replicas of the whole model, each serving its own requests. Multiplies throughput and devices, not memory per device.',
  'Attention DP':
    'Attention data parallel: attention runs on separate request batches per rank (each rank holds its own KV cache) while the MoE experts are shared through EP.',
  SP: 'Sequence parallel: inside the TP group, norms and residual activations are split along the sequence (reduce-scatter + all-gather instead of all-reduce). Needs TP ≥ 2.',
};

/** A label; a parallelism name gets its explanation as a hover tip. */
export function labelSpan(label: string): HTMLElement {
  const tip = PARALLEL_TIPS[label];
  return tip
    ? el('span', { class: 'tip', text: label, title: tip, 'aria-description': tip, tabindex: '0' })
    : el('span', { text: label });
}

export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const tip = PARALLEL_TIPS[label];
  if (tip && !control.title) control.title = tip;
  return el(
    'label',
    { class: 'field' },
    labelSpan(label),
    control,
    hint ? el('small', { text: hint }) : null,
  );
}

export function select(
  id: string,
  options: [string, string][],
  value: string,
  onChange: (v: string) => void,
) {
  const s = el('select', { id });
  for (const [v, label] of options) s.append(el('option', { value: v, text: label }));
  // A value from the URL that the list lacks stays selectable (the server names it if it is wrong).
  if (!options.some(([v]) => v === value)) s.append(el('option', { value, text: value }));
  s.value = value;
  s.addEventListener('change', () => onChange(s.value));
  return s;
}

/** The engine release as typed (committed on change; the server names a bad one). */
function engineVersion(s: State, update: Update): HTMLElement {
  const i = el('input', {
    id: 'engine-version',
    type: 'text',
    value: s.engineVersion,
    placeholder: 'e.g. 0.19.0',
  });
  i.addEventListener('change', () => update({ engineVersion: i.value.trim().slice(0, 20) }));
  return i;
}

/** A number input: a valid number counts as it is typed; leaving it invalid puts the last valid one back. */
export function number(
  id: string,
  value: number,
  min: number,
  max: number,
  step: number,
  onChange: (v: number) => void,
) {
  const i = el('input', { id, type: 'number', min, max, step, value, inputmode: 'numeric' });
  let last = value;
  const commit = (final: boolean) => {
    const v = i.value.trim() === '' ? NaN : Number(i.value);
    if (Number.isFinite(v) && v >= min && v <= max && (step % 1 !== 0 || Number.isInteger(v))) {
      last = v;
      onChange(v);
    } else if (final) i.value = String(last);
  };
  i.addEventListener('input', () => commit(false));
  i.addEventListener('change', () => commit(true));
  return i;
}

function status(box: HTMLElement, text: string, kind: 'ok' | 'error' | 'busy'): void {
  box.className = `status ${kind}`;
  box.textContent = text;
}

function modelPicker(s: State, update: Update): HTMLElement {
  const list = el('datalist', { id: 'model-options' });
  for (const m of catalogs.models)
    list.append(
      el('option', {
        value: m.id,
        label: `${m.name} · ${params(m.total_parameters)}${m.source === 'database' ? ' · imported' : ''}`,
      }),
    );
  const search = el('input', {
    id: 'model-search',
    type: 'search',
    list: 'model-options',
    placeholder: `Search ${catalogs.models.length} models…`,
    autocomplete: 'off',
    value: s.model.startsWith('pasted:') ? '' : s.model,
  });
  const current = el('div', { class: 'current-model', id: 'current-model', text: modelName(s.model) });
  const msg = el('div', { class: 'status' });
  const choose = () => {
    const m = findModel(search.value);
    if (m) {
      msg.textContent = '';
      if (m.id !== s.model) update({ model: m.id, tp: 1, pp: 1, ep: 1, sp: false });
    } else if (search.value.trim())
      status(msg, `No model '${search.value.trim()}' — import it below?`, 'error');
  };
  search.addEventListener('change', choose);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') choose();
  });

  // Paste a config.json: imported into the database when the server has one, else kept in this tab.
  const text = el('textarea', {
    id: 'config-text',
    rows: 6,
    placeholder: '{ "model_type": "llama", "hidden_size": … }',
  });
  const name = el('input', { id: 'config-name', type: 'text', placeholder: 'name, e.g. my-org/my-model' });
  const pasteMsg = el('div', { class: 'status' });
  const use = el('button', { type: 'button', id: 'config-use', text: 'Use this config' });
  use.addEventListener('click', async () => {
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(text.value) as Record<string, unknown>;
      if (!config || typeof config !== 'object' || Array.isArray(config))
        throw new Error('not a JSON object');
    } catch (e) {
      return status(pasteMsg, `Not valid JSON: ${(e as Error).message}`, 'error');
    }
    const id = (name.value.trim() || String(config['_name_or_path'] ?? 'pasted-model')).replace(
      /[^\w./-]/g,
      '-',
    );
    status(pasteMsg, 'Reading the config…', 'busy');
    try {
      const r = await postJson<{ model_id: string }>('/api/models/add/config', { model_id: id, config });
      await reloadModels();
      status(pasteMsg, `Imported as ${r.model_id}`, 'ok');
      update({ model: r.model_id, tp: 1, pp: 1, ep: 1, sp: false });
    } catch (e) {
      if (e instanceof HttpError && e.status === 503) {
        // No database: keep the config in this tab and send it inline.
        savePasted(`pasted:${id}`, config);
        status(pasteMsg, 'Using the config in this tab (the server has no database to import into).', 'ok');
        update({ model: `pasted:${id}`, tp: 1, pp: 1, ep: 1, sp: false });
      } else status(pasteMsg, (e as Error).message, 'error');
    }
  });

  const hf = el('input', { id: 'hf-id', type: 'text', placeholder: 'org/name', autocomplete: 'off' });
  const hfMsg = el('div', { class: 'status' });
  const hfGo = el('button', { type: 'button', id: 'hf-import', text: 'Import' });
  hfGo.addEventListener('click', async () => {
    const id = hf.value.trim();
    if (!/^[\w.-]+\/[\w.-]+$/.test(id)) return status(hfMsg, "Give a repo id 'org/name'", 'error');
    status(hfMsg, `Importing ${id}…`, 'busy');
    try {
      const r = await postJson<{ model_id: string; message: string }>('/api/models/add/huggingface', {
        model_uri: id,
      });
      await reloadModels();
      status(hfMsg, r.message, 'ok');
      update({ model: r.model_id, tp: 1, pp: 1, ep: 1, sp: false });
    } catch (e) {
      status(hfMsg, (e as Error).message, 'error');
    }
  });

  return el(
    'fieldset',
    { class: 'group' },
    el('legend', { text: 'Model' }),
    search,
    list,
    current,
    msg,
    el(
      'details',
      { class: 'more' },
      el('summary', { text: 'Paste a config.json' }),
      name,
      text,
      use,
      pasteMsg,
    ),
    el('details', { class: 'more' }, el('summary', { text: 'Import from Hugging Face' }), hf, hfGo, hfMsg),
  );
}

function hardwarePicker(s: State, update: Update): HTMLElement {
  const sel = el('select', { id: 'hardware' });
  const kinds: [string, (k: string) => boolean][] = [
    ['GPUs', (k) => k === 'gpu'],
    ['Accelerators', (k) => k === 'accelerator' || k === 'tpu'],
    ['Apple and CPUs', (k) => k === 'apple-soc' || k === 'cpu'],
  ];
  const systems = el('optgroup', { label: 'Systems' });
  for (const x of catalogs.systems) {
    const d = catalogs.devices.find((d) => d.id === x.device);
    systems.append(
      el('option', { value: x.id, text: `${x.name} (${x.num_chips} × ${d ? gb(d.memory_bytes) : '?'})` }),
    );
  }
  for (const [label, test] of kinds) {
    const g = el('optgroup', { label });
    for (const d of catalogs.devices.filter((d) => test(d.kind)))
      g.append(el('option', { value: d.id, text: `${d.name} · ${gb(d.memory_bytes)}` }));
    if (g.children.length) sel.append(g);
  }
  sel.append(systems);
  sel.value = s.hw;
  sel.addEventListener('change', () => update({ hw: sel.value }));
  return el(
    'fieldset',
    { class: 'group' },
    el('legend', { text: 'Hardware' }),
    field('Device or system', sel),
  );
}

export function renderControls(root: HTMLElement, s: State, update: Update): void {
  const precisions: [string, string][] = [
    ['auto', 'auto (checkpoint)'],
    ...catalogs.precisions.map((p): [string, string] => [p, p]),
  ];
  const kvs: [string, string][] = [
    ['auto', 'auto (model dtype)'],
    ...catalogs.kvDtypes.map((p): [string, string] => [p, p]),
  ];
  const deg = (id: string, v: number, key: 'tp' | 'pp' | 'ep' | 'cp' | 'replicas') =>
    select(
      id,
      DEGREES.map((d) => [String(d), String(d)]),
      String(v),
      (x) => {
        const v = Number(x);
        if (key !== 'tp') return update({ [key]: v });
        // Sequence parallel shards over the TP group: TP 1 turns it off.
        sp.disabled = v < 2;
        if (v < 2) sp.checked = false;
        spHint.textContent = spText(v);
        update(v < 2 ? { tp: v, sp: false } : { tp: v });
      },
    );
  const spText = (tp: number) => (tp < 2 ? 'needs TP ≥ 2' : 'over TP');
  const spHint = el('small', { text: spText(s.tp) });
  const sp = el('input', {
    id: 'sp',
    type: 'checkbox',
    checked: s.sp,
    disabled: s.tp < 2,
    title: 'Sequence parallel: norm and residual activations sharded over the TP group (needs TP ≥ 2)',
  });
  sp.addEventListener('change', () => update({ sp: sp.checked }));
  root.replaceChildren(
    modelPicker(s, update),
    hardwarePicker(s, update),
    el(
      'fieldset',
      { class: 'group', 'data-scope': 'inference' },
      el('legend', { text: 'Precision' }),
      el(
        'div',
        { class: 'row' },
        field(
          'Weights',
          select('precision', precisions, s.precision, (v) => update({ precision: v })),
        ),
        field(
          'KV cache',
          select('kv-precision', kvs, s.kv, (v) => update({ kv: v })),
        ),
      ),
    ),
    el(
      'fieldset',
      { class: 'group', 'data-scope': 'inference' },
      el('legend', { text: 'Workload' }),
      el(
        'div',
        { class: 'row three' },
        field(
          'Batch',
          number('batch', s.batch, 1, 4096, 1, (v) => update({ batch: v })),
        ),
        field(
          'Input',
          number('input-len', s.input, 1, 1_048_576, 1, (v) => update({ input: v })),
        ),
        field(
          'Output',
          number('output-len', s.output, 1, 1_048_576, 1, (v) => update({ output: v })),
        ),
      ),
    ),
    el(
      'fieldset',
      { class: 'group', 'data-scope': 'inference' },
      el('legend', { text: 'Parallelism' }),
      el(
        'div',
        { class: 'row three' },
        field('TP', deg('tp', s.tp, 'tp')),
        field('PP', deg('pp', s.pp, 'pp')),
        field('EP', deg('ep', s.ep, 'ep')),
      ),
      el(
        'div',
        { class: 'row three' },
        field('CP', deg('cp', s.cp, 'cp'), 'sequence split'),
        field('DP', deg('dp-replicas', s.replicas, 'replicas'), 'replicas'),
        el('label', { class: 'field' }, labelSpan('SP'), el('span', { class: 'check' }, sp), spHint),
      ),
    ),
    el(
      'details',
      { class: 'group more', 'data-scope': 'inference' },
      el('summary', { text: 'Engine settings' }),
      el(
        'div',
        { class: 'row' },
        field(
          'Runtime',
          select(
            'runtime',
            RUNTIMES.map((r) => [r, r]),
            s.runtime,
            (v) => update({ runtime: v }),
          ),
        ),
        field(
          'GPU mem. util.',
          number('util', s.util, 0.05, 1, 0.05, (v) => update({ util: v })),
          "vLLM's; other engines use their own default",
        ),
      ),
      el(
        'div',
        { class: 'row' },
        field(
          'Engine',
          select('engine', ENGINES, s.engine, (v) => update({ engine: v })),
          'sizes the KV cache',
        ),
        field('Engine version', engineVersion(s, update), 'empty: modelled default'),
      ),
    ),
  );
}
