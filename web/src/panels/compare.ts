/** Compare: several models or configurations (model @ precision) on one chart: memory vs length, speed vs batch. */
import type { AnalyzeResult, PlanResult } from '../api';
import { destroyCharts, draw, PALETTE } from '../charts';
import { how, resetHow } from '../explain';
import { el, gb, rate, time, tokens } from '../fmt';

const SCOPE = 'cmp';

export interface CompareEntry {
  key: string;
  label: string;
  plan: PlanResult | null;
  analyze: AnalyzeResult | null;
  error: string | null;
}

export function renderCompare(
  root: HTMLElement,
  entries: CompareEntry[],
  controls: HTMLElement,
  capacityBytes: number | null,
): void {
  resetHow(SCOPE);
  const gbv = (b: number) => Math.round((b / 1e9) * 100) / 100;
  const memCanvas = el('canvas', {
    id: 'compare-mem-chart',
    role: 'img',
    'aria-label': 'Memory against sequence length, per model',
  });
  const tpsCanvas = el('canvas', {
    id: 'compare-tps-chart',
    role: 'img',
    'aria-label': 'Throughput against batch size, per model',
  });
  const rows = entries.map((e) => {
    const p = e.plan;
    const src = `POST /api/web/plan?explain=true (${e.label})`;
    if (!p)
      return el(
        'tr',
        {},
        el('td', { text: e.label }),
        el('td', { colspan: 6, class: 'error', text: e.error ?? 'no result' }),
      );
    const m = p.memory_per_device;
    return el(
      'tr',
      { 'data-key': e.key },
      el('td', { text: e.label }),
      el(
        'td',
        { class: 'r' },
        gb(m.weights_bytes),
        ' ',
        how(SCOPE, `weights of ${e.label}`, p.trace?.memory, /^weights_bytes/, src),
      ),
      el(
        'td',
        { class: 'r' },
        gb(m.total_bytes),
        ' ',
        how(SCOPE, `total of ${e.label}`, p.trace?.memory, null, src),
      ),
      el(
        'td',
        { class: 'r' },
        p.capacity.max_kv_tokens === undefined ? '—' : rate(p.capacity.max_kv_tokens),
        ' ',
        how(SCOPE, `max KV tokens of ${e.label}`, p.trace?.capacity, null, src),
      ),
      el(
        'td',
        { class: 'r' },
        time(p.performance.estimate.ttft_s),
        ' ',
        how(SCOPE, `TTFT of ${e.label}`, p.trace?.performance, /^prefill|^ttft/, src),
      ),
      el(
        'td',
        { class: 'r' },
        time(p.performance.estimate.tpot_s),
        ' ',
        how(SCOPE, `TPOT of ${e.label}`, p.trace?.performance, /^decode|^tpot/, src),
      ),
      el(
        'td',
        { class: 'r' },
        rate(p.performance.estimate.tokens_per_s),
        ' ',
        how(SCOPE, `tokens/s of ${e.label}`, p.trace?.performance, /tokens_per_s|tpot/, src),
      ),
    );
  });
  // The controls' card stays in the page (see the training panel): only the cards after it are replaced.
  let cards = root.querySelector<HTMLElement>(':scope > .cards');
  if (!cards || !cards.contains(controls)) {
    cards = el(
      'div',
      { class: 'cards' },
      el(
        'article',
        { class: 'card wide', id: 'card-compare-list' },
        el('h2', { text: 'Models and configurations' }),
        controls,
      ),
    );
    root.replaceChildren(cards);
  }
  while (cards.children.length > 1) {
    destroyCharts(cards.lastElementChild!);
    cards.lastElementChild!.remove();
  }
  cards.append(
    el(
      'article',
      { class: 'card', id: 'card-compare-mem' },
      el('h2', { text: 'Memory vs sequence length (one device)' }),
      el('div', { class: 'chart' }, memCanvas),
    ),
    el(
      'article',
      { class: 'card', id: 'card-compare-tps' },
      el('h2', { text: 'Output tokens/s vs batch (estimate)' }),
      el('div', { class: 'chart' }, tpsCanvas),
    ),
    el(
      'article',
      { class: 'card wide', id: 'card-compare-table' },
      el('h2', { text: 'Side by side (per device, chosen plan and hardware)' }),
      el(
        'div',
        { class: 'scroll' },
        el(
          'table',
          { class: 'list', id: 'compare-table' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ...['configuration', 'weights', 'total', 'max KV tokens', 'TTFT', 'TPOT', 'tokens/s'].map((x) =>
                el('th', { text: x }),
              ),
            ),
          ),
          el('tbody', {}, ...rows),
        ),
      ),
    ),
  );
  const lens = [...new Set(entries.flatMap((e) => Object.keys(e.analyze?.analysis ?? {}).map(Number)))].sort(
    (a, b) => a - b,
  );
  draw(memCanvas, {
    type: 'line',
    data: {
      labels: lens.map(tokens),
      datasets: entries
        .filter((e) => e.analyze)
        .map((e, i) => ({
          label: e.label,
          data: lens.map((l) => {
            const a = e.analyze!.analysis[String(l)];
            return a ? gbv(a.total_memory_bytes) : null;
          }),
          borderColor: PALETTE[i % PALETTE.length],
          backgroundColor: PALETTE[i % PALETTE.length],
        })),
    },
    options: {
      scales: {
        y: { type: 'logarithmic', title: { display: true, text: 'GB' } },
        x: { title: { display: true, text: 'tokens per sequence' } },
      },
      plugins: {
        legend: { position: 'bottom' },
        refLines: {
          axis: 'y',
          lines: capacityBytes ? [{ value: gbv(capacityBytes), label: `device ${gb(capacityBytes)}` }] : [],
        },
      },
    },
  });
  const batches = [
    ...new Set(entries.flatMap((e) => e.plan?.batch_sweep.map((b) => b.batch_size) ?? [])),
  ].sort((a, b) => a - b);
  draw(tpsCanvas, {
    type: 'line',
    data: {
      labels: batches.map(String),
      datasets: entries
        .filter((e) => e.plan)
        .map((e, i) => ({
          label: e.label,
          data: batches.map((b) => e.plan!.batch_sweep.find((s) => s.batch_size === b)?.tokens_per_s ?? null),
          borderColor: PALETTE[i % PALETTE.length],
          backgroundColor: PALETTE[i % PALETTE.length],
        })),
    },
    options: {
      scales: {
        y: { type: 'logarithmic', title: { display: true, text: 'tokens/s' } },
        x: { title: { display: true, text: 'batch size' } },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
}
