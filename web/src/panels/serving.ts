/**
 * Serving: a closed loop of N users per concurrency on the chosen model, GPU and engine — TTFT and TPOT percentiles
 * against concurrency, output tokens/s per GPU against tokens/s per user (one point per concurrency), and the table
 * of every figure, each with its "how?".
 */
import type { ServingFigures, TraceEntry } from '../api';
import { destroyCharts, draw, PALETTE, type Chart } from '../charts';
import { how, resetHow } from '../explain';
import { el, rate } from '../fmt';
import { SERVING_URL, type ServingPoint } from './serving-run';

const SCOPE = 'serving';
type Key = Exclude<keyof ServingFigures, 'completed' | 'duration_s'>;
type Kind = 'ms' | 'rate' | 'req';

/** Definitions as vLLM's benchmark computes them (and infersim's core/serving/metrics.ts follows). */
const FIGURES: { key: Key; label: string; unit: string; kind: Kind; def: string; server: RegExp }[] = [
  {
    key: 'ttft_ms',
    label: 'TTFT p50',
    unit: 'ms',
    kind: 'ms',
    def: 'median over requests of (first token time − arrival)',
    server: /^ttft|^kv_tokens|^step time/,
  },
  {
    key: 'ttft_ms_p90',
    label: 'TTFT p90',
    unit: 'ms',
    kind: 'ms',
    def: '90th percentile (numpy, linear) over requests of (first token time − arrival)',
    server: /^ttft|^kv_tokens|^step time/,
  },
  {
    key: 'ttft_ms_p99',
    label: 'TTFT p99',
    unit: 'ms',
    kind: 'ms',
    def: '99th percentile (numpy, linear) over requests of (first token time − arrival)',
    server: /^ttft|^kv_tokens|^step time/,
  },
  {
    key: 'queue_ms',
    label: 'TTFT: queue p50',
    unit: 'ms',
    kind: 'ms',
    def: "TTFT's first part: median over requests of (first time scheduled − arrival); medians of the parts need not add up to TTFT's",
    server: /^ttft|^kv_tokens/,
  },
  {
    key: 'prefill_ms',
    label: 'TTFT: prefill p50',
    unit: 'ms',
    kind: 'ms',
    def: "TTFT's second part: median over requests of (first token time − first time scheduled)",
    server: /^ttft|^step time/,
  },
  {
    key: 'tpot_ms',
    label: 'TPOT p50',
    unit: 'ms',
    kind: 'ms',
    def: 'median over requests of (e2e − ttft) / (output tokens − 1)',
    server: /^tpot|^step time/,
  },
  {
    key: 'tpot_ms_p90',
    label: 'TPOT p90',
    unit: 'ms',
    kind: 'ms',
    def: '90th percentile over requests of (e2e − ttft) / (output tokens − 1)',
    server: /^tpot|^step time/,
  },
  {
    key: 'tpot_ms_p99',
    label: 'TPOT p99',
    unit: 'ms',
    kind: 'ms',
    def: '99th percentile over requests of (e2e − ttft) / (output tokens − 1)',
    server: /^tpot|^step time/,
  },
  {
    key: 'itl_ms',
    label: 'ITL p50',
    unit: 'ms',
    kind: 'ms',
    def: 'median of every gap between consecutive tokens of every request, pooled',
    server: /^itl|^tpot|^step time/,
  },
  {
    key: 'e2e_ms',
    label: 'E2E p50',
    unit: 'ms',
    kind: 'ms',
    def: 'median over requests of (last token time − arrival)',
    server: /^e2e|^ttft|^tpot/,
  },
  {
    key: 'output_tokens_per_s',
    label: 'Output tok/s',
    unit: 'tokens/s',
    kind: 'rate',
    def: 'Σ output tokens / benchmark duration (first arrival to last completion)',
    server: /^output_tokens_per_s$/,
  },
  {
    key: 'output_tokens_per_s_per_gpu',
    label: 'tok/s per GPU',
    unit: 'tokens/s',
    kind: 'rate',
    def: 'output tokens/s / GPUs',
    server: /^output_tokens_per_s/,
  },
  {
    key: 'output_tokens_per_s_per_user',
    label: 'tok/s per user',
    unit: 'tokens/s',
    kind: 'rate',
    def: '1 / median TPOT: the speed one user sees while the answer streams',
    server: /^tpot|^output_tokens_per_s_per_user/,
  },
  {
    key: 'goodput_requests_per_s',
    label: 'Goodput req/s',
    unit: 'requests/s',
    kind: 'req',
    def: 'requests meeting every SLO limit given (TTFT, TPOT) / benchmark duration',
    server: /^goodput|^ttft|^tpot/,
  },
];

