/**
 * Request bodies of the engine, research and /v1 routes, for /openapi.json (clients and the fuzz read them).
 * The handlers keep validating field by field (src/engine/validate.ts): bounds that depend on the loaded model
 * (layers, heads, vocabulary) are only known there, and /v1 must answer OpenAI-shaped 400s. So these schemas
 * document the body and are not used to validate it (see `documented`).
 */
import type { FastifySchema } from 'fastify';
import { z } from 'zod';
import { PARALLEL_OPS, MAX_SPLITS } from '../../engine/research/parallel.js';
import { PIPELINE_STEPS, SCHEDULE_STEPS } from '../../engine/research/pipeline.js';
import { SCHEDULE_ALGORITHMS } from '../../engine/research/batch_schedule.js';
import { LIMITS } from '../../engine/validate.js';
import { ENGINE_LIMITS } from '../engine-admission.js';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const prompt = (max: number = LIMITS.promptChars) => z.string().min(1).max(max);
const stop = z
  .union([
    z.string().min(1).max(LIMITS.stopChars),
    z.array(z.string().min(1).max(LIMITS.stopChars)).max(LIMITS.stopStrings),
  ])
  .optional()
  .describe(`a string or at most ${LIMITS.stopStrings} strings of 1 to ${LIMITS.stopChars} characters`);
const layerIdx = int(0, 4096).optional().describe('a layer of the loaded model (0 to its layer count - 1)');

const sampling = {
  max_tokens: int(1, LIMITS.maxTokens).optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_k: int(0, 1_000_000).optional().describe("0 (off) to the model's vocabulary size"),
  top_p: z.number().min(1e-6).max(1).optional(),
  seed: int(0, 2 ** 32 - 1).optional(),
  stop,
  ignore_eos: z.boolean().optional(),
  timeout_s: z
    .number()
    .min(0.001)
    .max(ENGINE_LIMITS.deadlineS)
    .optional()
    .describe('deadline of this generation in seconds (504 past it)'),
};

/** No fields: the route takes an empty JSON object (or no body). */
const empty = z.object({}).describe('no fields');

export const ENGINE_BODIES = {
  '/generate': z.object({ prompt: prompt(), ...sampling }),
  '/tokenize': z.object({ text: z.string().max(ENGINE_LIMITS.tokenizeChars) }),
  '/batch_generate': z.object({
    prompts: z.array(prompt()).min(1).max(LIMITS.batch),
    ...sampling,
  }),
  '/debug/attention_scores': z.object({
    prompt: prompt(4000).describe('at most 512 tokens'),
    layer_idx: layerIdx,
    head_idx: int(0, 4096).optional().describe('a head of the model; absent: every head'),
    threshold: z.number().min(0).max(1).optional(),
  }),
  '/debug/profiling/start': empty,
  '/debug/profiling/stop': empty,
  '/optimization/sparsity_mask': z.object({
    method: z.enum(['top_k', 'threshold', 'ratio', 'none']).optional(),
    mask_pattern: z.enum(['top_k', 'threshold', 'ratio', 'none']).optional().describe('alias of method'),
    clear: z.boolean().optional(),
    layers: z.array(int(0, 4096)).min(1).max(4096).optional(),
    sparsity_ratio: z.number().min(0).max(0.99).optional(),
    ratio: z.number().min(0).max(0.99).optional(),
    k: int(1, 1_000_000).optional().describe('top_k: keys kept per query (or give sparsity_ratio)'),
    threshold: z.number().min(0).max(1).optional().describe('required for threshold masks'),
  }),
  '/optimization/batch_schedule': z.object({
    requests: z
      .array(
        z.object({
          prompt: prompt(),
          priority: z.number().min(-1e6).max(1e6).optional(),
          max_tokens: int(1, LIMITS.maxTokens).optional(),
        }),
      )
      .min(1)
      .max(LIMITS.batch),
    strategy: z.enum(['minimize_latency', 'maximize_throughput', 'fair']).optional(),
    algorithm: z.enum(SCHEDULE_ALGORITHMS).optional(),
    max_batch_size: int(1, LIMITS.batch).optional(),
    temperature: z.number().min(0).max(2).optional(),
  }),
  '/parallel/tensor_split': z.object({
    source: z.enum(['random', 'embedding']).optional(),
    tensor_shape: z.array(int(1, 65536)).min(1).max(4).optional().describe('at most 4,000,000 elements'),
    seed: int(0, 2 ** 32 - 1).optional(),
    split_dim: int(-4, 3).optional(),
    num_splits: int(1, MAX_SPLITS).optional(),
  }),
  '/parallel/execute': z.object({
    splits: z.array(z.string().min(1).max(64)).min(1).max(MAX_SPLITS).optional(),
    operation: z.enum(PARALLEL_OPS).optional(),
    gather: z.boolean().optional(),
    seed: int(0, 2 ** 32 - 1).optional(),
  }),
  '/pipeline/step_execute': z.object({
    step: z.enum([...PIPELINE_STEPS] as [string, ...string[]]).optional(),
    input_ids: z.array(int(0, 1_000_000)).min(1).max(512).optional().describe('token ids; or give prompt'),
    prompt: prompt(4000).optional(),
    layer_idx: layerIdx,
    return_intermediate: z.boolean().optional(),
  }),
  '/pipeline/schedule': z.object({
    steps: z.array(z.enum(SCHEDULE_STEPS)).min(1).max(16).optional(),
    batch_size: int(1, 16).optional(),
    prompts: z.array(prompt(2000)).min(1).max(16).optional(),
    prompt: prompt(2000).optional(),
    overlap_comm: z.boolean().optional(),
  }),
  '/cache/clear': empty,
} as const;

