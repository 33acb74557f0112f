/**
 * Fuzz: 12,000 generated malformed and boundary requests across every endpoint (wrong types, missing fields,
 * huge and negative numbers, huge arrays, deep JSON, unicode ids, path tricks, wrong methods), deterministic from a
 * seed. No answer may be a 5xx, every error body carries `detail` and `error`, and the app still answers after.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testApp, type TestApp } from './helpers.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20240917);
/** FUZZ_REQUESTS raises or lowers the count (a long run: FUZZ_REQUESTS=20000). */
const REQUESTS = Math.max(100, Number(process.env['FUZZ_REQUESTS'] ?? 12_000));

/** mulberry32: a small deterministic PRNG. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}

const R = rng(SEED);

const IDS = [
  'gpt2',
  'meta-llama/Llama-2-7b-hf',
  'Qwen3-0.6B',
  'deepseek-ai/DeepSeek-V3',
  'state-spaces/mamba-130m-hf',
  'google-bert/bert-base-uncased',
  'llava-hf/llava-1.5-7b-hf',
  'openai/gpt-oss-20b',
  'ai21labs/Jamba-v0.1',
  'custom-model-7b',
  '',
  ' ',
  '../../etc/passwd',
  '..%2F..%2Fetc%2Fpasswd',
  '%00',
  'mod\u0000el',
  '模型/名字',
  '𝕃𝕝𝕒𝕞𝕒',
  'a'.repeat(5000),
  'org/name/extra/parts',
  'http://example.com/x/y',
  'DROP TABLE models; --',
  "' OR 1=1 --",
  '\u202e\u200b',
  'constructor',
  '__proto__',
  'prototype',
];

const NUMBERS = [
  0,
  -1,
  1,
  2,
  7,
  1.5,
  -0.5,
  1e3,
  4096,
  32768,
  2 ** 31,
  2 ** 53 + 1,
  1e15,
  1e21,
  1e308,
  -1e308,
  5e-324,
];

/** A random JSON value: wrong types of every kind, some large. */
function junk(depth = 0): unknown {
  switch (R.int(depth > 3 ? 7 : 10)) {
    case 0:
      return null;
    case 1:
      return R.pick(NUMBERS);
    case 2:
      return R.pick(IDS);
    case 3:
      return R.next() < 0.5;
    case 4:
      return R.pick([
        'fp16',
        'float16',
        'int4',
        'auto',
        'q4_k_m',
        'fp8',
        'nf4',
        'mxfp4',
        'bf16',
        'FP32',
        'none',
      ]);
    case 5:
      return String(R.pick(NUMBERS));
    case 6:
      return [];
    case 7:
      return Array.from({ length: R.pick([1, 3, 33, 65, 1000]) }, () => R.pick(NUMBERS));
    case 8:
      return Object.fromEntries(
        Array.from({ length: R.int(5) }, () => [R.pick(IDS).slice(0, 20), junk(depth + 1)]),
      );
    default:
      return [junk(depth + 1), junk(depth + 1)];
  }
}

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = R.next() < 0.5 ? [v] : { a: v };
  return v;
}

const CONFIG = {
  model_type: 'llama',
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 128,
  vocab_size: 1000,
};

