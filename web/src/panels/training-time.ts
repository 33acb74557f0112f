/**
 * The Training view's time card: on the chosen device, whether the run fits (badge), the step time and its parts
 * as a chart (compute, pipeline bubble, exposed communication, optimizer), tokens/s per GPU, MFU, and for a token
 * budget the days and dollars to train (POST /api/training/estimate).
 */
import { postJson } from '../api';
import { catalogs } from '../catalog';
import { draw, PALETTE } from '../charts';
import { el, pct, rate, time } from '../fmt';

export interface TrainingEstimate {
  fits: boolean;
  gpus: number;
  step_time_s: number;
  tokens_per_s_per_gpu: number;
  mfu: number;
  mfu_with_attention: number;
  time_to_train_s: number | null;
  usd: number | null;
  step_breakdown_s: Record<'compute' | 'bubble' | 'exposed_communication' | 'optimizer' | 'dequant', number>;
  price: { usd_per_gpu_hour: number; provider: string } | null;
}

/** Tokens to train on, kept across redraws (the form is main.ts's; this field is the card's own). */
let budget = 1e9;

const PARTS: [keyof TrainingEstimate['step_breakdown_s'], string][] = [
  ['compute', 'Compute'],
  ['bubble', 'Pipeline bubble'],
  ['exposed_communication', 'Exposed communication'],
  ['optimizer', 'Optimizer step'],
  ['dequant', 'QLoRA dequantisation'],
];

const days = (s: number) => (s >= 86400 ? `${(s / 86400).toFixed(1)} days` : `${(s / 3600).toFixed(1)} h`);

/** The estimate request from the memory form's request and the device the header shows. */
export function estimateRequest(request: Record<string, unknown>, deviceName: string) {
  const dev = catalogs.devices.find((d) => d.name === deviceName);
  if (!dev || typeof request.model_id !== 'string') return null;
  const lora = Number(request.lora_rank ?? 0);
  return {
    model: request.model_id,
    gpu: dev.id,
    precision: request.precision,
    optimizer: request.optimizer,
    micro_batch: request.batch_size,
    seq: request.seq_len,
    dp: request.data_parallel,
    zero: String(request.zero_stage ?? 0),
    recompute: request.recompute,
    ...(lora > 0 ? { lora_rank: lora, qlora: Boolean(request.qlora) } : {}),
    tokens: budget,
  };
}

/** A card that fills itself once the estimate arrives; `redo` redraws it when the token budget changes. */
export function trainingTimeCard(request: Record<string, unknown>, deviceName: string): HTMLElement {
  const card = el(
    'article',
    { class: 'card', id: 'card-training-time' },
    el('h2', { text: 'Time and cost' }),
  );
  const req = estimateRequest(request, deviceName);
  if (!req) {
    card.append(el('p', { text: 'Pick a catalog model and a device to time the training step.' }));
    return card;
  }
  const input = el('input', { id: 'train-tokens', type: 'number', min: 1, value: budget / 1e9, step: 'any' });
  input.addEventListener('change', () => {
    const v = Number(input.value);
    if (v > 0) {
      budget = v * 1e9;
      card.replaceWith(trainingTimeCard(request, deviceName));
    }
  });
  card.append(el('label', { class: 'field' }, el('span', { text: 'Tokens to train on (billions)' }), input));
  const out = el('div', { 'data-testid': 'tt-card' }, el('p', { text: 'estimating…' }));
  card.append(out);
  postJson<TrainingEstimate>('/api/training/estimate', req)
    .then((r) => fill(out, r))
    .catch((e: Error) => out.replaceChildren(el('p', { class: 'error', text: e.message })));
  return card;
}

function fill(out: HTMLElement, r: TrainingEstimate): void {
  const badge = r.fits
    ? el('span', { class: 'badge ok', 'data-testid': 'tt-fits', text: 'fits' })
    : el('span', { class: 'badge bad', 'data-testid': 'tt-fits', text: 'does not fit' });
  const row = (label: string, text: string, id: string, value: number | null) =>
    el(
      'tr',
      {},
      el('th', { text: label }),
      el('td', {}, el('span', { 'data-testid': id, 'data-value': value ?? '', text })),
    );
  const canvas = el('canvas', { id: 'training-step-chart', role: 'img', 'aria-label': 'Step time by part' });
  const parts = PARTS.filter(([k]) => r.step_breakdown_s[k] > 0);
  out.replaceChildren(
    el('p', {}, badge, ` on ${r.gpus} GPU${r.gpus > 1 ? 's' : ''}`),
    el('div', { class: 'chart short' }, canvas),
    el(
      'table',
      { class: 'figures' },
      el(
        'tbody',
        {},
        row('Step time', time(r.step_time_s), 'tt-step', r.step_time_s),
        row('Tokens/s per GPU', rate(r.tokens_per_s_per_gpu), 'tt-tps', r.tokens_per_s_per_gpu),
        row('MFU (6N)', pct(r.mfu), 'tt-mfu', r.mfu),
        row('MFU with attention', pct(r.mfu_with_attention), 'tt-mfu-attn', r.mfu_with_attention),
        row(
          'Time to train',
          r.time_to_train_s === null ? '—' : days(r.time_to_train_s),
          'tt-days',
          r.time_to_train_s,
        ),
        row(
          'Cost',
          r.usd === null
            ? 'no price for this device'
            : `$${Math.round(r.usd).toLocaleString('en-US')} at $${r.price?.usd_per_gpu_hour}/GPU-hour`,
          'tt-usd',
          r.usd,
        ),
      ),
    ),
  );
  draw(canvas, {
    type: 'bar',
    data: {
      labels: ['step'],
      datasets: parts.map(([k, label], i) => ({
        label,
        data: [r.step_breakdown_s[k]],
        backgroundColor: PALETTE[i % PALETTE.length],
        stack: 's',
      })),
    },
    options: {
      indexAxis: 'y',
      scales: {
        x: { stacked: true, min: 0, title: { display: true, text: 'seconds' } },
        y: { stacked: true },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
}
