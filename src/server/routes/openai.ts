/**
 * OpenAI-compatible serving on the reference engine: /v1/models, /v1/completions and /v1/chat/completions, with
 * streaming as server-sent events (`data: {chunk}` … `data: [DONE]`), so the official clients work against it.
 * Errors carry OpenAI's `error` object (what its clients read) and `detail` with the same message.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EngineError, type Engine } from '../../engine/engine.js';
import type { GenerationResult } from '../../engine/request.js';
import type { SamplingParams } from '../../engine/sampler.js';
import type { ChatMessage } from '../../engine/tokenizer.js';
import { FieldError, Fields, LIMITS } from '../../engine/validate.js';
import { NO_MODEL } from './engine.js';

function oaError(
  reply: FastifyReply,
  status: number,
  message: string,
  param: string | null,
  type = 'invalid_request_error',
) {
  return reply.code(status).send({ detail: message, error: { message, type, param, code: null } });
}

function sampling(f: Fields, e: Engine): Partial<SamplingParams> {
  const maxField = f.has('max_completion_tokens') ? 'max_completion_tokens' : 'max_tokens';
  const n = f.int('n', 1, 1, 1);
  void n;
  return {
    maxTokens: f.int(maxField, 1, LIMITS.maxTokens, 16),
    temperature: f.number('temperature', 0, 2, 1),
    topP: f.number('top_p', 1e-6, 1, 1),
    topK: f.int('top_k', 0, e.config.vocabSize, 0),
    seed: f.optInt('seed', 0, 2 ** 32 - 1),
    stop: f.stop('stop'),
  };
}

function usage(r: GenerationResult) {
  return {
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: r.promptTokens + r.completionTokens,
  };
}

function finishReason(r: GenerationResult): string {
  return r.finishReason === 'length' ? 'length' : 'stop';
}

/**
 * Server-sent events on the raw response; aborts the request if the client goes away. The request is submitted
 * before the reply is hijacked, so one the engine refuses (EngineError) is still an ordinary 422; its deltas only
 * come from later engine steps, after the headers below are out.
 */
async function stream(
  reply: FastifyReply,
  e: Engine,
  prompt: string,
  params: Partial<SamplingParams>,
  chunk: (delta: string | null, r: GenerationResult | null) => unknown,
  first: unknown | null,
) {
  const raw = reply.raw;
  const write = (obj: unknown) => {
    if (!raw.writableEnded && !raw.destroyed) raw.write(`data: ${JSON.stringify(obj)}\n\n`);
  };
  const handle = e.submit(prompt, params, (delta) => write(chunk(delta, null)));
  reply.hijack();
  // The response's 'close' before its end means the client went away (the request's 'close' fires once the body
  // is read, so it cannot tell). A client that left before this point has closed the response already.
  const gone = () => {
    if (!raw.writableEnded) e.abort(handle);
  };
  raw.on('close', gone);
  if (raw.destroyed) gone();
  raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // Headers now, not with the first token: clients (the openai one among them) wait for them before reading.
  raw.flushHeaders();
  if (first) write(first);
  try {
    const r = await handle.done;
    write(chunk(null, r));
  } catch (err) {
    write({ error: { message: err instanceof Error ? err.message : String(err), type: 'server_error' } });
  }
  if (!raw.writableEnded && !raw.destroyed) raw.end('data: [DONE]\n\n');
}

export function registerOpenAiRoutes(app: FastifyInstance, engine: Engine | null): void {
  const created = () => Math.floor(Date.now() / 1000);

  const guard =
    (h: (e: Engine, f: Fields, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      if (!engine) return oaError(reply, 503, NO_MODEL, null, 'server_error');
      try {
        return await h(engine, new Fields(req.body, false), req, reply);
      } catch (err) {
        if (err instanceof FieldError) return oaError(reply, 422, err.message, err.field);
        if (err instanceof EngineError) return oaError(reply, 422, err.message, null);
        return oaError(
          reply,
          500,
          `engine failure: ${err instanceof Error ? err.message : String(err)}`,
          null,
          'server_error',
        );
      }
    };

  app.get('/v1/models', async (_req, reply) => {
    if (!engine) return oaError(reply, 503, NO_MODEL, null, 'server_error');
    return {
      object: 'list',
      data: [{ id: engine.name, object: 'model', created: created(), owned_by: 'infersim' }],
    };
  });

  app.post(
    '/v1/completions',
    guard(async (e, f, req, reply) => {
      const raw = f.raw('prompt');
      const prompt =
        Array.isArray(raw) && raw.length === 1 && typeof raw[0] === 'string' ? raw[0] : f.string('prompt');
      if (prompt.length > LIMITS.promptChars)
        throw new FieldError('prompt', `prompt must be at most ${LIMITS.promptChars} characters`);
      const params = sampling(f, e);
      const id = `cmpl-${randomUUID()}`;
      const base = { id, object: 'text_completion', created: created(), model: e.name };
      if (f.bool('stream', false))
        return stream(
          reply,
          e,
          prompt,
          params,
          (delta, r) => ({
            ...base,
            choices: [
              { text: delta ?? '', index: 0, logprobs: null, finish_reason: r ? finishReason(r) : null },
            ],
            ...(r ? { usage: usage(r) } : {}),
          }),
          null,
        );
      const r = await e.generate(prompt, params);
      return {
        ...base,
        choices: [{ text: r.text, index: 0, logprobs: null, finish_reason: finishReason(r) }],
        usage: usage(r),
      };
    }),
  );

  app.post(
    '/v1/chat/completions',
    guard(async (e, f, req, reply) => {
      const messages = f.array('messages', 1, LIMITS.messages).map((m, i): ChatMessage => {
        const g = new Fields(m);
        try {
          const content = g.raw('content');
          const text = Array.isArray(content)
            ? content
                .map((p) =>
                  p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string'
                    ? (p as { text: string }).text
                    : '',
                )
                .join('')
            : g.string('content', { allowEmpty: true });
          return {
            role: g.oneOf('role', ['system', 'user', 'assistant', 'developer', 'tool']),
            content: text,
          };
        } catch (err) {
          throw err instanceof FieldError
            ? new FieldError(`messages[${i}].${err.field}`, `messages[${i}].${err.message}`)
            : err;
        }
      });
      const prompt = e.tokenizer.applyChat(messages);
      if (prompt.length > LIMITS.promptChars) throw new FieldError('messages', 'messages are too long');
      const params = sampling(f, e);
      const id = `chatcmpl-${randomUUID()}`;
      const base = { id, object: 'chat.completion.chunk', created: created(), model: e.name };
      if (f.bool('stream', false))
        return stream(
          reply,
          e,
          prompt,
          params,
          (delta, r) => ({
            ...base,
            choices: [
              {
                index: 0,
                delta: delta === null ? {} : { content: delta },
                logprobs: null,
                finish_reason: r ? finishReason(r) : null,
              },
            ],
          }),
          {
            ...base,
            choices: [
              { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
            ],
          },
        );
      const r = await e.generate(prompt, params);
      return {
        ...base,
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: r.text },
            logprobs: null,
            finish_reason: finishReason(r),
          },
        ],
        usage: usage(r),
      };
    }),
  );
}
