/**
 * The reference engine's HTTP API (engine-restful-prototype.md): user APIs (generate, tokenize, batch_generate,
 * model_info) and research APIs (attention scores, latency, memory, profiling, sparsity masks, batch scheduling,
 * tensor split / parallel execute, pipeline steps and schedules, KV-cache clear and stats). Thin: each handler
 * validates its body, calls the engine and shapes the answer. 503 when no model is loaded; 422 naming the field
 * for bad input. /health belongs to the service's own routes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Engine, EngineError } from '../../engine/engine.js';
import { SCHEDULE_ALGORITHMS } from '../../engine/research/batch_schedule.js';
import { MAX_SPLITS, MAX_TENSOR_ELEMENTS, PARALLEL_OPS } from '../../engine/research/parallel.js';
import { PIPELINE_STEPS, SCHEDULE_STEPS } from '../../engine/research/pipeline.js';
import type { GenerationResult } from '../../engine/request.js';
import type { SamplingParams } from '../../engine/sampler.js';
import { FieldError, Fields, LIMITS } from '../../engine/validate.js';
import { Busy, ENGINE_LIMITS, onClientGone, Pool, SequenceQueue, sessionOf } from '../engine-admission.js';
import { Conflict } from '../engine-ops.js';
import { engineService, type EngineService, type Submitted } from '../engine-service.js';
import { documented, ENGINE_BODIES } from './engine-schemas.js';

export const NO_MODEL =
  'no model is loaded: start the server with a model directory (infersim serve --model <dir>)';

export function errorReply(reply: FastifyReply, status: number, message: string, field?: string) {
  return reply
    .code(status)
    .send({ detail: message, error: message, ...(field ? { errors: [{ field, message }] } : {}) });
}

/** Map what a handler throws to the error contract: bad input 422, anything else 500 with its message. */
export function sendError(reply: FastifyReply, e: unknown) {
  if (e instanceof Busy)
    return errorReply(reply.header('retry-after', String(e.retryAfterS)), 503, e.message);
  if (e instanceof DeadlineError) return errorReply(reply, 504, e.message);
  if (e instanceof Conflict) return errorReply(reply, 409, e.message);
  if (e instanceof FieldError) return errorReply(reply, 422, e.message, e.field);
  if (e instanceof EngineError || e instanceof RangeError) return errorReply(reply, 422, e.message);
  const msg = e instanceof Error ? e.message : String(e);
  return errorReply(reply, 500, `engine failure: ${msg}`);
}

type Handler = (
  engine: EngineService,
  f: Fields,
  req: FastifyRequest,
  reply: FastifyReply,
) => Promise<unknown> | unknown;

/** Sampling fields shared by /generate and /batch_generate. */
export function samplingFrom(
  f: Fields,
  engine: EngineService,
  defaults: { maxTokens: number; temperature: number },
): Partial<SamplingParams> {
  return {
    maxTokens: f.int('max_tokens', 1, LIMITS.maxTokens, defaults.maxTokens),
    temperature: f.number('temperature', 0, 2, defaults.temperature),
    topK: f.int('top_k', 0, engine.config.vocabSize, 0),
    topP: f.number('top_p', 1e-6, 1, 1),
    seed: f.optInt('seed', 0, 2 ** 32 - 1),
    stop: f.stop('stop'),
    ignoreEos: f.bool('ignore_eos', false),
  };
}

function generation(prompt: string, r: GenerationResult) {
  return {
    text: r.text,
    prompt,
    tokens_generated: r.completionTokens,
    prompt_tokens: r.promptTokens,
    finish_reason: r.finishReason,
    cached_prompt_tokens: r.cachedPromptTokens,
    ttft_ms: r.ttftMs,
    latency_ms: r.latencyMs,
    token_ids: r.tokenIds,
  };
}

class DeadlineError extends Error {}

/**
 * Submits `prompts` as one admission: refused (503) beyond the bounded queue, stopped at the deadline (504) and
 * when the client leaves before the answer (non-streamed: nobody would read it).
 */
async function runAdmitted(
  e: EngineService,
  reply: FastifyReply,
  f: Fields,
  submit: () => Submitted[],
  n: number,
): Promise<GenerationResult[]> {
  const deadlineS = f.number('timeout_s', 0.001, ENGINE_LIMITS.deadlineS, ENGINE_LIMITS.deadlineS);
  const release = engineQueues.get(e)!.admit(n);
  let reqs: Submitted[] = [];
  let timedOut = false;
  const stop = () => reqs.forEach((r) => e.abort(r));
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, deadlineS * 1000);
  try {
    reqs = submit();
    onClientGone(reply, stop);
    const out = await Promise.all(reqs.map((r) => r.done));
    if (timedOut)
      throw new DeadlineError(
        `generation passed its deadline of ${deadlineS} s and was stopped (timeout_s; the server's limit is ` +
          `INFERSIM_ENGINE_DEADLINE_S = ${ENGINE_LIMITS.deadlineS} s)`,
      );
    return out;
  } finally {
    clearTimeout(timer);
    release();
  }
}