/** How a figure is written on the page (the browser test writes the API's number the same way). */
export function formatFigure(v: number | null | undefined, kind: Kind): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  if (kind === 'rate') return rate(v);
  if (kind === 'req') return v.toFixed(2);
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2);
}

export interface ServingView {
  points: ServingPoint[];
  /** Concurrencies asked for, and the one being simulated (null when none is pending). */
  concurrencies: number[];
  next: number | null;
  error: string | null;
  label: { model: string; hardware: string; engine: string };
  slo: { ttftMs: number; tpotMs: number };
}

const sourceOf = (p: ServingPoint) => `POST ${SERVING_URL} ${JSON.stringify(p.request)}`;

/** The page's entry for one figure of one answer, then the server's trace entries behind it. */
function cellTrace(p: ServingPoint, f: (typeof FIGURES)[number]): TraceEntry[] {
  const r = p.result;
  const own: TraceEntry = {
    figure: f.key,
    value: r[f.key] ?? 'none',
    unit: f.unit,
    formula: f.def,
    inputs: {
      concurrency: p.concurrency,
      gpus: r.gpus,
      ...(r.completed != null ? { completed_requests: r.completed } : {}),
      ...(r.duration_s != null ? { duration_s: r.duration_s } : {}),
    },
  };
  return [own, ...(r.trace ?? []).filter((t) => f.server.test(t.figure))];
}

/** A chart's trace: each plotted series by concurrency, then the server's trace of the last point. */
function chartTrace(points: ServingPoint[], keys: Key[]): TraceEntry[] {
  const out: TraceEntry[] = keys.map((k) => {
    const f = FIGURES.find((x) => x.key === k)!;
    return {
      figure: k,
      value: `${points.length} points`,
      unit: f.unit,
      formula: f.def,
      inputs: Object.fromEntries(points.map((p) => [`concurrency ${p.concurrency}`, p.result[k]])),
    };
  });
  const last = points[points.length - 1];
  const pick = new RegExp(keys.map((k) => FIGURES.find((x) => x.key === k)!.server.source).join('|'));
  return [...out, ...(last?.result.trace ?? []).filter((t) => pick.test(t.figure))];
}

/** A chart's card: the title with its "how?", then the body. */
function card(title: string, id: string, howButton: HTMLElement, ...body: HTMLElement[]): HTMLElement {
  const wide = id === 'card-serving-pareto' ? ' wide' : '';
  return el('article', { class: `card${wide}`, id }, el('h2', {}, `${title} `, howButton), ...body);
}

function progress(v: ServingView): HTMLElement {
  const total = v.concurrencies.length;
  const done = v.points.length;
  const first = v.points[0]?.result;
  const text =
    v.next !== null
      ? `Simulating ${v.next} concurrent users… ${done} of ${total} done`
      : v.error
        ? `Stopped after ${done} of ${total}: ${v.error}`
        : `${done} of ${total} concurrencies simulated`;
  return el(
    'div',
    { class: 'summary', id: 'serving-summary' },
    el('div', {}, el('strong', { text: v.label.model }), ` · ${v.label.hardware} · ${v.label.engine}`),
    first
      ? el(
          'div',
          { class: 'muted' },
          'GPUs per replica: ',
          el('span', { 'data-testid': 'serving-gpus', 'data-value': first.gpus, text: String(first.gpus) }),
          ' · a closed loop of N users per point, each sending its next request when the last one ends',
        )
      : null,
    el(
      'div',
      { class: v.error ? 'error' : 'muted' },
      el('progress', { max: total, value: done, 'aria-label': 'simulations done' }),
      ' ',
      el('span', {
        'data-testid': 'serving-progress',
        'data-pending': v.next === null ? '0' : '1',
        text,
      }),
    ),
    ...v.points
      .filter((p) => (p.result.preemptions ?? 0) > 0)
      .map((p) =>
        el('div', {
          class: 'warning',
          text: `${p.concurrency} users: ${p.result.preemptions} preemptions (the KV cache ran out; requests were recomputed)`,
        }),
      ),
    // One model, GPU, format and engine for the whole sweep: the first answer says whether measurements back it.
    ...v.points
      .slice(0, 1)
      .filter((p) => p.result.confidence?.level === 'extrapolated')
      .map((p) =>
        el('div', {
          class: 'warning',
          'data-testid': 'serving-confidence',
          text: `Extrapolated: ${p.result.confidence!.reason}`,
        }),
      ),
  );
}