/** Valid bodies per endpoint, mutated below. */
const ENDPOINTS: { method: string; url: string; body?: () => Record<string, unknown> }[] = [
  { method: 'POST', url: '/api/models/validate', body: () => ({ model_url: R.pick(IDS) }) },
  {
    method: 'POST',
    url: '/api/models/calculate',
    body: () => ({
      model_id: R.pick(IDS),
      precision: 'fp16',
      batch_size: 1,
      seq_length: 2048,
      num_images: 0,
    }),
  },
  {
    method: 'POST',
    url: '/api/models/compare',
    body: () => ({ models: [{ model_id: R.pick(IDS) }, { model_id: R.pick(IDS), seq_length: 4096 }] }),
  },
  {
    method: 'POST',
    url: '/api/models/analyze',
    body: () => ({ model_id: R.pick(IDS), sequence_lengths: [1024, 4096] }),
  },
  {
    method: 'POST',
    url: '/api/models/add/config',
    body: () => ({ model_id: `fz/m${R.int(50)}`, config: { ...CONFIG } }),
  },
  {
    method: 'POST',
    url: '/api/models/add/huggingface',
    body: () => ({ model_uri: R.pick(IDS), auto_import: false }),
  },
  {
    method: 'POST',
    url: '/api/memory/inference',
    body: () =>
      R.next() < 0.5
        ? { model_name: R.pick(IDS), batch_size: 2, sequence_length: 4096 }
        : {
            model_size: 7,
            precision: 'float16',
            hidden_size: 4096,
            num_hidden_layers: 32,
            num_attention_heads: 32,
          },
  },
  {
    method: 'POST',
    url: '/api/memory/training',
    body: () => ({ model_name: R.pick(IDS), batch_size: 4, sequence_length: 2048, optimizer: 'AdamW' }),
  },
  {
    method: 'POST',
    url: '/api/memory/compare',
    body: () => ({
      calculation_type: R.pick(['inference', 'training']),
      configurations: [
        { model_name: R.pick(IDS) },
        { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4 },
      ],
    }),
  },
  // api-inference-calculator.md and api-system-metrics.md (routes by the lead, registered by buildApp).
  {
    method: 'POST',
    url: '/api/calculate',
    body: () =>
      R.next() < 0.5
        ? {
            model_name: R.pick(['llama2-7b', ...IDS]),
            gpu: R.pick(['h100', 'a100', 'nope']),
            seq_length: 2048,
          }
        : {
            hidden_dim: 4096,
            ff_dim: 11008,
            num_layers: 32,
            vocab_size: 32000,
            gpu_tflops: 312,
            efficiency_factor: 0.3,
          },
  },
  {
    method: 'POST',
    url: '/api/model_scaling_analysis',
    body: () => ({ gpu_vram_gb: 80, model_name: 'llama2-7b' }),
  },
  {
    method: 'POST',
    url: '/config/system-metrics',
    body: () => {
      const req = () => ({
        model_id: R.pick(['llama_3.3_70b', 'tinyllama_1.1b', ...IDS]),
        hardware_id: R.pick(['nvidia_nvl72_rack', 'nvidia_h100_80gb', 'nope']),
        batch_size: 8,
        seq_len: 1024,
        layers: {
          attention: { tensor_parallel: R.pick([1, 2, 8, 3]), context_parallel: 1, dtype: 'fp8' },
          feedforward: { tensor_parallel: 8, sequence_parallel: 1, dtype: 'bf16' },
        },
      });
      return { prefill_req: req(), decode_req: req() };
    },
  },
  { method: 'GET', url: '/api/available_models' },
  { method: 'GET', url: '/api/available_gpus' },
  { method: 'GET', url: '/api/layers' },
  { method: 'GET', url: '/models/tinyllama_1.1b' },
  { method: 'GET', url: '/hardware/nvidia_h100_80gb' },
  { method: 'GET', url: '/api/models/popular' },
  { method: 'GET', url: '/api/models/list' },
  { method: 'GET', url: '/api/models/filter' },
  { method: 'GET', url: '/api/models' },
  { method: 'GET', url: '/api/config/options' },
  { method: 'GET', url: '/health' },
  { method: 'GET', url: '/models' },
  { method: 'GET', url: '/hardware' },
];

const QUERY_KEYS = [
  'limit',
  'author',
  'model_type',
  'attention_type',
  'min_parameters',
  'max_parameters',
  'source',
  'tags',
  'explain',
];
const QUERY_VALUES = [
  '',
  '0',
  '-1',
  '10',
  '1e999',
  'NaN',
  'abc',
  'gqa',
  'moe',
  'both',
  'true',
  '%00',
  '%E0%A4%A',
  '模型',
  'a'.repeat(3000),
];

