/** Inference: memory per device against capacity, where it fits, engine capacity, speed, and the two sweeps. */
import type { AnalyzeResult, PlanResult, TraceEntry } from '../api';
import { COMPONENT_COLORS, destroyCharts, draw, PALETTE } from '../charts';
import { how, resetHow } from '../explain';
import { count, el, gb, params, pct, rate, time, tokens } from '../fmt';

const SCOPE = 'inf';
type MemKey =
  'weights_bytes' | 'kv_cache_bytes' | 'activation_bytes' | 'state_bytes' | 'image_bytes' | 'overhead_bytes';
const COMPONENTS: [MemKey, string, string, RegExp][] = [
  ['weights_bytes', 'weights', 'Weights', /^weights_bytes/],
  ['kv_cache_bytes', 'kv_cache', 'KV cache', /^kv/],
  ['activation_bytes', 'activations', 'Activations', /^activation/],
  ['state_bytes', 'state', 'SSM state', /^state/],
  ['image_bytes', 'image', 'Image', /^image/],
  ['overhead_bytes', 'overhead', 'Runtime overhead', /^overhead/],
];
const MAX_BARS = 16;

function card(title: string, id: string, ...body: (Node | null)[]): HTMLElement {
  return el('article', { class: 'card', id }, el('h2', { text: title }), ...body);
}

/** A number with its data-* hooks (tests compare them with the API) and its "how?". */
/** The engine's capacity: which engine, its KV tokens and concurrency as it prints them, what it is unsure of. */
function capacityRows(
  r: PlanResult,
  trace: TraceEntry[] | undefined,
  h: (title: string, trace: TraceEntry[] | undefined, pick: RegExp | null) => HTMLElement,
): HTMLElement[] {
  const c = r.capacity;
  const engine = `${c.engine}${c.engine_version ? ` ${c.engine_version}` : ''}`;
  const len = tokens(c.max_model_len);
  if (c.max_kv_tokens === undefined || c.max_concurrency === undefined)
    return [
      el(
        'tr',
        {},
        el('th', { text: `Engine capacity (${engine})` }),
        el('td', { 'data-testid': 'capacity-error', text: c.error ?? 'not available' }),
      ),
    ];
  const rows = [
    el(
      'tr',
      {},
      el('th', { text: `Max KV tokens (${engine}, ${len} max len)` }),
      el(
        'td',
        {},
        figure(
          'max-kv-tokens',
          count(c.max_kv_tokens),
          c.max_kv_tokens,
          h('max KV tokens', trace, /usable|kv_cache|blocks/),
        ),
      ),
    ),
    el(
      'tr',
      {},
      el('th', { text: `Max concurrency for ${len} tokens per request` }),
      el(
        'td',
        {},
        figure(
          'max-concurrency',
          `${c.max_concurrency.toFixed(2)}x`,
          c.max_concurrency,
          h('max concurrency', trace, /concurrency|available/),
        ),
        c.error ? el('small', { class: 'muted', text: ` ${c.error}` }) : null,
      ),
    ),
  ];
  const terms = c.uncertain_terms ?? [];
  if (terms.length)
    rows.push(
      el(
        'tr',
        {},
        el('th', { text: 'Uncertain terms' }),
        el(
          'td',
          { 'data-testid': 'uncertain-terms' },
          ...terms.flatMap((u, i) => [i ? ', ' : '', el('span', { title: u.note, text: u.term })]),
        ),
      ),
    );
  return rows;
}

function figure(testid: string, text: string, raw: number, howButton: HTMLElement): HTMLElement {
  return el(
    'span',
    { class: 'num' },
    el('span', { 'data-testid': testid, 'data-value': raw, text }),
    ' ',
    howButton,
  );
}

