/**
 * The OpenAI surface driven by the official `openai` client against a server listening on a loopback port: every
 * implemented parameter (n, list prompts of strings and token ids, logprobs/top_logprobs, echo, logit_bias,
 * frequency/presence penalties, stream_options), the chat template, and the refusals in OpenAI's error shape.
 * Expected values are recomputed here from the model's logits (log-softmax, argmax, the penalty formula), not read
 * back from the server.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import { registerOpenAiRoutes } from '../../src/server/routes/openai.js';
import { MODEL_DIR } from './helpers.js';

/** The shipped model with a chat template added (it ships none). */
const TEMPLATE =
  '{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}';

let dir: string;
let engine: Engine;
let server: FastifyInstance;
let client: OpenAI;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'infersim-openai-'));
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json'])
    symlinkSync(join(MODEL_DIR, f), join(dir, f));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({ eos_token: '<|endoftext|>', bos_token: '<|endoftext|>', chat_template: TEMPLATE }),
  );
  engine = await Engine.load(dir, { name: 'kjv', blockSize: 8, maxModelLen: 128, threads: 1 });
  server = Fastify();
  registerOpenAiRoutes(server, engine);
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  client = new OpenAI({ baseURL: `${address}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const V = () => engine.config.vocabSize;
/** Last-position logits of `ids`, straight from the model. */
const logitsAfter = async (ids: number[]) => {
  const all = await engine.isolatedForward(ids, null, true);
  return all.subarray((ids.length - 1) * V(), ids.length * V());
};
const argmax = (row: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[b]!) b = i;
  return b;
};
const logSoftmax = (row: ArrayLike<number>, id: number) => {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]!);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i]! - m);
  return row[id]! - m - Math.log(s);
};
const ids = (tokens: string[]) => tokens.map((t) => Number(t.replace('token_id:', '')));

/** What the client throws, as OpenAI's error shape. */
async function refusal(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return { status: e.status, param: e.param, code: e.code, type: e.type };
    throw e;
  }
  throw new Error('the request was not refused');
}

const PROMPT = 'And God said';
const base = { model: 'kjv', max_tokens: 6, temperature: 0 } as const;

describe('the official openai client against a listening server', () => {
  it('an unknown model is a 404 model_not_found; the served one is listed and retrievable', async () => {
    expect(await refusal(client.completions.create({ ...base, model: 'gpt-4o', prompt: PROMPT }))).toEqual({
      status: 404,
      param: 'model',
      code: 'model_not_found',
      type: 'invalid_request_error',
    });
    expect(
      (await refusal(client.chat.completions.create({ ...base, model: 'x', messages: [] }))).status,
    ).toBe(404);
    expect((await client.models.retrieve('kjv')).id).toBe('kjv');
    expect((await refusal(client.models.retrieve('nope'))).status).toBe(404);
  });

  it('n choices and list prompts (strings and token ids), indexed prompt-major', async () => {
    const one = await client.completions.create({ ...base, prompt: PROMPT });
    const other = await client.completions.create({ ...base, prompt: 'In the beginning' });
    const many = await client.completions.create({ ...base, prompt: [PROMPT, 'In the beginning'], n: 2 });
    expect(many.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(many.choices.map((c) => c.text)).toEqual([
      one.choices[0]!.text,
      one.choices[0]!.text,
      other.choices[0]!.text,
      other.choices[0]!.text,
    ]);
    const p1 = engine.tokenize(PROMPT);
    const p2 = engine.tokenize('In the beginning');
    expect(many.usage!.prompt_tokens).toBe(p1.length + p2.length);
    const byIds = await client.completions.create({ ...base, prompt: [p1, p2] });
    expect(byIds.choices.map((c) => c.text)).toEqual([one.choices[0]!.text, other.choices[0]!.text]);
    expect((await client.completions.create({ ...base, prompt: p1 })).choices[0]!.text).toBe(
      one.choices[0]!.text,
    );
    // Sampled choices with a seed: seeds seed, seed+1, … so they repeat as a set.
    const s1 = await client.completions.create({ ...base, prompt: PROMPT, n: 3, temperature: 1, seed: 7 });
    const s2 = await client.completions.create({ ...base, prompt: PROMPT, n: 3, temperature: 1, seed: 7 });
    expect(s1.choices.map((c) => c.text)).toEqual(s2.choices.map((c) => c.text));
    expect(s1.choices).toHaveLength(3);
  });

  it('logprobs are the log-softmax of the model logits, with top alternatives; echo prepends the prompt', async () => {
    const r = await client.completions.create({
      ...base,
      prompt: PROMPT,
      max_tokens: 3,
      logprobs: 3,
      // vLLM's extension, so the test can recompute each step from the ids.
      ...({ return_tokens_as_token_ids: true } as object),
    });
    const lp = r.choices[0]!.logprobs!;
    const out = ids(lp.tokens!);
    expect(out).toHaveLength(r.usage!.completion_tokens);
    const prompt = engine.tokenize(PROMPT);
    for (let t = 0; t < out.length; t++) {
      const row = await logitsAfter([...prompt, ...out.slice(0, t)]);
      expect(out[t]).toBe(argmax(row));
      expect(lp.token_logprobs![t]).toBeCloseTo(logSoftmax(row, out[t]!), 4);
      const top = Object.entries(lp.top_logprobs![t]!);
      expect(top).toHaveLength(3);
      expect(top[0]![0]).toBe(`token_id:${out[t]}`);
    }
    const echoed = await client.completions.create({
      ...base,
      prompt: PROMPT,
      max_tokens: 3,
      echo: true,
      logprobs: 0,
    });
    const c = echoed.choices[0]!;
    expect(c.text).toBe(PROMPT + r.choices[0]!.text);
    expect(c.logprobs!.tokens).toHaveLength(prompt.length + out.length);
    expect(c.logprobs!.token_logprobs![0]).toBeNull();
    const first = await logitsAfter(prompt.slice(0, 1));
    expect(c.logprobs!.token_logprobs![1]).toBeCloseTo(logSoftmax(first, prompt[1]!), 4);
    expect(c.logprobs!.text_offset![0]).toBe(0);
  });

  it('logit_bias bans a token (-100) and forces one (+100)', async () => {
    const greedy = await client.completions.create({
      ...base,
      prompt: PROMPT,
      logprobs: 0,
      ...({ return_tokens_as_token_ids: true } as object),
    });
    const first = ids(greedy.choices[0]!.logprobs!.tokens!)[0]!;
    const banned = await client.completions.create({
      ...base,
      prompt: PROMPT,
      logprobs: 0,
      logit_bias: { [first]: -100 },
      ...({ return_tokens_as_token_ids: true } as object),
    });
    expect(ids(banned.choices[0]!.logprobs!.tokens!)).not.toContain(first);
    const forced = engine.tokenize(' the')[0]!;
    const f = await client.completions.create({
      ...base,
      prompt: PROMPT,
      max_tokens: 4,
      logit_bias: { [forced]: 100 },
    });
    expect(f.choices[0]!.text).toBe(' the the the the');
  });

  it('frequency and presence penalties follow OpenAI formula, replayed from the logits', async () => {
    const fp = 2;
    const pp = 2;
    const r = await client.completions.create({
      ...base,
      prompt: 'and the',
      max_tokens: 12,
      frequency_penalty: fp,
      presence_penalty: pp,
      logprobs: 0,
      ...({ return_tokens_as_token_ids: true } as object),
    });
    const out = ids(r.choices[0]!.logprobs!.tokens!);
    const prompt = engine.tokenize('and the');
    let changed = 0;
    for (let t = 0; t < out.length; t++) {
      const row = Float32Array.from(await logitsAfter([...prompt, ...out.slice(0, t)]));
      const raw = argmax(row);
      const counts = new Map<number, number>();
      for (const id of out.slice(0, t)) counts.set(id, (counts.get(id) ?? 0) + 1);
      for (const [id, c] of counts) row[id] = row[id]! - c * fp - pp;
      expect(out[t]).toBe(argmax(row));
      if (argmax(row) !== raw) changed++;
    }
    // The penalty changed at least one choice, so this test sees it.
    expect(changed).toBeGreaterThan(0);
  });

  it('chat: the template rendered with add_generation_prompt, n choices, logprobs with top_logprobs', async () => {
    const messages = [{ role: 'user' as const, content: 'In the beginning' }];
    const r = await client.chat.completions.create({
      ...base,
      messages,
      n: 2,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(r.usage!.prompt_tokens).toBe(engine.tokenize('<user>In the beginning\n<assistant>').length);
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(r.choices[1]!.message.content).toBe(r.choices[0]!.message.content);
    const content = r.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(r.usage!.completion_tokens / 2);
    expect(content.map((x) => x.token).join('')).toBe(r.choices[0]!.message.content);
    for (const x of content) {
      expect(x.top_logprobs).toHaveLength(2);
      expect(x.top_logprobs[0]!.logprob).toBeCloseTo(x.logprob, 6);
      expect(x.logprob).toBeLessThanOrEqual(0);
    }
  });

  it('streams n choices by index, with a usage chunk under stream_options', async () => {
    const texts = ['', ''];
    let usage: OpenAI.CompletionUsage | undefined;
    const s = await client.chat.completions.create({
      ...base,
      messages: [{ role: 'user', content: 'In the beginning' }],
      n: 2,
      stream: true,
      stream_options: { include_usage: true },
    });
    for await (const chunk of s) {
      for (const c of chunk.choices) texts[c.index] += c.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    const plain = await client.chat.completions.create({
      ...base,
      messages: [{ role: 'user', content: 'In the beginning' }],
    });
    expect(texts).toEqual([plain.choices[0]!.message.content, plain.choices[0]!.message.content]);
    expect(usage!.completion_tokens).toBe(2 * plain.usage!.completion_tokens);
    let echoed = '';
    const e = await client.completions.create({ ...base, prompt: PROMPT, echo: true, stream: true });
    for await (const chunk of e) echoed += chunk.choices[0]?.text ?? '';
    expect(echoed.startsWith(PROMPT)).toBe(true);
  });

  it('what the engine cannot do is refused in OpenAI shape: 400, param, code unsupported_parameter', async () => {
    const unsupported = (param: string) => ({
      status: 400,
      param,
      code: 'unsupported_parameter',
      type: 'invalid_request_error',
    });
    expect(await refusal(client.completions.create({ ...base, prompt: PROMPT, best_of: 3 }))).toEqual(
      unsupported('best_of'),
    );
    expect(await refusal(client.completions.create({ ...base, prompt: PROMPT, suffix: 'Amen' }))).toEqual(
      unsupported('suffix'),
    );
    const hi = [{ role: 'user' as const, content: 'Hi' }];
    expect(
      await refusal(
        client.chat.completions.create({ ...base, messages: hi, response_format: { type: 'json_object' } }),
      ),
    ).toEqual(unsupported('response_format'));
    const tool = { type: 'function' as const, function: { name: 'f', parameters: {} } };
    expect(await refusal(client.chat.completions.create({ ...base, messages: hi, tools: [tool] }))).toEqual(
      unsupported('tools'),
    );
    expect(
      await refusal(client.completions.create({ ...base, prompt: PROMPT, logprobs: 1, stream: true })),
    ).toEqual(unsupported('logprobs'));
    // Accepted equivalents: best_of = n, response_format text.
    expect(
      (await client.completions.create({ ...base, prompt: PROMPT, best_of: 2, n: 2 })).choices,
    ).toHaveLength(2);
    await client.chat.completions.create({ ...base, messages: hi, response_format: { type: 'text' } });
  });

  it('bad values are a 400 naming the parameter', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ n: 0 }, 'n'],
      [{ n: 40 }, 'n'],
      [{ logprobs: 6 }, 'logprobs'],
      [{ logit_bias: { x: 1 } }, 'logit_bias'],
      [{ logit_bias: { 1: 500 } }, 'logit_bias'],
      [{ logit_bias: { 99999: 1 } }, 'logit_bias'],
      [{ frequency_penalty: 3 }, 'frequency_penalty'],
      [{ prompt: [] }, 'prompt'],
      [{ prompt: [1, 'a'] }, 'prompt'],
      [{ prompt: [''] }, 'prompt'],
    ];
    for (const [extra, param] of cases) {
      const body = { ...base, prompt: PROMPT, ...extra } as OpenAI.CompletionCreateParamsNonStreaming;
      const r = await refusal(client.completions.create(body));
      expect(r, JSON.stringify(extra)).toMatchObject({ status: 400, param });
    }
    const r = await refusal(
      client.chat.completions.create({
        ...base,
        messages: [{ role: 'user', content: 'x' }],
        top_logprobs: 2,
      }),
    );
    expect(r).toMatchObject({ status: 400, param: 'top_logprobs' });
    // A token id outside the vocabulary, as a prompt, is the engine's 400.
    expect((await refusal(client.completions.create({ ...base, prompt: [V()] }))).status).toBe(400);
  });
});
