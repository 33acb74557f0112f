/**
 * The engine's HTTP API through fastify's inject, and over a real listening port: the official openai client, and
 * server-sent events read off the socket (chunks as they arrive, a client that hangs up mid-stream).
 */
import http from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import type { Request } from '../../src/engine/request.js';
import { registerEngineRoutes } from '../../src/server/routes/engine.js';
import { registerOpenAiRoutes } from '../../src/server/routes/openai.js';
import { MODEL_DIR } from './helpers.js';

let engine: Engine;
let app: FastifyInstance;
beforeAll(async () => {
  engine = await Engine.load(MODEL_DIR, { blockSize: 8, maxModelLen: 128, threads: 1 });
  app = Fastify();
  registerEngineRoutes(app, engine);
  registerOpenAiRoutes(app, engine);
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await engine.close();
});

const post = async (url: string, payload?: unknown) => {
  const r = await app.inject({
    method: 'POST',
    url,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
  return { status: r.statusCode, body: r.json() as Record<string, unknown> & { [k: string]: any } }; // eslint-disable-line @typescript-eslint/no-explicit-any
};
const get = async (url: string) => {
  const r = await app.inject({ method: 'GET', url });
  return { status: r.statusCode, body: r.json() as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
};

describe('user APIs', () => {
  it('generate, tokenize, batch_generate, model_info', async () => {
    const g = await post('/generate', {
      prompt: 'In the beginning',
      max_tokens: 6,
      temperature: 0,
      ignore_eos: true,
    });
    expect(g.status).toBe(200);
    expect(g.body.tokens_generated).toBe(6);
    expect(typeof g.body.text).toBe('string');
    const t = await post('/tokenize', { text: 'In the beginning' });
    expect(t.body.tokens).toEqual(engine.tokenize('In the beginning'));
    expect(t.body.token_strings.join('')).toBe('In the beginning');
    const q = await app.inject({ method: 'POST', url: '/tokenize?text=Amen' });
    expect(q.json().count).toBe(engine.tokenize('Amen').length);
    const b = await post('/batch_generate', {
      prompts: ['Amen', 'And it came to pass'],
      max_tokens: 4,
      temperature: 0,
      ignore_eos: true,
    });
    expect(b.body.results).toHaveLength(2);
    expect(b.body.results[0].tokens_generated).toBe(4);
    const m = await get('/model_info');
    expect(m.body).toMatchObject({
      model_type: 'llama',
      num_layers: engine.config.numLayers,
      vocab_size: engine.config.vocabSize,
    });
  });

  it('bad input is a 422 naming the field; nothing is a 500', async () => {
    const cases: [string, unknown, string][] = [
      ['/generate', {}, 'prompt'],
      ['/generate', { prompt: 'x', max_tokens: 0 }, 'max_tokens'],
      ['/generate', { prompt: 'x', max_tokens: 100000 }, 'max_tokens'],
      ['/generate', { prompt: 'x', temperature: 'hot' }, 'temperature'],
      ['/generate', { prompt: 'x', stop: [1] }, 'stop'],
      ['/generate', { prompt: 'x'.repeat(40000) }, 'prompt'],
      ['/generate', [1, 2], 'body'],
      ['/batch_generate', { prompts: [] }, 'prompts'],
      ['/batch_generate', { prompts: Array(33).fill('a') }, 'prompts'],
      ['/debug/attention_scores', { prompt: 'a', layer_idx: 99 }, 'layer_idx'],
      ['/optimization/sparsity_mask', { method: 'magic' }, 'method'],
      ['/parallel/tensor_split', { tensor_shape: [100000, 100000] }, 'tensor_shape'],
      ['/pipeline/step_execute', { step: 'embed', input_ids: [-1] }, 'input_ids[0]'],
      ['/pipeline/schedule', { steps: ['output', 'embed'] }, 'steps'],
      // Found by the /openapi.json fuzz: a step before the one it consumes was a 500.
      ['/pipeline/schedule', { steps: ['tokenize', 'attention', 'tokenize'] }, 'steps[2]'],
      ['/pipeline/schedule', { steps: ['mlp', 'embed', 'output'] }, 'steps[1]'],
      ['/optimization/batch_schedule', { requests: [{ prompt: 3 }] }, 'requests[0].prompt'],
    ];
    for (const [url, body, field] of cases) {
      const r = await post(url, body);
      expect(r.status, `${url} ${JSON.stringify(body).slice(0, 60)}`).toBe(422);
      expect(r.body.detail).toBe(r.body.error);
      expect(r.body.detail).toContain(field.replace(/\[\d+\].*/, ''));
    }
    const long = await post('/generate', { prompt: 'word '.repeat(300) });
    expect(long.status).toBe(422);
    expect(long.body.detail).toMatch(/limit is 127/);
  });

  it('every engine route answers 503 with a message when no model is loaded', async () => {
    const bare = Fastify();
    registerEngineRoutes(bare, null);
    registerOpenAiRoutes(bare, null);
    for (const [method, url] of [
      ['POST', '/generate'],
      ['GET', '/model_info'],
      ['GET', '/cache/stats'],
      ['POST', '/v1/completions'],
      ['GET', '/v1/models'],
    ] as const) {
      const r = await bare.inject({ method, url, payload: method === 'POST' ? {} : undefined });
      expect(r.statusCode).toBe(503);
      expect(r.json().detail).toMatch(/no model is loaded/);
    }
    await bare.close();
  });
});

describe('research APIs', () => {
  it('attention scores, latency, memory, profiling', async () => {
    const a = await post('/debug/attention_scores', {
      prompt: 'The cat sat on the mat',
      layer_idx: 1,
      head_idx: 0,
    });
    expect(a.status).toBe(200);
    expect(a.body.attention_matrix).toHaveLength(engine.tokenize('The cat sat on the mat').length);
    expect(a.body.sparsity_ratio).toBeGreaterThanOrEqual(0);
    expect((await post('/debug/profiling/stop')).status).toBe(409);
    expect((await post('/debug/profiling/start')).body.status).toBe('started');
    await post('/generate', { prompt: 'Hello', max_tokens: 2 });
    const rep = await post('/debug/profiling/stop');
    expect(rep.body.ops.map((o: { op: string }) => o.op)).toContain('o_proj_mlp');
    const l = await get('/debug/latency_stats');
    expect(l.body.attention_ms).toBeGreaterThan(0);
    expect(l.body.total_ms).toBeCloseTo(
      l.body.tokenize_ms + l.body.embed_ms + l.body.attention_ms + l.body.mlp_ms + l.body.output_ms,
      6,
    );
    const m = await get('/debug/memory_usage');
    expect(m.body.model_weights_bytes).toBe(engine.model.weightBytes);
    expect(m.body.kv_cache_allocated_bytes).toBe(engine.cache.numBlocks * 8 * engine.cache.bytesPerToken);
  });

  it('sparsity mask applies until cleared', async () => {
    const before = await post('/pipeline/step_execute', {
      step: 'output',
      prompt: 'And God said, Let there be light',
    });
    const set = await post('/optimization/sparsity_mask', { method: 'top_k', k: 2 });
    expect(set.body.applied).toBe(true);
    const masked = await post('/pipeline/step_execute', {
      step: 'output',
      prompt: 'And God said, Let there be light',
    });
    expect(masked.body.stats.l2_norm).not.toBe(before.body.stats.l2_norm);
    await post('/optimization/sparsity_mask', { method: 'none' });
    const after = await post('/pipeline/step_execute', {
      step: 'output',
      prompt: 'And God said, Let there be light',
    });
    expect(after.body.stats.l2_norm).toBe(before.body.stats.l2_norm);
  });

  it('batch schedule orders by policy and measures', async () => {
    const requests = [
      { prompt: 'A long prompt of several words here', priority: 2, max_tokens: 6 },
      { prompt: 'Amen', priority: 1, max_tokens: 2 },
      { prompt: 'Selah', priority: 3, max_tokens: 4 },
    ];
    const p = await post('/optimization/batch_schedule', {
      algorithm: 'priority_queue',
      requests,
      max_batch_size: 1,
    });
    expect(p.body.order).toEqual([1, 0, 2]);
    const s = await post('/optimization/batch_schedule', {
      algorithm: 'shortest_first',
      requests,
      max_batch_size: 2,
    });
    expect(s.body.order[0]).toBe(1);
    expect(s.body.results).toHaveLength(3);
    expect(s.body.results[0].completion_tokens).toBeLessThanOrEqual(6);
  });

  it('tensor split and parallel execute on worker threads equal the unsplit result', async () => {
    for (const [dim, op] of [
      [0, 'matmul'],
      [1, 'matmul'],
      [1, 'gelu'],
      [0, 'add'],
    ] as const) {
      const s = await post('/parallel/tensor_split', {
        tensor_shape: [6, 10],
        split_dim: dim,
        num_splits: 3,
        seed: 1,
      });
      expect(s.body.splits.map((c: { shape: number[] }) => c.shape[dim])).toEqual(
        dim === 0 ? [2, 2, 2] : [4, 3, 3],
      );
      const x = await post('/parallel/execute', { operation: op, gather: true });
      expect(x.status).toBe(200);
      expect(x.body.equal).toBe(true);
      expect(x.body.gather_method).toBe(op === 'matmul' && dim === 1 ? 'sum' : 'concat');
    }
    const e = await post('/parallel/tensor_split', { source: 'embedding', split_dim: 1, num_splits: 2 });
    expect(e.body.tensor_shape).toEqual([engine.config.vocabSize, engine.config.hiddenSize]);
    expect((await post('/parallel/execute', { splits: ['split_9'] })).status).toBe(422);
  });

  it('pipeline step execution returns intermediates; schedules record a timeline', async () => {
    const ids = engine.tokenize('In the beginning');
    const emb = await post('/pipeline/step_execute', {
      step: 'embed',
      input_ids: ids,
      return_intermediate: true,
    });
    expect(emb.body.output_shape).toEqual([ids.length, engine.config.hiddenSize]);
    expect(emb.body.intermediate[0]).toHaveLength(engine.config.hiddenSize);
    const att = await post('/pipeline/step_execute', { step: 'attention', input_ids: ids, layer_idx: 1 });
    expect(att.body.output_shape).toEqual([ids.length, engine.config.numHeads * engine.config.headDim]);
    const out = await post('/pipeline/step_execute', { step: 'output', input_ids: ids });
    const gen = await post('/generate', {
      prompt: 'In the beginning',
      max_tokens: 1,
      temperature: 0,
      ignore_eos: true,
    });
    expect(out.body.next_token.id).toBe(gen.body.token_ids[0]);
    for (const overlap of [false, true]) {
      const s = await post('/pipeline/schedule', {
        steps: ['tokenize', 'embed', 'attention', 'output'],
        batch_size: 3,
        overlap_comm: overlap,
      });
      expect(s.body.timeline).toHaveLength(12);
      expect(new Set(s.body.next_tokens).size).toBe(1);
    }
    // 'tokenize' without 'embed' (a 500 before): the embedding is made implicitly, the answer is the same.
    const explicit = await post('/pipeline/schedule', {
      steps: ['tokenize', 'embed', 'attention', 'output'],
    });
    const implicit = await post('/pipeline/schedule', { steps: ['tokenize', 'attention', 'output'] });
    expect(implicit.status).toBe(200);
    expect(implicit.body.timeline).toHaveLength(2 * 3);
    expect(implicit.body.next_tokens).toEqual(explicit.body.next_tokens);
  });

  it('cache stats and clear', async () => {
    await post('/cache/clear');
    const prompt = 'And the evening and the morning were the first day';
    await post('/generate', { prompt, max_tokens: 2 });
    await post('/generate', { prompt, max_tokens: 2 });
    const s = await get('/cache/stats');
    expect(s.body.hits).toBe(Math.floor((engine.tokenize(prompt).length - 1) / 8));
    const c = await post('/cache/clear');
    expect(c.body.hits).toBe(0);
  });
});

describe('OpenAI-compatible API', () => {
  it('completions and chat (inject), with SSE streaming', async () => {
    const c = await post('/v1/completions', {
      model: engine.name,
      prompt: 'In the beginning',
      max_tokens: 5,
      temperature: 0,
    });
    expect(c.body.object).toBe('text_completion');
    expect(c.body.usage.completion_tokens).toBeLessThanOrEqual(5);
    const s = await app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, stream: true, temperature: 0 },
    });
    expect(s.headers['content-type']).toContain('text/event-stream');
    const events = s.body.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(JSON.parse(events[0]!.slice(6)).choices[0].delta.role).toBe('assistant');
    const bad = await post('/v1/chat/completions', { messages: [{ role: 'wizard', content: 'x' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('messages[0].role');
  });

  it('the official openai client works against a listening server', async () => {
    const server = Fastify();
    registerOpenAiRoutes(server, engine);
    const address = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const client = new OpenAI({ baseURL: `${address}/v1`, apiKey: 'unused', maxRetries: 0 });
      const models = await client.models.list();
      expect(models.data[0]!.id).toBe(engine.name);
      const r = await client.completions.create({
        model: engine.name,
        prompt: 'And God said',
        max_tokens: 6,
        temperature: 0,
      });
      const chat = await client.chat.completions.create({
        model: engine.name,
        messages: [{ role: 'user', content: 'Hello' }],
        max_tokens: 6,
        temperature: 0,
      });
      expect(chat.choices[0]!.message.role).toBe('assistant');
      let streamed = '';
      const stream = await client.completions.create({
        model: engine.name,
        prompt: 'And God said',
        max_tokens: 6,
        temperature: 0,
        stream: true,
      });
      for await (const chunk of stream) streamed += chunk.choices[0]?.text ?? '';
      expect(streamed).toBe(r.choices[0]!.text);
    } finally {
      await server.close();
    }
  });
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface SseRead {
  status: number;
  /** The JSON events in order ('[DONE]' excluded). */
  events: Json[];
  /** Whether the stream ended with `data: [DONE]` (and nothing after it). */
  done: boolean;
  /** Socket reads that carried at least one event with text, before the one that carried [DONE]. */
  textReads: number;
}

const textOf = (ev: Json): string => ev.choices?.[0]?.text ?? ev.choices?.[0]?.delta?.content ?? '';

/**
 * POST `body` to a listening server and read its SSE answer off the socket with node:http (no inject, no client
 * library). `onEvent` sees each JSON event as it arrives and may hang up by calling `hangUp`.
 */
function readSse(
  base: string,
  path: string,
  body: unknown,
  onEvent: (ev: Json, hangUp: () => void) => void = () => {},
): Promise<SseRead & { hungUp: boolean }> {
  const url = new URL(path, base);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const out: SseRead & { hungUp: boolean } = {
      status: 0,
      events: [],
      done: false,
      textReads: 0,
      hungUp: false,
    };
    const req = http.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        out.status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (d: string) => {
          buf += d;
          let withText = false;
          for (let i = buf.indexOf('\n\n'); i >= 0 && !out.hungUp; i = buf.indexOf('\n\n')) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (!line.startsWith('data: ')) continue;
            if (out.done) throw new Error(`event after [DONE]: ${line}`);
            if (line === 'data: [DONE]') {
              out.done = true;
              continue;
            }
            const ev = JSON.parse(line.slice(6)) as Record<string, unknown>;
            out.events.push(ev);
            if (textOf(ev)) withText = true;
            onEvent(ev, () => {
              out.hungUp = true;
              req.destroy();
              resolve(out);
            });
          }
          if (withText && !out.done) out.textReads++;
        });
        res.on('end', () => resolve(out));
        res.on('error', (e) => (out.hungUp ? undefined : reject(e)));
      },
    );
    req.on('error', (e) => (out.hungUp ? undefined : reject(e)));
    req.end(payload);
  });
}