export function renderInference(
  root: HTMLElement,
  r: PlanResult,
  analyze: AnalyzeResult | null,
  analyzeError: string | null,
  request: unknown,
): void {
  resetHow(SCOPE);
  const t = r.trace;
  const src = `POST /api/web/plan?explain=true ${JSON.stringify(request)}`;
  const mem = r.memory_per_device;
  const memTrace = t?.memory ?? [];
  const h = (title: string, trace: TraceEntry[] | undefined, pick: RegExp | null, source = src) =>
    how(SCOPE, title, trace, pick, source);

  // Summary
  const badge = mem.fits
    ? el('span', { class: 'badge ok', 'data-testid': 'fits', text: 'fits' })
    : el('span', { class: 'badge bad', 'data-testid': 'fits', text: 'does not fit' });
  const pl = r.plan;
  const planText =
    `TP ${pl.tp} · PP ${pl.pp} · EP ${pl.ep} · CP ${pl.cp} · DP ${pl.dp}${pl.sp ? ' · SP' : ''}` +
    ` = ${r.devices} device${r.devices > 1 ? 's' : ''}`;
  const summary = el(
    'div',
    { class: 'summary' },
    el('div', {}, el('strong', { 'data-testid': 'model-name', text: r.model.name })),
    el(
      'div',
      { class: 'muted' },
      `${params(r.model.total_parameters)} parameters`,
      r.model.active_parameters !== r.model.total_parameters
        ? ` (${params(r.model.active_parameters)} active)`
        : '',
      ` · ${r.precision} weights · ${r.kv_precision} KV`,
    ),
    el(
      'div',
      {},
      `${r.hardware.system?.name ?? r.hardware.name} · `,
      el('span', { 'data-testid': 'plan', text: planText }),
      ' ',
      badge,
    ),
    ...r.warnings.map((w) => el('div', { class: 'warning', text: w })),
  );

  // Memory per device: one stacked bar per device against its capacity.
  const n = Math.min(r.devices, MAX_BARS);
  // Devices replica by replica; inside a replica, pipeline stage by stage (each stage tp·ep·cp devices).
  const labels = Array.from({ length: n }, (_, i) => {
    const where = [
      pl.dp > 1 ? `replica ${Math.floor(i / r.replica_devices)}` : '',
      pl.pp > 1 ? `stage ${Math.floor((i % r.replica_devices) / (r.replica_devices / pl.pp))}` : '',
    ].filter(Boolean);
    return where.length ? `GPU ${i} (${where.join(', ')})` : `GPU ${i}`;
  });
  const canvas = el('canvas', {
    id: 'mem-chart',
    'aria-label': 'Memory per device against capacity',
    'data-bars': n,
    role: 'img',
  });
  const rows = COMPONENTS.filter(([k]) => mem[k] > 0 || k === 'kv_cache_bytes').map(([k, , label, pick]) =>
    el(
      'tr',
      {},
      el('th', { text: label }),
      el('td', {}, figure(`mem-${k}`, gb(mem[k]), mem[k], h(`${label} per device`, memTrace, pick))),
    ),
  );
  const memTable = el(
    'table',
    { class: 'figures' },
    el(
      'tbody',
      {},
      ...rows,
      el(
        'tr',
        { class: 'total' },
        el('th', { text: 'Total per device' }),
        el(
          'td',
          {},
          figure(
            'mem-total_bytes',
            gb(mem.total_bytes),
            mem.total_bytes,
            h('total memory per device', memTrace, null),
          ),
        ),
      ),
      el(
        'tr',
        {},
        el('th', { text: `Capacity (usable at ${pct(mem.usable_bytes / mem.capacity_bytes)})` }),
        el(
          'td',
          {},
          el('span', {
            'data-testid': 'capacity',
            'data-value': mem.capacity_bytes,
            text: `${gb(mem.capacity_bytes)} (${gb(mem.usable_bytes)})`,
          }),
          ' ',
          h('usable memory per device', t?.capacity, /^usable/),
        ),
      ),
      ...capacityRows(r, t?.capacity, h),
    ),
  );
  const memCard = card(
    'Memory per device',
    'card-memory',
    el('div', { class: 'chart', style: `height:${Math.max(220, 40 + 28 * n)}px` }, canvas),
    r.devices > MAX_BARS
      ? el('p', { class: 'muted', text: `Showing ${MAX_BARS} of ${r.devices} devices (all alike).` })
      : null,
    pl.cp > 1 || pl.sp
      ? el('p', {
          class: 'muted',
          text:
            (pl.cp > 1
              ? `CP ${pl.cp}: each device holds 1/${pl.cp} of every sequence's tokens and KV cache. `
              : '') + (pl.sp ? `SP: the residual activations are sharded over the ${pl.tp} TP devices.` : ''),
        })
      : null,
    memTable,
  );

  // Where it fits. The rule is the server's (fitOn in src/server/routes/web.ts); it has no trace of its own.
  const util = (request as { gpu_memory_utilization?: number }).gpu_memory_utilization ?? 0.9;
  const fitTrace = (f: PlanResult['fits_on'][number]): TraceEntry => ({
    figure: 'devices_needed',
    value: f.devices_needed ?? '> 64',
    unit: 'devices',
    formula:
      'the fewest n of 1, 2, 4, …, 64 with a valid plan TP = min(n, 8) (halved until valid), PP = n / TP, whose ' +
      'memory per device (the same calculation as the memory card) ≤ visible memory × GPU memory utilization',
    inputs: {
      memory_bytes: f.memory_bytes,
      gpu_memory_utilization: util,
      ...(f.plan
        ? { plan: `TP ${f.plan.tp} · PP ${f.plan.pp}`, memory_per_device_bytes: f.memory_per_device_bytes }
        : { plan: 'none up to 64 devices' }),
    },
  });
  const fitRows = r.fits_on.map((f) =>
    el(
      'tr',
      { class: f.devices_needed === 1 ? 'fit-one' : f.devices_needed ? '' : 'fit-none', 'data-gpu': f.id },
      el('td', { text: f.name }),
      el('td', { class: 'r', text: gb(f.memory_bytes) }),
      el(
        'td',
        { class: 'r' },
        el('span', {
          'data-testid': `need-${f.id}`,
          text: f.devices_needed ? String(f.devices_needed) : '> 64',
        }),
        ' ',
        h(`${f.name}s needed`, [fitTrace(f)], null, `${src} → fits_on`),
      ),
      el('td', { text: f.plan ? `TP${f.plan.tp}${f.plan.pp > 1 ? ` PP${f.plan.pp}` : ''}` : '—' }),
      el('td', { class: 'r', text: f.memory_per_device_bytes ? gb(f.memory_per_device_bytes) : '—' }),
      el('td', { class: 'r', text: f.tokens_per_s ? rate(f.tokens_per_s) : '—' }),
    ),
  );
  const fitCard = card(
    'Which GPUs it fits on',
    'card-fit',
    el('p', {
      class: 'muted',
      text: `At the chosen batch, ${tokens(r.capacity.max_model_len)} tokens per sequence, ${r.precision} weights: the fewest devices (TP ≤ 8, then PP) that hold it.`,
    }),
    el(
      'div',
      { class: 'scroll' },
      el(
        'table',
        { class: 'list', id: 'fit-table' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ...['GPU', 'memory', 'GPUs needed', 'plan', 'per GPU', 'tokens/s'].map((x, i) =>
              el('th', { text: x, class: i === 0 || i === 3 ? undefined : 'r' }),
            ),
          ),
        ),
        el('tbody', {}, ...fitRows),
      ),
    ),
  );

  // Speed: estimate and ideal side by side, the bound of each phase.
  const e = r.performance.estimate;
  const i = r.performance.ideal;
  const perf = t?.performance;
  const speedRow = (
    label: string,
    key: string,
    format: (x: number) => string,
    est: number,
    ideal: number,
    pick: RegExp,
    idealPick: RegExp,
    bound?: [string, string],
  ) =>
    el(
      'tr',
      {},
      el('th', { text: label }),
      el(
        'td',
        { class: 'r' },
        figure(`speed-${key}`, format(est), est, h(`${label} (estimate)`, perf, pick)),
      ),
      el(
        'td',
        { class: 'r' },
        figure(`ideal-${key}`, format(ideal), ideal, h(`${label} (ideal)`, perf, idealPick)),
      ),
      el('td', {
        'data-testid': `bound-${key}`,
        text: bound ? (bound[0] === bound[1] ? bound[0] : `${bound[0]} (ideal: ${bound[1]})`) : '',
      }),
    );
  const speedCard = card(
    'Setup and speed',
    'card-speed',
    el(
      'div',
      { class: 'hscroll' },
      el(
        'table',
        { class: 'figures speed' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            el('th'),
            el('th', { class: 'r', text: 'estimate' }),
            el('th', { class: 'r', text: 'ideal' }),
            el('th', { text: 'bound' }),
          ),
        ),
        el(
          'tbody',
          {},
          speedRow(
            'TTFT (prefill)',
            'ttft',
            time,
            e.ttft_s,
            i.ttft_s,
            /^prefill|^ttft_s \(estimate/,
            /^prefill|^ttft_s \(ideal/,
            [e.bound.prefill, i.bound.prefill],
          ),
          speedRow(
            'TPOT (per token)',
            'tpot',
            time,
            e.tpot_s,
            i.tpot_s,
            /^decode|^tpot_s \(estimate/,
            /^decode|^tpot_s \(ideal/,
            [e.bound.decode, i.bound.decode],
          ),
          speedRow(
            pl.dp > 1 ? 'Output tokens/s (one replica)' : 'Output tokens/s',
            'tps',
            rate,
            e.tokens_per_s,
            i.tokens_per_s,
            /^tpot_s \(estimate|tokens_per_s/,
            /^tpot_s \(ideal/,
          ),
          pl.dp > 1
            ? speedRow(
                `Output tokens/s (all ${pl.dp} replicas)`,
                'agg-tps',
                rate,
                r.performance.aggregate_tokens_per_s.estimate,
                r.performance.aggregate_tokens_per_s.ideal,
                /^aggregate_tokens_per_s \(estimate/,
                /^aggregate_tokens_per_s \(ideal/,
              )
            : null,
          speedRow(
            'Request latency',
            'e2e',
            time,
            e.e2e_s,
            i.e2e_s,
            /^t[tp][fo]t_s \(estimate/,
            /^t[tp][fo]t_s \(ideal/,
          ),
        ),
      ),
    ),
    el(
      'p',
      { class: 'muted' },
      `MFU prefill ${pct(e.mfu.prefill)}, memory bandwidth decode ${pct(e.bandwidth_utilization.decode)}` +
        (e.communication_s.decode > 0
          ? `, communication per decode step ${time(e.communication_s.decode)}`
          : '') +
        '. Ideal: datasheet peak at full efficiency; estimate: calibrated efficiencies.' +
        (pl.dp > 1
          ? ` Latency and tokens/s are one replica's (${r.replica_devices} devices); the ${pl.dp} DP replicas serve ` +
            `independent requests, so the aggregate is ${pl.dp} × one replica.`
          : ''),
    ),
  );

  // Throughput and latency against batch.
  const batchCanvas = el('canvas', {
    id: 'batch-chart',
    role: 'img',
    'aria-label': 'Throughput and latency against batch size',
  });
  const seqCanvas = el('canvas', {
    id: 'seq-chart',
    role: 'img',
    'aria-label': 'Memory against sequence length',
  });
  const chartsCard = card(
    'Throughput and latency vs batch',
    'card-batch',
    el('div', { class: 'chart' }, batchCanvas),
  );
  const seqCard = card(
    // Per device of the plan: under TP 2 each device holds half the sharded weights and KV heads.
    `Memory vs sequence length (one device${planLabel(pl)})`,
    'card-seq',
    analyzeError ? el('p', { class: 'muted', text: analyzeError }) : el('div', { class: 'chart' }, seqCanvas),
  );

  speedCard.insertBefore(summary, speedCard.children[1] ?? null);
  fitCard.classList.add('wide');
  destroyCharts(root);
  root.replaceChildren(el('div', { class: 'cards' }, memCard, speedCard, chartsCard, seqCard, fitCard));

  const gbv = (b: number) => Math.round((b / 1e9) * 100) / 100;
  const present = COMPONENTS.filter(([k]) => mem[k] > 0);
  draw(canvas, {
    type: 'bar',
    data: {
      labels,
      datasets: present.map(([k, color, label]) => ({
        label,
        data: labels.map(() => gbv(mem[k])),
        backgroundColor: COMPONENT_COLORS[color],
        stack: 'mem',
      })),
    },
    options: {
      indexAxis: 'y',
      scales: {
        x: {
          stacked: true,
          title: { display: true, text: 'GB (10^9 bytes)' },
          min: 0,
          suggestedMax: gbv(mem.capacity_bytes) * 1.05,
        },
        y: { stacked: true },
      },
      plugins: {
        legend: { position: 'bottom' },
        refLines: {
          axis: 'x',
          lines: [
            { value: gbv(mem.capacity_bytes), label: `capacity ${gb(mem.capacity_bytes)}` },
            { value: gbv(mem.usable_bytes), label: 'usable', color: '#f97316', bottom: true },
          ],
        },
      },
    },
  });

  const sweep = r.batch_sweep;
  draw(batchCanvas, {
    type: 'line',
    data: {
      labels: sweep.map((s) => String(s.batch_size)),
      datasets: [
        {
          label: pl.dp > 1 ? 'tokens/s per replica (estimate)' : 'tokens/s (estimate)',
          data: sweep.map((s) => s.tokens_per_s),
          borderColor: PALETTE[0],
          backgroundColor: PALETTE[0],
          yAxisID: 'y',
          pointStyle: sweep.map((s) => (s.fits ? 'circle' : 'crossRot')),
          pointRadius: sweep.map((s) => (s.fits ? 3 : 7)),
        },
        {
          label: pl.dp > 1 ? 'tokens/s per replica (ideal)' : 'tokens/s (ideal)',
          data: sweep.map((s) => s.ideal_tokens_per_s),
          borderColor: PALETTE[0],
          borderDash: [5, 4],
          backgroundColor: PALETTE[0],
          yAxisID: 'y',
          pointRadius: 0,
        },
        {
          label: 'TPOT ms',
          data: sweep.map((s) => s.tpot_s * 1e3),
          borderColor: PALETTE[1],
          backgroundColor: PALETTE[1],
          yAxisID: 'y1',
        },
        {
          label: 'TTFT ms',
          data: sweep.map((s) => s.ttft_s * 1e3),
          borderColor: PALETTE[3],
          backgroundColor: PALETTE[3],
          yAxisID: 'y1',
        },
      ],
    },
    options: {
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { title: { display: true, text: 'batch size (× = does not fit)' } },
        y: { type: 'logarithmic', position: 'left', title: { display: true, text: 'output tokens/s' } },
        y1: {
          type: 'logarithmic',
          position: 'right',
          title: { display: true, text: 'latency ms' },
          grid: { drawOnChartArea: false },
        },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });

  if (analyze && !analyzeError) {
    const lens = Object.keys(analyze.analysis)
      .map(Number)
      .sort((a, b) => a - b);
    // What the curve plots, in bytes per device, for tests and assistive tools.
    seqCanvas.dataset['lengths'] = JSON.stringify(lens);
    seqCanvas.dataset['totalBytes'] = JSON.stringify(
      lens.map((l) => analyze.analysis[String(l)]!.total_memory_bytes),
    );
    draw(seqCanvas, {
      type: 'line',
      data: {
        labels: lens.map(tokens),
        datasets: [
          {
            label: 'total',
            data: lens.map((l) => gbv(analyze.analysis[String(l)]!.total_memory_bytes)),
            borderColor: PALETTE[0],
            backgroundColor: PALETTE[0],
          },
          {
            label: 'KV cache',
            data: lens.map((l) => gbv(analyze.analysis[String(l)]!.kv_cache_bytes)),
            borderColor: COMPONENT_COLORS['kv_cache'],
            backgroundColor: COMPONENT_COLORS['kv_cache'],
          },
        ],
      },
      options: {
        scales: {
          x: { title: { display: true, text: 'tokens per sequence (the chosen batch)' } },
          y: { type: 'logarithmic', title: { display: true, text: 'GB' } },
        },
        plugins: {
          legend: { position: 'bottom' },
          refLines: {
            axis: 'y',
            lines: [{ value: gbv(mem.capacity_bytes), label: `one ${r.hardware.name}` }],
          },
        },
      },
    });
  }
}

/** ", TP 2 · PP 2" for a plan that splits the model; '' for one device. */
function planLabel(p: { tp: number; pp: number; ep: number; cp?: number }): string {
  const parts = [
    p.tp > 1 ? `TP ${p.tp}` : '',
    p.pp > 1 ? `PP ${p.pp}` : '',
    p.ep > 1 ? `EP ${p.ep}` : '',
    (p.cp ?? 1) > 1 ? `CP ${p.cp}` : '',
  ].filter(Boolean);
  return parts.length ? ` of ${parts.join(' · ')}` : '';
}
