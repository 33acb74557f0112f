/**
 * The engine panel: prompt and generation streamed token by token (server-sent events from /v1/completions or
 * /v1/chat/completions; /generate answers at once), the attention heat map of a layer and head
 * (/debug/attention_scores), latency and cache statistics. A server without a loaded engine (503) or without the
 * engine routes (404) gets a clear "engine not loaded" state.
 */
import { getJson, HttpError, postJson } from '../api';
import { el } from '../fmt';

interface ModelInfo {
  [k: string]: unknown;
}

let root: HTMLElement | null = null;

function notLoaded(box: HTMLElement, e: unknown): boolean {
  if (e instanceof HttpError && (e.status === 503 || e.status === 404)) {
    box.replaceChildren(
      el(
        'div',
        { class: 'engine-off', 'data-testid': 'engine-not-loaded' },
        el('strong', { text: 'Engine not loaded. ' }),
        e.status === 404
          ? 'This server does not serve the engine routes.'
          : `The server has no model loaded (${e.message}).`,
        ' Start the server with an engine model (see the README) to generate text here.',
      ),
    );
    return true;
  }
  return false;
}

function kv(obj: unknown, prefix = ''): [string, string][] {
  if (obj === null || typeof obj !== 'object') return [[prefix || 'value', String(obj)]];
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) out.push(...kv(v, key));
    else
      out.push([
        key,
        Array.isArray(v)
          ? JSON.stringify(v).slice(0, 80)
          : typeof v === 'number'
            ? String(+v.toPrecision(6))
            : String(v),
      ]);
  }
  return out;
}

function table(id: string, obj: unknown): HTMLElement {
  return el(
    'table',
    { class: 'figures', id },
    el('tbody', {}, ...kv(obj).map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { text: v })))),
  );
}

/** What a stream delivered: the text pieces, how many network reads carried text, the finish reason. */
interface Streamed {
  chunks: number;
  reads: number;
  finish: string | null;
}

/**
 * POSTs `body` with `stream: true` to an OpenAI-style route and reads its server-sent events as they come (fetch +
 * ReadableStream, `data:` lines up to `data: [DONE]`), calling `onText` with each piece of text at once.
 */
async function streamSse(url: string, body: object, onText: (t: string) => void): Promise<Streamed> {
  const got: Streamed = { chunks: 0, reads: 0, finish: null };
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '');
    let msg = text.slice(0, 200);
    try {
      msg = (JSON.parse(text) as { detail?: string }).detail ?? msg;
    } catch {
      // plain text
    }
    throw new HttpError(res.status, msg || `HTTP ${res.status}`);
  }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      const before = got.chunks;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') return got;
        let j: {
          choices?: { delta?: { content?: string }; text?: string; finish_reason?: string | null }[];
          error?: { message?: string };
        };
        try {
          j = JSON.parse(data) as typeof j;
        } catch {
          continue; // not an event of ours
        }
        if (j.error?.message) throw new Error(j.error.message);
        const c = j.choices?.[0];
        const t = c?.delta?.content ?? c?.text;
        if (t) {
          got.chunks++;
          onText(t);
        }
        got.finish = c?.finish_reason ?? got.finish;
      }
      if (got.chunks > before) got.reads++;
    }
  } finally {
    reader.releaseLock();
  }
  return got;
}

function heatmap(canvas: HTMLCanvasElement, m: number[][], labels: string[]): void {
  const n = m.length;
  const cell = Math.max(6, Math.min(36, Math.floor(480 / Math.max(1, n))));
  const pad = labels.length ? 70 : 4;
  canvas.width = pad + n * cell + 48;
  canvas.height = pad + n * cell + 4;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const max = Math.max(1e-9, ...m.flat());
  for (let i = 0; i < n; i++) {
    const row = m[i] ?? [];
    for (let j = 0; j < row.length; j++) {
      const v = (row[j] ?? 0) / max;
      // white → deep blue
      const r = Math.round(255 - v * (255 - 30));
      const g = Math.round(255 - v * (255 - 64));
      const b = Math.round(255 - v * (255 - 175));
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(pad + j * cell, pad + i * cell, cell - 1, cell - 1);
    }
  }
  if (labels.length) {
    ctx.fillStyle = '#334155';
    ctx.font = `${Math.min(12, cell)}px system-ui, sans-serif`;
    ctx.textAlign = 'right';
    for (let i = 0; i < n; i++)
      ctx.fillText((labels[i] ?? '').slice(0, 10), pad - 4, pad + i * cell + cell * 0.75);
    ctx.save();
    for (let j = 0; j < n; j++) {
      ctx.save();
      ctx.translate(pad + j * cell + cell * 0.7, pad - 4);
      ctx.rotate(-Math.PI / 3);
      ctx.textAlign = 'left';
      ctx.fillText((labels[j] ?? '').slice(0, 10), 0, 0);
      ctx.restore();
    }
    ctx.restore();
  }
}

