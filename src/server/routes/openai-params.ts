/**
 * Reading an OpenAI request for the reference engine: the sampling parameters it implements (n, logprobs, echo,
 * logit_bias, penalties, seed, stop), prompts given as a string, a list of strings, token ids or lists of them, and
 * the parameters it refuses by name (what a CPU engine cannot do: best_of > n, suffix, tools, response formats).
 */
import type { EngineService } from '../engine-service.js';
import type { SamplingParams } from '../../engine/sampler.js';
import { FieldError, type Fields, LIMITS } from '../../engine/validate.js';

/** A parameter OpenAI defines that this engine does not implement: 400 with code unsupported_parameter. */
export class Unsupported extends FieldError {}

/** Most choices one request may ask for (prompts × n). */
export const MAX_CHOICES = LIMITS.batch;

export function samplingParams(
  f: Fields,
  e: EngineService,
  logprobs: number | null,
): Partial<SamplingParams> {
  const maxField = f.has('max_completion_tokens') ? 'max_completion_tokens' : 'max_tokens';
  return {
    maxTokens: f.int(maxField, 1, LIMITS.maxTokens, 16),
    temperature: f.number('temperature', 0, 2, 1),
    topP: f.number('top_p', 1e-6, 1, 1),
    topK: f.int('top_k', 0, e.config.vocabSize, 0),
    seed: f.optInt('seed', 0, 2 ** 32 - 1),
    stop: f.stop('stop'),
    frequencyPenalty: f.number('frequency_penalty', -2, 2, 0),
    presencePenalty: f.number('presence_penalty', -2, 2, 0),
    logitBias: logitBias(f, e.config.vocabSize),
    logprobs,
  };
}

/** logit_bias: {"token id": bias from -100 to 100}, as OpenAI takes it. */
function logitBias(f: Fields, vocab: number): Map<number, number> | null {
  if (!f.has('logit_bias')) return null;
  const v = f.raw('logit_bias');
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new FieldError('logit_bias', 'logit_bias must be an object mapping token ids to biases');
  const out = new Map<number, number>();
  for (const [k, b] of Object.entries(v as Record<string, unknown>)) {
    const id = Number(k);
    if (!/^\d+$/.test(k) || id >= vocab)
      throw new FieldError('logit_bias', `logit_bias key "${k}" must be a token id from 0 to ${vocab - 1}`);
    if (typeof b !== 'number' || !Number.isFinite(b) || b < -100 || b > 100)
      throw new FieldError('logit_bias', `logit_bias["${k}"] must be a number from -100 to 100`);
    out.set(id, b);
  }
  return out.size ? out : null;
}

/** n: choices per prompt. */
export function choicesPerPrompt(f: Fields, prompts: number): number {
  const n = f.int('n', 1, MAX_CHOICES, 1);
  if (n * prompts > MAX_CHOICES)
    throw new FieldError('n', `n × prompts must be at most ${MAX_CHOICES} (got ${n} × ${prompts})`);
  return n;
}

/** The completions prompt: a string, a list of strings, a list of token ids or a list of such lists. */
export function completionPrompts(f: Fields): (string | number[])[] {
  const v = f.raw('prompt');
  const bad = () =>
    new FieldError(
      'prompt',
      'prompt must be a string, a list of strings, token ids or a list of token-id lists',
    );
  const ids = (x: unknown): x is number[] =>
    Array.isArray(x) &&
    x.length > 0 &&
    x.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0);
  let list: (string | number[])[];
  if (typeof v === 'string') list = [v];
  else if (ids(v)) list = [v];
  else if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) list = v as string[];
  else if (Array.isArray(v) && v.length > 0 && v.every(ids)) list = v;
  else throw bad();
  if (list.length > MAX_CHOICES) throw new FieldError('prompt', `at most ${MAX_CHOICES} prompts per request`);
  list.forEach((p, i) => {
    if (typeof p === 'string' && p.length === 0) throw new FieldError('prompt', `prompt ${i} is empty`);
    if (p.length > LIMITS.promptChars)
      throw new FieldError('prompt', `prompt must be at most ${LIMITS.promptChars} characters`);
  });
  return list;
}

/** Completions' logprobs: an integer 0..5 (alternatives per token), or absent. */
export function completionLogprobs(f: Fields): number | null {
  return f.has('logprobs') ? f.int('logprobs', 0, 5) : null;
}

/** Chat's logprobs (boolean) and top_logprobs (0..20, only with logprobs). */
export function chatLogprobs(f: Fields): number | null {
  const on = f.bool('logprobs', false);
  if (f.has('top_logprobs') && !on)
    throw new FieldError('top_logprobs', 'top_logprobs requires logprobs to be true');
  return on ? f.int('top_logprobs', 0, 20, 0) : null;
}

const refuse = (param: string, why: string) => {
  throw new Unsupported(param, `${param} is not supported by the reference engine: ${why}`);
};

/** Completions parameters the engine does not implement. */
export function refuseCompletionParams(f: Fields, n: number): void {
  if (f.has('best_of') && f.raw('best_of') !== n)
    refuse('best_of', 'it returns every sampled choice; use n (best_of equal to n is accepted)');
  if (f.has('suffix') && f.raw('suffix') !== '')
    refuse('suffix', 'the models it runs have no insertion mode');
}

/** Chat parameters the engine does not implement. */
export function refuseChatParams(f: Fields): void {
  const rf = f.raw('response_format') as { type?: unknown } | undefined | null;
  if (rf !== undefined && rf !== null && rf.type !== 'text')
    refuse('response_format', 'there is no constrained decoding; only {"type": "text"}');
  const tools = f.raw('tools');
  if (Array.isArray(tools) ? tools.length > 0 : f.has('tools')) refuse('tools', 'there is no tool calling');
  if (f.has('tool_choice') && f.raw('tool_choice') !== 'none')
    refuse('tool_choice', 'there is no tool calling');
  for (const p of ['functions', 'function_call', 'audio', 'prediction', 'web_search_options'])
    if (f.has(p)) refuse(p, 'text generation only');
  const modalities = f.raw('modalities');
  if (Array.isArray(modalities) && modalities.some((m) => m !== 'text'))
    refuse('modalities', 'text generation only');
}

/** stream_options.include_usage: a last chunk with the usage and no choices. */
export function includeUsage(f: Fields): boolean {
  const o = f.raw('stream_options') as { include_usage?: unknown } | undefined | null;
  return !!o && typeof o === 'object' && o.include_usage === true;
}

/** Seeds of a request's choices: seed, seed+1, … so choices differ yet repeat with the same seed. */
export function choiceSeed(seed: number | null | undefined, j: number): number | null {
  return seed === null || seed === undefined ? null : (seed + j) % 2 ** 32;
}