/** Figures down, concurrencies across (a dozen figures by up to sixteen concurrencies fits a laptop's width). */
function table(points: ServingPoint[]): HTMLElement {
  return el(
    'div',
    { class: 'hscroll' },
    el(
      'table',
      { class: 'list', id: 'serving-table' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el('th', { text: 'Users' }),
          ...points.map((p) =>
            el('th', { class: 'r', 'data-concurrency': p.concurrency, text: String(p.concurrency) }),
          ),
        ),
      ),
      el(
        'tbody',
        {},
        ...FIGURES.map((f) =>
          el(
            'tr',
            { 'data-figure': f.key },
            el('th', { text: `${f.label} (${f.unit})` }),
            ...points.map((p) => {
              const v = p.result[f.key];
              return el(
                'td',
                { class: 'r' },
                el('span', {
                  'data-testid': `serving-${p.concurrency}-${f.key}`,
                  'data-value': v === null || v === undefined ? 'null' : v,
                  text: formatFigure(v, f.kind),
                }),
                ' ',
                how(SCOPE, `${f.label} at ${p.concurrency} users`, cellTrace(p, f), null, sourceOf(p)),
              );
            }),
          ),
        ),
      ),
    ),
  );
}

/** What a chart plots, read back from Chart.js, for tests and tools: [x, y] per dataset. */
function recordPoints(canvas: HTMLCanvasElement, chart: Chart): void {
  canvas.dataset['points'] = JSON.stringify(
    chart.data.datasets.map((d) => ({ label: d.label, data: d.data })),
  );
}

