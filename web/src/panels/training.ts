/** Training memory per device by component, with the phase peaks, for the chosen optimizer, ZeRO, recompute, LoRA. */
import type { TrainingResult } from '../api';
import { destroyCharts, draw, PALETTE } from '../charts';
import { how, resetHow } from '../explain';
import { el, gb, params } from '../fmt';
import { trainingTimeCard } from './training-time';

const SCOPE = 'train';
const LABELS: Record<string, string> = {
  weights: 'Weights',
  master_weights: 'Master weights (fp32)',
  gradients: 'Gradients',
  optimizer_states: 'Optimizer states',
  activations: 'Activations',
  logits: 'Logits and loss',
  lora_adapter: 'LoRA adapter',
  dequant_buffer: 'Dequant buffer',
};
const PHASES: ['forward_peak' | 'backward_peak' | 'optimizer_step_peak', string][] = [
  ['forward_peak', 'Forward'],
  ['backward_peak', 'Backward'],
  ['optimizer_step_peak', 'Optimizer step'],
];
const PICK: Record<string, RegExp> = {
  weights: /^weights|weight/,
  master_weights: /master/,
  gradients: /grad/,
  optimizer_states: /optim/,
  activations: /activ/,
  logits: /logit/,
  lora_adapter: /lora/,
  dequant_buffer: /dequant/,
};

export function renderTraining(
  root: HTMLElement,
  form: HTMLElement,
  r: TrainingResult | null,
  error: string | null,
  capacityBytes: number | null,
  capacityName: string,
  request: unknown,
): void {
  resetHow(SCOPE);
  const src = `POST /api/web/training?explain=true ${JSON.stringify(request)}`;
  const canvas = el('canvas', {
    id: 'training-chart',
    role: 'img',
    'aria-label': 'Training memory by component',
  });
  const phaseCanvas = el('canvas', {
    id: 'training-phase-chart',
    role: 'img',
    'aria-label': 'Training memory by phase',
  });
  const body: (Node | null)[] = [];
  if (error || !r) body.push(el('p', { class: 'error', text: error ?? 'no result' }));
  else {
    const comps = Object.entries(r.components_bytes).filter(([, v]) => v > 0);
    body.push(
      el(
        'article',
        { class: 'card', id: 'card-training-chart' },
        el('h2', { text: 'Training memory per device' }),
        el('div', { class: 'chart short' }, canvas),
        el(
          'table',
          { class: 'figures' },
          el(
            'tbody',
            {},
            ...comps.map(([k, v]) =>
              el(
                'tr',
                {},
                el('th', { text: LABELS[k] ?? k }),
                el(
                  'td',
                  {},
                  el('span', { 'data-testid': `train-${k}`, 'data-value': v, text: gb(v) }),
                  ' ',
                  how(SCOPE, LABELS[k] ?? k, r.trace, PICK[k] ?? null, src),
                ),
              ),
            ),
            el(
              'tr',
              { class: 'total' },
              el('th', { text: 'Peak' }),
              el(
                'td',
                {},
                el('span', {
                  'data-testid': 'train-peak',
                  'data-value': r.peak_bytes,
                  text: gb(r.peak_bytes),
                }),
                ' ',
                how(SCOPE, 'training peak', r.trace, /peak/, src),
              ),
            ),
            el(
              'tr',
              {},
              el('th', { text: 'Trainable parameters' }),
              el(
                'td',
                {},
                el('span', {
                  'data-count': 'trainable',
                  'data-value': r.trainable_parameters,
                  text: `${params(r.trainable_parameters)} of ${params(r.total_parameters)} (${r.trainable_percent.toFixed(2)}%)`,
                }),
                ' ',
                how(SCOPE, 'trainable parameters', r.trace, /parameters$/, src),
              ),
            ),
          ),
        ),
      ),
      el(
        'article',
        { class: 'card', id: 'card-training-phases' },
        el('h2', { text: 'Peak by phase' }),
        el('div', { class: 'chart short' }, phaseCanvas),
        el(
          'table',
          { class: 'figures' },
          el(
            'tbody',
            {},
            ...PHASES.map(([k, label]) =>
              el(
                'tr',
                {},
                el('th', { text: label }),
                el(
                  'td',
                  {},
                  el('span', {
                    'data-phase': k,
                    'data-value': r.phases_bytes[k],
                    text: gb(r.phases_bytes[k]),
                  }),
                  ' ',
                  how(SCOPE, `${label} peak`, r.trace, new RegExp(`^${k}$`), src),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }
  // The form's card stays where it is (moving a focused input out of the page blurs it): only the cards after it
  // are replaced.
  let cards = root.querySelector<HTMLElement>(':scope > .cards');
  if (!cards || !cards.contains(form)) {
    cards = el(
      'div',
      { class: 'cards' },
      el('article', { class: 'card', id: 'card-training-form' }, el('h2', { text: 'Training setup' }), form),
    );
    root.replaceChildren(cards);
  }
  while (cards.children.length > 1) {
    destroyCharts(cards.lastElementChild!);
    cards.lastElementChild!.remove();
  }
  for (const b of body) if (b) cards.append(b);
  if (!r) return;
  cards.append(trainingTimeCard(request as Record<string, unknown>, capacityName));
  const gbv = (b: number) => Math.round((b / 1e9) * 100) / 100;
  const comps = Object.entries(r.components_bytes).filter(([, v]) => v > 0);
  const lines = capacityBytes
    ? [{ value: gbv(capacityBytes), label: `${capacityName} ${gb(capacityBytes)}` }]
    : [];
  draw(canvas, {
    type: 'bar',
    data: {
      labels: ['per device'],
      datasets: comps.map(([k, v], i) => ({
        label: LABELS[k] ?? k,
        data: [gbv(v)],
        backgroundColor: PALETTE[i % PALETTE.length],
        stack: 's',
      })),
    },
    options: {
      indexAxis: 'y',
      scales: {
        x: {
          stacked: true,
          min: 0,
          // The device's capacity is on the chart, however small the need.
          suggestedMax: capacityBytes ? gbv(capacityBytes) * 1.05 : undefined,
          title: { display: true, text: 'GB' },
        },
        y: { stacked: true },
      },
      plugins: { legend: { position: 'bottom' }, refLines: { axis: 'x', lines } },
    },
  });
  const ph = r.phases_bytes;
  draw(phaseCanvas, {
    type: 'bar',
    data: {
      labels: PHASES.map(([, label]) => label),
      datasets: [
        {
          label: 'peak GB',
          data: PHASES.map(([k]) => gbv(ph[k])),
          backgroundColor: PALETTE.slice(0, 3),
        },
      ],
    },
    options: {
      plugins: { legend: { display: false }, refLines: { axis: 'y', lines } },
      scales: {
        y: {
          min: 0,
          suggestedMax: capacityBytes ? gbv(capacityBytes) * 1.05 : undefined,
          title: { display: true, text: 'GB' },
        },
      },
    },
  });
}
