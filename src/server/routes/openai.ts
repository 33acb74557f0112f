/**
 * OpenAI-compatible serving on the reference engine: /v1/models, /v1/completions and /v1/chat/completions, with
 * streaming as server-sent events (`data: {chunk}` … `data: [DONE]`), so the official clients work against it.
 * n choices, lists of prompts, logprobs, echo, logit_bias and penalties are implemented; what the engine cannot do
 * is refused by name. Errors carry OpenAI's `error` object {message, type, param, code} with OpenAI's statuses
 * (400 bad request, 404 unknown model) and `detail` with the same message.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EngineError, type Engine } from '../../engine/engine.js';
import type { GenerationResult } from '../../engine/request.js';
import type { SamplingParams } from '../../engine/sampler.js';
import type { ChatMessage } from '../../engine/tokenizer.js';
import { FieldError, Fields, LIMITS } from '../../engine/validate.js';
import { sessionOf } from '../engine-admission.js';
import { engineService, type EngineService, type Submitted } from '../engine-service.js';
import { NO_MODEL } from './engine.js';
import { documented, OPENAI_BODIES } from './engine-schemas.js';
import { chatLogprobs, completionLogprobs as completionLogprobsObject, speller } from './openai-format.js';
import {
  chatLogprobs as chatLogprobsParam,
  choiceSeed,
  choicesPerPrompt,
  completionLogprobs,
  completionPrompts,
  includeUsage,
  refuseChatParams,
  refuseCompletionParams,
  samplingParams,
  Unsupported,
} from './openai-params.js';

class ModelNotFound extends Error {}

function oaError(
  reply: FastifyReply,
  status: number,
  message: string,
  param: string | null,
  type = 'invalid_request_error',
  code: string | null = null,
) {
  return reply.code(status).send({ detail: message, error: { message, type, param, code } });
}

/** The model a request names must be the one served (absent: the served one, as vLLM allows). */
function checkModel(f: Fields, e: EngineService): void {
  if (!f.has('model')) return;
  const m = f.raw('model');
  if (typeof m !== 'string') throw new FieldError('model', 'model must be a string');
  if (m !== e.name)
    throw new ModelNotFound(`The model \`${m}\` does not exist. This server serves \`${e.name}\`.`);
}

function finishReason(r: GenerationResult): string {
  return r.finishReason === 'length' ? 'length' : 'stop';
}

/** One choice to generate: its prompt ids, its parameters and its index in the response. */
interface Job {
  index: number;
  ids: number[];
  params: Partial<SamplingParams>;
}

function jobsFor(prompts: number[][], n: number, params: Partial<SamplingParams>): Job[] {
  return prompts.flatMap((ids, p) =>
    Array.from({ length: n }, (_, j) => ({
      index: p * n + j,
      ids,
      params: { ...params, seed: choiceSeed(params.seed, j) },
    })),
  );
}