export function renderServing(root: HTMLElement, form: HTMLElement, v: ServingView): void {
  resetHow(SCOPE);
  let cards = root.querySelector<HTMLElement>(':scope > .cards');
  if (!cards || !cards.contains(form)) {
    cards = el(
      'div',
      { class: 'cards' },
      el(
        'article',
        { class: 'card wide', id: 'card-serving-form' },
        el('h2', { text: 'Serving setup' }),
        form,
      ),
    );
    root.replaceChildren(cards);
  }
  while (cards.children.length > 1) {
    destroyCharts(cards.lastElementChild!);
    cards.lastElementChild!.remove();
  }
  const points = v.points;
  const src = points.length
    ? `${points.length} × POST ${SERVING_URL} (one per concurrency; the trace is the last one's): ${JSON.stringify(points[points.length - 1]!.request)}`
    : '';
  const canvas = (id: string, label: string) => el('canvas', { id, role: 'img', 'aria-label': label });
  const ttftCanvas = canvas('serving-ttft-chart', 'TTFT percentiles against concurrency');
  const tpotCanvas = canvas('serving-tpot-chart', 'TPOT percentiles against concurrency');
  const paretoCanvas = canvas('serving-pareto-chart', 'Output tokens/s per GPU against tokens/s per user');
  cards.append(el('article', { class: 'card wide', id: 'card-serving-status' }, progress(v)));
  if (!points.length) return;
  cards.append(
    card(
      'Throughput per GPU against speed per user',
      'card-serving-pareto',
      how(
        SCOPE,
        'tokens/s per GPU against tokens/s per user',
        chartTrace(points, ['output_tokens_per_s_per_gpu', 'output_tokens_per_s_per_user']),
        null,
        src,
      ),
      el('div', { class: 'chart' }, paretoCanvas),
      el('p', {
        class: 'muted',
        text: 'One point per concurrency (labelled with its users): up and to the right is better; more users trade speed per user for throughput per GPU.',
      }),
    ),
    card(
      'TTFT against concurrency',
      'card-serving-ttft',
      how(
        SCOPE,
        'TTFT percentiles',
        chartTrace(points, ['ttft_ms', 'ttft_ms_p90', 'ttft_ms_p99']),
        null,
        src,
      ),
      el('div', { class: 'chart' }, ttftCanvas),
    ),
    card(
      'TPOT against concurrency',
      'card-serving-tpot',
      how(
        SCOPE,
        'TPOT percentiles',
        chartTrace(points, ['tpot_ms', 'tpot_ms_p90', 'tpot_ms_p99']),
        null,
        src,
      ),
      el('div', { class: 'chart' }, tpotCanvas),
    ),
    el(
      'article',
      { class: 'card wide', id: 'card-serving-table' },
      el('h2', { text: 'Figures by concurrency' }),
      table(points),
    ),
  );
  const labels = points.map((p) => String(p.concurrency));
  const series = (keys: Key[], title: string, canvasEl: HTMLCanvasElement, slo: number) => {
    const chart = draw(canvasEl, {
      type: 'line',
      data: {
        labels,
        datasets: keys.map((k, i) => ({
          label: FIGURES.find((f) => f.key === k)!.label,
          data: points.map((p) => p.result[k] ?? null),
          borderColor: PALETTE[i],
          backgroundColor: PALETTE[i],
          borderDash: i === 0 ? [] : [5, 3],
        })),
      },
      options: {
        scales: {
          x: { title: { display: true, text: 'concurrent users' } },
          y: { min: 0, title: { display: true, text: title } },
        },
        plugins: {
          legend: { position: 'bottom' },
          refLines: { axis: 'y', lines: slo > 0 ? [{ value: slo, label: `SLO ${slo} ms` }] : [] },
        },
      },
    });
    recordPoints(canvasEl, chart as unknown as Chart);
  };
  series(['ttft_ms', 'ttft_ms_p90', 'ttft_ms_p99'], 'TTFT (ms)', ttftCanvas, v.slo.ttftMs);
  series(['tpot_ms', 'tpot_ms_p90', 'tpot_ms_p99'], 'TPOT (ms)', tpotCanvas, v.slo.tpotMs);
  const xy = (f: (p: ServingPoint) => ServingFigures | null | undefined) =>
    points.map((p) => {
      const r = f(p);
      return { x: r?.output_tokens_per_s_per_user ?? NaN, y: r?.output_tokens_per_s_per_gpu ?? NaN };
    });
  const hasIdeal = points.some((p) => p.result.ideal);
  const pareto = draw(paretoCanvas, {
    type: 'line',
    data: {
      datasets: [
        {
          label: 'estimate',
          data: xy((p) => p.result),
          borderColor: PALETTE[0],
          backgroundColor: PALETTE[0],
        },
        ...(hasIdeal
          ? [
              {
                label: 'ideal (datasheet speed, same schedule)',
                data: xy((p: ServingPoint) => p.result.ideal),
                borderColor: PALETTE[7],
                backgroundColor: PALETTE[7],
                borderDash: [5, 3],
              },
            ]
          : []),
      ],
    },
    options: {
      scales: {
        x: { type: 'linear', min: 0, title: { display: true, text: 'output tokens/s per user' } },
        y: { min: 0, title: { display: true, text: 'output tokens/s per GPU' } },
      },
      plugins: {
        legend: { position: 'bottom' },
        pointLabels: { dataset: 0, labels },
        // A TPOT limit is a floor on the speed each user sees: 1000 / TPOT tokens/s.
        refLines: {
          axis: 'x',
          lines:
            v.slo.tpotMs > 0
              ? [{ value: 1000 / v.slo.tpotMs, label: `TPOT SLO ${v.slo.tpotMs} ms`, bottom: true }]
              : [],
        },
      },
    },
  });
  recordPoints(paretoCanvas, pareto as unknown as Chart);
}