async function postJson(base: string, path: string, body: unknown) {
  const r = await fetch(new URL(path, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Json };
}

describe('streaming over a real listening port', () => {
  let server: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    server = Fastify();
    registerOpenAiRoutes(server, engine);
    base = await server.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server.close();
  });

  const PROMPT = 'And the LORD';
  /** Eight tokens or more, so its KV blocks (8 tokens here) fill while it decodes. */
  const LONG_PROMPT = 'And the LORD spake unto Moses, saying, Speak unto the children of Israel';

  it('completions and chat stream several non-empty chunks, as they are made, equal to the greedy answer', async () => {
    const plain = await postJson(base, '/v1/completions', { prompt: PROMPT, max_tokens: 20, temperature: 0 });
    expect(plain.status).toBe(200);
    const s = await readSse(base, '/v1/completions', {
      prompt: PROMPT,
      max_tokens: 20,
      temperature: 0,
      stream: true,
    });
    expect(s.status).toBe(200);
    expect(s.done).toBe(true);
    const texts = s.events.map(textOf).filter(Boolean);
    expect(texts.length).toBeGreaterThanOrEqual(5);
    expect(texts.join('')).toBe(plain.body.choices[0].text);
    expect(s.events.at(-1)!.choices[0].finish_reason).toBe(plain.body.choices[0].finish_reason);
    expect(s.events.at(-1)!.usage).toEqual(plain.body.usage);
    // Tokens reach the client while the engine is still generating, not all at once at the end.
    expect(s.textReads).toBeGreaterThanOrEqual(2);

    const messages = [{ role: 'user', content: 'And God said' }];
    const chat = await postJson(base, '/v1/chat/completions', { messages, max_tokens: 12, temperature: 0 });
    const c = await readSse(base, '/v1/chat/completions', {
      messages,
      max_tokens: 12,
      temperature: 0,
      stream: true,
    });
    expect(c.done).toBe(true);
    expect(c.events[0]!.choices[0].delta.role).toBe('assistant');
    const deltas = c.events.map(textOf).filter(Boolean);
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(deltas.join('')).toBe(chat.body.choices[0].message.content);
  });

  it('a client hanging up mid-stream aborts its request; the others in its batch and later ones are served', async () => {
    const greedy = { max_tokens: 40, temperature: 0 };
    const plain = await postJson(base, '/v1/completions', { prompt: PROMPT, ...greedy });
    expect(plain.body.choices[0].finish_reason).toBe('length');
    expect(engine.tokenize(LONG_PROMPT).length).toBeGreaterThanOrEqual(8);

    // The hang-up lands while a decode step that holds both streams is in flight (deterministically: the forward
    // the hang-up is noticed in waits until the server has seen the socket close and aborted the request).
    const aborted: Request[] = [];
    let sawAbort: () => void = () => {};
    const abort = engine.abort.bind(engine);
    const abortSpy = vi.spyOn(engine, 'abort').mockImplementation((r) => {
      abort(r);
      aborted.push(r);
      sawAbort();
    });
    let hangUp: (() => void) | null = null;
    let stepsDuringAbort = 0;
    const forward = engine.model.forward.bind(engine.model);
    const forwardSpy = vi.spyOn(engine.model, 'forward').mockImplementation(async (items, ...rest) => {
      const out = forward(items, ...rest);
      if (hangUp && items.length === 2) {
        const noticed = new Promise<void>((r) => {
          sawAbort = r;
          setTimeout(r, 3000);
        });
        hangUp();
        hangUp = null;
        await noticed;
        stepsDuringAbort++;
      }
      return out;
    });
    try {
      let leaverChunks = 0;
      const [stay, leave] = await Promise.all([
        readSse(base, '/v1/completions', { prompt: PROMPT, ...greedy, stream: true }),
        readSse(
          base,
          '/v1/completions',
          { prompt: LONG_PROMPT, max_tokens: 80, temperature: 0, stream: true },
          (ev, h) => {
            if (textOf(ev) && ++leaverChunks === 2) hangUp = h;
          },
        ),
      ]);
      expect(leave.hungUp).toBe(true);
      expect(stepsDuringAbort).toBe(1);
      // The server noticed the hang-up and aborted that request (and only it), well before its 80 tokens.
      expect(aborted).toHaveLength(1);
      const left = await aborted[0]!.done;
      expect(left.finishReason).toBe('abort');
      expect(left.completionTokens).toBeLessThan(80);
      // The stream that stayed is whole: no error event, the same text as without streaming.
      expect(stay.events.filter((e) => e['error'])).toEqual([]);
      expect(stay.done).toBe(true);
      expect(stay.events.map(textOf).join('')).toBe(plain.body.choices[0].text);
    } finally {
      forwardSpy.mockRestore();
      abortSpy.mockRestore();
    }
    // The engine holds nothing for the aborted request and serves the next one as before.
    await vi.waitFor(() => expect(engine.pending).toBe(0));
    expect(engine.scheduler.isIdle).toBe(true);
    expect(engine.blocks.numUsed).toBe(0);
    const next = await readSse(base, '/v1/completions', { prompt: PROMPT, ...greedy, stream: true });
    expect(next.done).toBe(true);
    expect(next.events.map(textOf).join('')).toBe(plain.body.choices[0].text);
  });
});