function usage(prompts: number[][], rs: readonly GenerationResult[]) {
  const prompt = prompts.reduce((a, p) => a + p.length, 0);
  const completion = rs.reduce((a, r) => a + r.completionTokens, 0);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Submit every job, or none: one the engine refuses aborts those already submitted. */
function submitAll(
  e: EngineService,
  jobs: readonly Job[],
  session: string,
  onDelta?: (j: Job, d: string) => void,
): Submitted[] {
  const handles: Submitted[] = [];
  try {
    for (const j of jobs)
      handles.push(e.submit(j.ids, j.params, onDelta ? (d) => onDelta(j, d) : null, session));
  } catch (err) {
    for (const h of handles) e.abort(h);
    throw err;
  }
  return handles;
}

/**
 * Server-sent events on the raw response; aborts the requests if the client goes away. The requests are submitted
 * before the reply is hijacked, so one the engine refuses (EngineError) is still an ordinary 400; their deltas only
 * come from later engine steps, after the headers below are out.
 */
async function stream(
  reply: FastifyReply,
  e: EngineService,
  jobs: readonly Job[],
  chunk: (index: number, delta: string | null, r: GenerationResult | null) => unknown,
  first: ((index: number) => unknown) | null,
  last: ((rs: GenerationResult[]) => unknown) | null,
) {
  const raw = reply.raw;
  const write = (obj: unknown) => {
    if (!raw.writableEnded && !raw.destroyed) raw.write(`data: ${JSON.stringify(obj)}\n\n`);
  };
  const handles = submitAll(e, jobs, sessionOf(reply.request), (j, delta) =>
    write(chunk(j.index, delta, null)),
  );
  reply.hijack();
  // The response's 'close' before its end means the client went away (the request's 'close' fires once the body
  // is read, so it cannot tell). A client that left before this point has closed the response already.
  const gone = () => {
    if (!raw.writableEnded) for (const h of handles) e.abort(h);
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
  if (first) for (const j of jobs) write(first(j.index));
  try {
    const rs = await Promise.all(
      handles.map(async (h, i) => {
        const r = await h.done;
        write(chunk(jobs[i]!.index, null, r));
        return r;
      }),
    );
    if (last) write(last(rs));
  } catch (err) {
    for (const h of handles) e.abort(h);
    write({ error: { message: err instanceof Error ? err.message : String(err), type: 'server_error' } });
  }
  if (!raw.writableEnded && !raw.destroyed) raw.end('data: [DONE]\n\n');
}

function chatMessages(f: Fields): ChatMessage[] {
  return f.array('messages', 1, LIMITS.messages).map((m, i): ChatMessage => {
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
}

export function registerOpenAiRoutes(app: FastifyInstance, given: Engine | EngineService | null): void {
  const engine = engineService(given);
  const created = () => Math.floor(Date.now() / 1000);
  const model = (e: EngineService) => ({
    id: e.name,
    object: 'model',
    created: created(),
    owned_by: 'infersim',
  });

  const guard =
    (h: (e: EngineService, f: Fields, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      if (!engine) return oaError(reply, 503, NO_MODEL, null, 'server_error');
      try {
        const f = new Fields(req.body, false);
        checkModel(f, engine);
        return await h(engine, f, req, reply);
      } catch (err) {
        if (err instanceof ModelNotFound)
          return oaError(reply, 404, err.message, 'model', 'invalid_request_error', 'model_not_found');
        if (err instanceof Unsupported)
          return oaError(
            reply,
            400,
            err.message,
            err.field,
            'invalid_request_error',
            'unsupported_parameter',
          );
        if (err instanceof FieldError) return oaError(reply, 400, err.message, err.field);
        if (err instanceof EngineError) return oaError(reply, 400, err.message, null);
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
    return { object: 'list', data: [model(engine)] };
  });

  app.get<{ Params: { id: string } }>('/v1/models/:id', async (req, reply) => {
    if (!engine) return oaError(reply, 503, NO_MODEL, null, 'server_error');
    if (req.params.id !== engine.name)
      return oaError(
        reply,
        404,
        `The model \`${req.params.id}\` does not exist.`,
        'model',
        'invalid_request_error',
        'model_not_found',
      );
    return model(engine);
  });

  app.post(
    '/v1/completions',
    documented(OPENAI_BODIES['/v1/completions']),
    guard(async (e, f, req, reply) => {
      const given = completionPrompts(f);
      const n = choicesPerPrompt(f, given.length);
      refuseCompletionParams(f, n);
      const k = completionLogprobs(f);
      const echo = f.bool('echo', false);
      const streaming = f.bool('stream', false);
      if (streaming && k !== null) throw new Unsupported('logprobs', 'logprobs is not supported with stream');
      const params = samplingParams(f, e, k);
      const spell = speller(e, f.bool('return_tokens_as_token_ids', false));
      const prompts = given.map((p) => (typeof p === 'string' ? e.tokenize(p) : p));
      const promptText = given.map((p) => (typeof p === 'string' ? p : e.detokenize(p)));
      const jobs = jobsFor(prompts, n, params);
      const base = {
        id: `cmpl-${randomUUID()}`,
        object: 'text_completion',
        created: created(),
        model: e.name,
      };
      if (streaming) {
        const choice = (index: number, text: string, r: GenerationResult | null) => ({
          ...base,
          choices: [{ text, index, logprobs: null, finish_reason: r ? finishReason(r) : null }],
        });
        return stream(
          reply,
          e,
          jobs,
          // One choice: its last chunk carries the usage too (as this server always did).
          (index, delta, r) => ({
            ...choice(index, delta ?? '', r),
            ...(r && jobs.length === 1 ? { usage: usage(prompts, [r]) } : {}),
          }),
          echo ? (index) => choice(index, promptText[Math.floor(index / n)]!, null) : null,
          includeUsage(f) ? (rs) => ({ ...base, choices: [], usage: usage(prompts, rs) }) : null,
        );
      }
      const rs = await Promise.all(submitAll(e, jobs, sessionOf(req)).map((h) => h.done));
      const echoLps =
        echo && k !== null ? await Promise.all(prompts.map((ids) => e.promptLogprobs(ids, k))) : null;
      const choices = rs.map((r, i) => {
        const p = Math.floor(i / n);
        const ids = [...(echo ? prompts[p]! : []), ...r.tokenIds.slice(0, r.logprobs?.length ?? 0)];
        const lps = [...(echoLps ? echoLps[p]! : []), ...(r.logprobs ?? [])];
        return {
          text: (echo ? promptText[p]! : '') + r.text,
          index: jobs[i]!.index,
          logprobs: k === null ? null : completionLogprobsObject(spell, lps, ids),
          finish_reason: finishReason(r),
        };
      });
      return { ...base, choices, usage: usage(prompts, rs) };
    }),
  );

  app.post(
    '/v1/chat/completions',
    documented(OPENAI_BODIES['/v1/chat/completions']),
    guard(async (e, f, req, reply) => {
      const messages = chatMessages(f);
      refuseChatParams(f);
      const n = choicesPerPrompt(f, 1);
      const k = chatLogprobsParam(f);
      const streaming = f.bool('stream', false);
      if (streaming && k !== null) throw new Unsupported('logprobs', 'logprobs is not supported with stream');
      const params = samplingParams(f, e, k);
      const spell = speller(e, f.bool('return_tokens_as_token_ids', false));
      const ids = e.chatPrompt(messages);
      const jobs = jobsFor([ids], n, params);
      const base = {
        id: `chatcmpl-${randomUUID()}`,
        object: 'chat.completion.chunk',
        created: created(),
        model: e.name,
      };
      if (streaming)
        return stream(
          reply,
          e,
          jobs,
          (index, delta, r) => ({
            ...base,
            choices: [
              {
                index,
                delta: delta === null ? {} : { content: delta },
                logprobs: null,
                finish_reason: r ? finishReason(r) : null,
              },
            ],
          }),
          (index) => ({
            ...base,
            choices: [
              { index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
            ],
          }),
          includeUsage(f) ? (rs) => ({ ...base, choices: [], usage: usage([ids], rs) }) : null,
        );
      const rs = await Promise.all(submitAll(e, jobs, sessionOf(req)).map((h) => h.done));
      return {
        ...base,
        object: 'chat.completion',
        choices: rs.map((r, i) => ({
          index: jobs[i]!.index,
          message: { role: 'assistant', content: r.text, refusal: null },
          logprobs: r.logprobs ? chatLogprobs(spell, r.logprobs) : null,
          finish_reason: finishReason(r),
        })),
        usage: usage([ids], rs),
      };
    }),
  );
}