export function renderEngine(container: HTMLElement): void {
  if (root === container && container.childElementCount) return; // keep what the user typed
  root = container;
  const state = el('div', { id: 'engine-state', class: 'engine-state', text: 'Checking the engine…' });
  const prompt = el('textarea', { id: 'engine-prompt', rows: 3, text: 'In the beginning' });
  const maxTokens = el('input', { id: 'engine-max-tokens', type: 'number', min: 1, max: 512, value: 24 });
  const temp = el('input', { id: 'engine-temperature', type: 'number', min: 0, max: 2, step: 0.1, value: 0 });
  const mode = el(
    'select',
    { id: 'engine-mode' },
    el('option', { value: 'stream', text: 'stream (/v1/completions)' }),
    el('option', { value: 'chat', text: 'chat stream (/v1/chat/completions)' }),
    el('option', { value: 'generate', text: 'complete, no stream (/generate)' }),
  );
  const go = el('button', { type: 'button', id: 'engine-generate', class: 'primary', text: 'Generate' });
  const out = el('pre', { id: 'engine-output', class: 'engine-output', 'aria-live': 'polite' });
  const genMsg = el('div', { class: 'status' });

  const layer = el('input', { id: 'attn-layer', type: 'number', min: 0, value: 0 });
  const head = el('input', { id: 'attn-head', type: 'number', min: 0, value: 0 });
  const attnGo = el('button', { type: 'button', id: 'attn-go', text: 'Show attention' });
  const attnCanvas = el('canvas', { id: 'attn-canvas', width: 10, height: 10 });
  const attnInfo = el('div', { class: 'muted', id: 'attn-info' });

  const stats = el('div', { id: 'engine-stats', class: 'stats' });
  const statsGo = el('button', { type: 'button', id: 'stats-refresh', text: 'Refresh stats' });

  const refreshStats = async () => {
    try {
      const [cache, lat] = await Promise.all([getJson('/cache/stats'), getJson('/debug/latency_stats')]);
      stats.replaceChildren(
        el('div', {}, el('h3', { text: 'KV cache' }), table('cache-stats', cache)),
        el('div', {}, el('h3', { text: 'Latency' }), table('latency-stats', lat)),
      );
    } catch (e) {
      if (!notLoaded(stats, e))
        stats.replaceChildren(el('p', { class: 'error', text: (e as Error).message }));
    }
  };

  go.addEventListener('click', async () => {
    out.textContent = '';
    delete out.dataset['done'];
    delete out.dataset['chunks'];
    delete out.dataset['reads'];
    genMsg.textContent = 'Generating…';
    genMsg.className = 'status busy';
    go.disabled = true;
    const t0 = performance.now();
    const settings = {
      max_tokens: Number(maxTokens.value) || 16,
      temperature: Number(temp.value) || 0,
    };
    const append = (t: string) => {
      out.textContent += t;
    };
    try {
      let note: string;
      if (mode.value === 'generate') {
        const r = await postJson<{ text?: string; generated_text?: string; tokens_generated?: number }>(
          '/generate',
          { prompt: prompt.value, ...settings },
        );
        out.textContent = r.text ?? r.generated_text ?? JSON.stringify(r);
        note = r.tokens_generated !== undefined ? `, ${r.tokens_generated} tokens` : '';
      } else {
        const got =
          mode.value === 'chat'
            ? await streamSse(
                '/v1/chat/completions',
                { messages: [{ role: 'user', content: prompt.value }], ...settings },
                append,
              )
            : await streamSse('/v1/completions', { prompt: prompt.value, ...settings }, append);
        out.dataset['chunks'] = String(got.chunks);
        out.dataset['reads'] = String(got.reads);
        note = ` (${got.chunks} pieces streamed in ${got.reads} reads, finish_reason ${got.finish ?? 'none'})`;
        if (got.chunks === 0) {
          const secs = ((performance.now() - t0) / 1000).toFixed(2);
          throw new Error(`The stream ended without text${note} after ${secs} s.`);
        }
      }
      genMsg.className = 'status ok';
      genMsg.textContent = `Done in ${((performance.now() - t0) / 1000).toFixed(2)} s${note}.`;
      out.dataset['done'] = '1';
      void refreshStats();
    } catch (e) {
      genMsg.className = 'status error';
      if (!notLoaded(genMsg, e)) genMsg.textContent = (e as Error).message;
      out.dataset['done'] = 'error';
    } finally {
      go.disabled = false;
    }
  });

  attnGo.addEventListener('click', async () => {
    attnInfo.textContent = 'Computing…';
    try {
      const r = await postJson<{
        attention_matrix: number[][];
        tokens?: string[];
        sparsity_ratio?: number;
        entropy?: number;
      }>('/debug/attention_scores', {
        prompt: prompt.value,
        layer_idx: Number(layer.value) || 0,
        head_idx: Number(head.value) || 0,
      });
      heatmap(attnCanvas, r.attention_matrix, r.tokens ?? []);
      attnInfo.textContent =
        `${r.attention_matrix.length} tokens` +
        (r.sparsity_ratio !== undefined ? ` · sparsity ${r.sparsity_ratio.toFixed(2)}` : '') +
        (r.entropy !== undefined ? ` · entropy ${r.entropy.toFixed(2)}` : '');
      attnCanvas.dataset['drawn'] = '1';
    } catch (e) {
      if (!notLoaded(attnInfo, e)) attnInfo.textContent = (e as Error).message;
    }
  });
  statsGo.addEventListener('click', () => void refreshStats());

  container.replaceChildren(
    el(
      'div',
      { class: 'cards' },
      el(
        'article',
        { class: 'card wide', id: 'card-engine-state' },
        el('h2', { text: 'Reference engine' }),
        state,
      ),
      el(
        'article',
        { class: 'card', id: 'card-engine-generate' },
        el('h2', { text: 'Generate' }),
        el('label', { class: 'field' }, el('span', { text: 'Prompt' }), prompt),
        el(
          'div',
          { class: 'row three' },
          el('label', { class: 'field' }, el('span', { text: 'Max tokens' }), maxTokens),
          el('label', { class: 'field' }, el('span', { text: 'Temperature' }), temp),
          el('label', { class: 'field' }, el('span', { text: 'API' }), mode),
        ),
        go,
        genMsg,
        out,
      ),
      el(
        'article',
        { class: 'card', id: 'card-engine-attention' },
        el('h2', { text: 'Attention heat map' }),
        el(
          'div',
          { class: 'row three' },
          el('label', { class: 'field' }, el('span', { text: 'Layer' }), layer),
          el('label', { class: 'field' }, el('span', { text: 'Head' }), head),
          el('div', { class: 'field' }, el('span', { text: '\u00a0' }), attnGo),
        ),
        el('div', { class: 'heatmap' }, attnCanvas),
        attnInfo,
      ),
      el(
        'article',
        { class: 'card wide', id: 'card-engine-stats' },
        el('h2', { text: 'Latency and cache' }),
        statsGo,
        stats,
      ),
    ),
  );

  void (async () => {
    try {
      const info = await getJson<ModelInfo>('/model_info');
      const line = [
        info['model_name'],
        info['model_type'],
        info['num_layers'] !== undefined ? `${String(info['num_layers'])} layers` : null,
        info['num_attention_heads'] !== undefined ? `${String(info['num_attention_heads'])} heads` : null,
        typeof info['parameters'] === 'number'
          ? `${info['parameters'].toLocaleString('en-US')} parameters`
          : null,
        info['device'],
      ]
        .filter((x) => x !== null && x !== undefined)
        .map(String)
        .join(' · ');
      state.replaceChildren(
        el('span', { class: 'badge ok', 'data-testid': 'engine-loaded', text: 'engine loaded' }),
        ' ',
        el('strong', { text: line }),
        el(
          'details',
          { class: 'more' },
          el('summary', { text: 'Model info (/model_info)' }),
          table('engine-info', info),
        ),
      );
      const layers = Number(info['num_layers'] ?? info['num_hidden_layers'] ?? info['n_layer']);
      const heads = Number(info['num_heads'] ?? info['num_attention_heads'] ?? info['n_head']);
      if (Number.isFinite(layers) && layers > 0) layer.max = String(layers - 1);
      if (Number.isFinite(heads) && heads > 0) head.max = String(heads - 1);
      void refreshStats();
    } catch (e) {
      if (!notLoaded(state, e))
        state.replaceChildren(el('p', { class: 'error', text: (e as Error).message }));
    }
  })();
}