const engineQueues = new WeakMap<EngineService, SequenceQueue>();
/** /parallel/execute keeps the engine's kernel threads busy: one run at a time, a few waiting, else 503. */
const parallelPool = new Pool(1, 4);

/**
 * `given`: an Engine is served on this thread (tests, benches); the server passes a WorkerEngine, whose model
 * runs on its own thread. Research state (tensor splits per session) lives where the engine runs.
 */
export function registerEngineRoutes(app: FastifyInstance, given: Engine | EngineService | null): void {
  const engine = engineService(given);
  if (engine && !engineQueues.has(engine)) engineQueues.set(engine, new SequenceQueue(ENGINE_LIMITS.queue));
  const route = (method: 'GET' | 'POST', url: string, h: Handler) =>
    app.route({
      method,
      url,
      ...(url in ENGINE_BODIES ? documented(ENGINE_BODIES[url as keyof typeof ENGINE_BODIES]) : {}),
      handler: async (req, reply) => {
        if (!engine) return errorReply(reply, 503, NO_MODEL);
        try {
          const f = new Fields(method === 'GET' ? {} : (req.body ?? {}));
          const out = await h(engine, f, req, reply);
          if (out !== reply && out !== undefined) {
            const bytes = Buffer.byteLength(JSON.stringify(out));
            if (bytes > ENGINE_LIMITS.responseBytes)
              return errorReply(
                reply,
                413,
                `the answer would be ${bytes} bytes, over the ${ENGINE_LIMITS.responseBytes}-byte limit: ask for less (a shorter prompt, a head_idx, a higher threshold)`,
              );
          }
          return out;
        } catch (e) {
          return sendError(reply, e);
        }
      },
    });

  // ---- user APIs -------------------------------------------------------------------------------------------
  route('POST', '/generate', async (e, f, req, reply) => {
    const prompt = f.string('prompt');
    const params = samplingFrom(f, e, { maxTokens: 50, temperature: 0.7 });
    const session = sessionOf(req);
    const [r] = await runAdmitted(e, reply, f, () => [e.submit(prompt, params, null, session)], 1);
    return generation(prompt, r!);
  });

  route('POST', '/tokenize', (e, _f, req) => {
    const query = (req.query ?? {}) as Record<string, unknown>;
    const body = req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
    const f = new Fields({ text: body['text'] ?? query['text'] });
    const text = f.string('text', { allowEmpty: true, max: ENGINE_LIMITS.tokenizeChars });
    const ids = e.tokenize(text);
    return { tokens: ids, token_strings: ids.map((id) => e.tokenizer.decode([id])), count: ids.length, text };
  });

  route('POST', '/batch_generate', async (e, f, req, reply) => {
    const prompts = f.stringArray('prompts', 1, LIMITS.batch, LIMITS.promptChars);
    const params = samplingFrom(f, e, { maxTokens: 50, temperature: 0.7 });
    const session = sessionOf(req);
    const t0 = performance.now();
    // All requests are submitted at once: the scheduler batches them continuously.
    const submitAll = () => {
      const reqs: Submitted[] = [];
      prompts.forEach((p, i) => {
        try {
          const seeded = params.seed == null ? params : { ...params, seed: params.seed + i };
          reqs.push(e.submit(p, seeded, null, session));
        } catch (err) {
          reqs.forEach((r) => e.abort(r));
          throw err instanceof EngineError
            ? new FieldError(`prompts[${i}]`, `prompts[${i}]: ${err.message}`)
            : err;
        }
      });
      return reqs;
    };
    const results = await runAdmitted(e, reply, f, submitAll, prompts.length);
    return {
      results: results.map((r, i) => generation(prompts[i]!, r)),
      batch_size: prompts.length,
      total_ms: performance.now() - t0,
      total_tokens_generated: results.reduce((a, r) => a + r.completionTokens, 0),
    };
  });

  route('GET', '/model_info', (e) => e.op('modelInfo', undefined));

  // ---- research APIs ---------------------------------------------------------------------------------------
  route('POST', '/debug/attention_scores', async (e, f, req) => {
    const prompt = f.string('prompt', { max: 4000 });
    const layer = f.int('layer_idx', 0, e.config.numLayers - 1, 0);
    const head = f.optInt('head_idx', 0, e.config.numHeads - 1);
    const threshold = f.number('threshold', 0, 1, 0.01);
    if (e.tokenize(prompt).length > 512)
      throw new FieldError('prompt', 'prompt must be at most 512 tokens here');
    return e.op('attentionScores', { session: sessionOf(req), prompt, layer, head, threshold });
  });

  route('GET', '/debug/latency_stats', (e) => e.op('latencyStats', undefined));
  route('GET', '/debug/memory_usage', (e) => e.op('memoryUsage', undefined));

  route('POST', '/debug/profiling/start', async (e) => ({
    status: 'started',
    ...(await e.op('profilingStart', undefined)),
  }));
  route('POST', '/debug/profiling/stop', async (e, _f, _req, reply) => {
    const r = await e.op('profilingStop', undefined);
    if (!r)
      return errorReply(reply, 409, 'no profiling session is running: POST /debug/profiling/start first');
    return { status: 'stopped', duration_ms: r.durationMs, ops: r.ops };
  });

  // A mask belongs to the session that set it (X-Session-Id, else the client address): it applies to that
  // session's later generations and research forwards only (engine-ops.ts keeps a bounded few sessions' masks).
  route('POST', '/optimization/sparsity_mask', async (e, f, req) => {
    const session = sessionOf(req);
    const method = f.has('mask_pattern')
      ? f.oneOf('mask_pattern', ['top_k', 'threshold', 'ratio', 'none'])
      : f.oneOf('method', ['top_k', 'threshold', 'ratio', 'none'], 'top_k');
    if (method === 'none' || f.bool('clear', false)) {
      await e.op('setSparsity', { session, mask: null });
      return { applied: false, mask: null, message: 'sparsity mask cleared' };
    }
    const layers = f.has('layers')
      ? f.intArray('layers', 1, e.config.numLayers, 0, e.config.numLayers - 1)
      : null;
    const ratio = f.number('sparsity_ratio', 0, 0.99, f.number('ratio', 0, 0.99, 0.5));
    let kind = method;
    // {"method": "top_k", "sparsity_ratio": 0.8} without k: keep the strongest 20% of keys per query.
    if (method === 'top_k' && !f.has('k')) {
      if (!f.has('sparsity_ratio') && !f.has('ratio'))
        throw new FieldError('k', 'k is required for top_k (or give sparsity_ratio)');
      kind = 'ratio';
    }
    const mask = {
      method: kind as 'top_k' | 'threshold' | 'ratio',
      k: f.int('k', 1, 1_000_000, 1_000_000),
      threshold: f.number('threshold', 0, 1, 0.01),
      ratio,
      layers,
    };
    if (kind === 'threshold' && !f.has('threshold'))
      throw new FieldError('threshold', 'threshold is required for threshold masks');
    await e.op('setSparsity', { session, mask });
    return {
      applied: true,
      mask,
      message:
        'applied to attention in this session\'s later forward passes until cleared (method "none"); ' +
        'other sessions are unaffected',
    };
  });

  route('POST', '/optimization/batch_schedule', async (e, f, req) => {
    const raw = f.array('requests', 1, LIMITS.batch);
    const reqs = raw.map((r, i) => {
      const g = new Fields(r);
      try {
        return {
          prompt: g.string('prompt'),
          priority: g.number('priority', -1e6, 1e6, 0),
          maxTokens: g.int('max_tokens', 1, LIMITS.maxTokens, 16),
        };
      } catch (err) {
        throw err instanceof FieldError
          ? new FieldError(`requests[${i}].${err.field}`, `requests[${i}].${err.message}`)
          : err;
      }
    });
    const strategy = f.oneOf(
      'strategy',
      ['minimize_latency', 'maximize_throughput', 'fair'],
      'minimize_latency',
    );
    const fallback = strategy === 'minimize_latency' ? 'shortest_first' : 'fcfs';
    const algorithm = f.oneOf('algorithm', [...SCHEDULE_ALGORITHMS], fallback);
    const maxBatch = f.int('max_batch_size', 1, LIMITS.batch, 4);
    for (const [i, r] of reqs.entries())
      if (e.tokenize(r.prompt).length + 1 >= e.maxModelLen)
        throw new FieldError(`requests[${i}].prompt`, 'prompt is too long');
    const out = await e.op('batchSchedule', {
      session: sessionOf(req),
      requests: reqs,
      algorithm,
      maxBatch,
      temperature: f.number('temperature', 0, 2, 0),
    });
    return {
      ...out,
      strategy,
      max_batch_size: maxBatch,
      note: 'priority_queue runs lower priority values first',
    };
  });

  route('POST', '/parallel/tensor_split', (e, f, req) => {
    const source = f.oneOf('source', ['random', 'embedding'], 'random');
    let shape: number[];
    if (source === 'embedding') shape = [e.config.vocabSize, e.config.hiddenSize];
    else {
      shape = f.intArray('tensor_shape', 1, 4, 1, 65536);
      const n = shape.reduce((a, b) => a * b, 1);
      if (n > MAX_TENSOR_ELEMENTS)
        throw new FieldError(
          'tensor_shape',
          `tensor_shape must have at most ${MAX_TENSOR_ELEMENTS} elements`,
        );
    }
    const seed = source === 'random' ? f.int('seed', 0, 2 ** 32 - 1, 0) : 0;
    let dim = f.int('split_dim', -shape.length, shape.length - 1, 0);
    if (dim < 0) dim += shape.length;
    const numSplits = f.int('num_splits', 1, Math.min(MAX_SPLITS, shape[dim]!), 2);
    return e.op('tensorSplit', { session: sessionOf(req), source, shape, seed, dim, numSplits });
  });

  route('POST', '/parallel/execute', async (e, f, req) => {
    const splits = f.has('splits') ? f.stringArray('splits', 1, MAX_SPLITS, 64) : null;
    const operation = f.oneOf('operation', [...PARALLEL_OPS], 'matmul');
    const gather = f.bool('gather', true);
    const seed = f.int('seed', 0, 2 ** 32 - 1, 0);
    return parallelPool.run(() =>
      e.op('parallelExecute', { session: sessionOf(req), splits, operation, gather, seed }),
    );
  });

  route('POST', '/pipeline/step_execute', async (e, f, req) => {
    const step = f.oneOf('step', [...PIPELINE_STEPS], 'embed');
    const ids = f.has('input_ids')
      ? f.intArray('input_ids', 1, Math.min(512, e.maxModelLen), 0, e.config.vocabSize - 1)
      : e.tokenize(f.string('prompt', { max: 4000 }));
    if (ids.length === 0 || ids.length > Math.min(512, e.maxModelLen))
      throw new FieldError('prompt', 'prompt must be 1 to 512 tokens');
    const layer = f.int('layer_idx', 0, e.config.numLayers - 1, 0);
    return e.op('stepExecute', {
      session: sessionOf(req),
      ids,
      step,
      layer,
      returnIntermediate: f.bool('return_intermediate', false),
    });
  });

  route('POST', '/pipeline/schedule', async (e, f) => {
    const steps = f.has('steps')
      ? f.stringArray('steps', 1, 16, 32)
      : ['tokenize', 'embed', 'attention', 'output'];
    steps.forEach((s, i) => {
      if (!(SCHEDULE_STEPS as readonly string[]).includes(s))
        throw new FieldError(`steps[${i}]`, `steps[${i}] must be one of ${SCHEDULE_STEPS.join(', ')}`);
    });
    const hasLayers = steps.includes('attention') || steps.includes('mlp');
    if (
      steps.includes('output') &&
      (!hasLayers || steps.indexOf('output') < Math.max(steps.indexOf('attention'), steps.indexOf('mlp')))
    )
      throw new FieldError('steps', "steps: 'output' must come after 'attention' or 'mlp'");
    // Each step consumes the one before it (an 'embed' after the layers, or a 'tokenize' after 'embed', would
    // hand them no input): the pipeline's order, attention and mlp interchangeable, repeats allowed.
    const rank = (s: string) => ({ tokenize: 0, embed: 1, attention: 2, mlp: 2, output: 3 })[s] ?? 0;
    steps.forEach((s, i) => {
      if (i > 0 && rank(s) < rank(steps[i - 1]!))
        throw new FieldError(
          `steps[${i}]`,
          `steps[${i}]: '${s}' cannot come after '${steps[i - 1]}' (order: tokenize, embed, attention or mlp, output)`,
        );
    });
    const batch = f.int('batch_size', 1, 16, 2);
    const prompts = f.has('prompts') ? f.stringArray('prompts', 1, 16, 2000) : null;
    const base = prompts ?? [f.has('prompt') ? f.string('prompt', { max: 2000 }) : 'In the beginning'];
    const list = Array.from({ length: batch }, (_, i) => base[i % base.length]!);
    for (const [i, p] of list.entries())
      if (e.tokenize(p).length === 0 || e.tokenize(p).length > 512)
        throw new FieldError(`prompts[${i}]`, 'each prompt must be 1 to 512 tokens');
    const overlap = f.bool('overlap_comm', false);
    const r = await e.op('pipelineSchedule', {
      prompts: list,
      steps: steps as (typeof SCHEDULE_STEPS)[number][],
      overlap,
    });
    return { steps, batch_size: batch, overlap_comm: overlap, ...r };
  });

  route('POST', '/cache/clear', (e) => e.op('cacheClear', undefined));
  route('GET', '/cache/stats', (e) => e.op('cacheStats', undefined));
}