const openAiCommon = {
  model: z.string().optional().describe('the served model (absent: the served one)'),
  max_tokens: int(1, LIMITS.maxTokens).optional(),
  max_completion_tokens: int(1, LIMITS.maxTokens).optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(1e-6).max(1).optional(),
  top_k: int(0, 1_000_000).optional(),
  seed: int(0, 2 ** 32 - 1).optional(),
  stop,
  frequency_penalty: z.number().min(-2).max(2).optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  logit_bias: z.record(z.string().regex(/^\d+$/), z.number().min(-100).max(100)).optional(),
  n: int(1, LIMITS.batch).optional(),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).optional(),
  return_tokens_as_token_ids: z.boolean().optional(),
};

const tokenIds = z.array(int(0, 1_000_000)).min(1);

export const OPENAI_BODIES = {
  '/v1/completions': z.object({
    prompt: z.union([
      prompt(),
      z.array(prompt()).min(1).max(LIMITS.batch),
      tokenIds,
      z.array(tokenIds).min(1).max(LIMITS.batch),
    ]),
    echo: z.boolean().optional(),
    logprobs: int(0, 5).optional(),
    best_of: int(1, LIMITS.batch).optional().describe('only equal to n'),
    suffix: z.string().max(0).optional().describe('only empty'),
    ...openAiCommon,
  }),
  '/v1/chat/completions': z.object({
    messages: z
      .array(
        z.object({
          role: z.enum(['system', 'user', 'assistant', 'developer', 'tool']),
          content: z.union([
            z.string().max(LIMITS.promptChars),
            z.array(z.object({ type: z.string().optional(), text: z.string() })),
          ]),
        }),
      )
      .min(1)
      .max(LIMITS.messages),
    logprobs: z.boolean().optional(),
    top_logprobs: int(0, 20).optional().describe('only with logprobs: true'),
    response_format: z.object({ type: z.literal('text') }).optional(),
    ...openAiCommon,
  }),
} as const;

/** Accepts every body as is: the handler validates it and answers in its own error shape. */
const passThrough = () => (data: unknown) => ({ value: data });

/** Route options that put `body` in /openapi.json without validating against it. */
export function documented(body: z.ZodType): {
  schema: FastifySchema;
  validatorCompiler: typeof passThrough;
} {
  return { schema: { body }, validatorCompiler: passThrough };
}