function mutate(body: Record<string, unknown>): unknown {
  const b: Record<string, unknown> = structuredClone(body);
  const keys = Object.keys(b);
  const extraKeys = [
    'batch_size',
    'seq_length',
    'sequence_length',
    'precision',
    'kv_precision',
    'decode_length',
    'num_images',
    'trainable_parameters',
    'hidden_size',
    'num_hidden_layers',
    'num_attention_heads',
    'model_size',
    'zero_stage',
    'runtime',
    'optimizer',
    'sequence_lengths',
    'metadata',
    'config',
    'include_gradients',
    'head_dim',
    'num_key_value_heads',
    'vocab_size',
  ];
  switch (R.int(9)) {
    case 0:
      return junk();
    case 1:
      if (keys.length) delete b[R.pick(keys)];
      return b;
    case 2:
      b[R.pick([...keys, ...extraKeys])] = junk();
      return b;
    case 3:
      b[R.pick(extraKeys)] = R.pick(NUMBERS) * (R.next() < 0.5 ? 1 : -1);
      return b;
    case 4:
      b[R.pick(keys.length ? keys : extraKeys)] = nested(R.pick([10, 40, 63, 70, 200]));
      return b;
    case 5:
      if ('config' in b) {
        const c = { ...(b['config'] as Record<string, unknown>) };
        c[
          R.pick([
            ...Object.keys(c),
            'num_local_experts',
            'sliding_window',
            'head_dim',
            'layer_types',
            'rope_scaling',
            'tie_word_embeddings',
            'model_type',
            'text_config',
          ])
        ] = junk();
        b['config'] = c;
      } else b['sequence_lengths'] = Array.from({ length: R.pick([0, 64, 65, 5000]) }, () => R.pick(NUMBERS));
      return b;
    case 6:
      for (const k of extraKeys) if (R.next() < 0.3) b[k] = R.pick(NUMBERS);
      return b;
    case 7:
      return Array.from({ length: R.pick([1, 100, 10000]) }, () => b);
    default:
      b[R.pick(extraKeys)] = R.pick(IDS);
      return b;
  }
}

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

it(
  `${REQUESTS} malformed and boundary requests: no 5xx, the app stays up`,
  async () => {
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const ep = R.pick(ENDPOINTS);
      let method = ep.method;
      let url = ep.url;
      let payload: string | undefined;
      const roll = R.next();
      if (roll < 0.05) method = R.pick(['PUT', 'DELETE', 'PATCH', 'GET', 'POST', 'OPTIONS', 'HEAD']);
      if (roll >= 0.05 && roll < 0.15) {
        const id = encodeURIComponent(R.pick(IDS)).replace(/%2F/g, R.next() < 0.5 ? '/' : '%2F');
        url = R.pick([
          `/api/models/${id}`,
          `/api/models/${id}/config`,
          `/api/models/${R.pick(IDS)}/config`,
          `/api/${id}`,
          `/${id}`,
          `/api/models/./../${id}`,
          `//api//models//${id}`,
        ]);
        method = 'GET';
      }
      if (R.next() < 0.3) {
        const q = Array.from({ length: 1 + R.int(3) }, () => `${R.pick(QUERY_KEYS)}=${R.pick(QUERY_VALUES)}`);
        url += (url.includes('?') ? '&' : '?') + q.join('&');
      }
      if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
        const base = ep.body ? ep.body() : {};
        payload =
          R.next() < 0.03
            ? R.pick(['{', '{"a":', '[1,2', 'null', '"x"', '', '{"model_id": "gpt2",}'])
            : JSON.stringify(mutate(base));
      }
      let res;
      try {
        res = await t.app.inject({
          method: method as 'GET',
          url,
          ...(payload === undefined ? {} : { payload, headers: { 'content-type': 'application/json' } }),
        });
      } catch (e) {
        failures.push(`${method} ${url.slice(0, 80)}: inject threw ${(e as Error).message}`);
        continue;
      }
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 500)
        failures.push(
          `${method} ${url.slice(0, 80)} ${payload?.slice(0, 200)} -> ${res.statusCode} ${res.body.slice(0, 200)}`,
        );
      else if (res.statusCode >= 400 && method !== 'HEAD') {
        const j = JSON.parse(res.body) as { detail?: unknown; error?: unknown };
        if (typeof j.detail !== 'string' || j.detail !== j.error)
          failures.push(
            `${method} ${url.slice(0, 80)} -> ${res.statusCode} without detail/error: ${res.body.slice(0, 200)}`,
          );
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(REQUESTS);
    // Both kinds of answer occur: the generator reaches the computing paths, not only the validators.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(500);
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThan(3);
    const health = await t.call('GET', '/health');
    expect(health.status).toBe(200);
    const calc = await t.call('POST', '/api/models/calculate', { model_id: 'gpt2' });
    expect(calc.status).toBe(200);
  },
  Math.max(120_000, REQUESTS * 15),
);
