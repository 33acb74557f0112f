/**
 * api-models-and-memory.md: each endpoint gets the spec's own example request; the fields and types are the
 * spec's and the values are derived here by hand from the configs (not the spec's illustrative numbers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog } from '../../src/catalog/index.js';
import { testApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

/** Llama-2-7B by hand: embeddings and head 2·V·h, per layer 4h² attention + 3·h·I MLP + 2h norms, final norm. */
const LLAMA2_7B_PARAMS = 2 * 32000 * 4096 + 32 * (4 * 4096 ** 2 + 3 * 4096 * 11008 + 2 * 4096) + 4096;
/** KV bytes per token: 2 (K and V) · layers · kv heads · head_dim · 2 bytes (fp16). */
const LLAMA2_7B_KV_PER_TOKEN = 2 * 32 * 32 * 128 * 2;
const MISTRAL_7B_KV_PER_TOKEN = 2 * 32 * 8 * 128 * 2;
const gb = (bytes: number) => Math.round((bytes / 1e9) * 100) / 100;

const EXAMPLE_CALC = {
  model_id: 'meta-llama/Llama-2-7b-hf',
  precision: 'fp16',
  batch_size: 1,
  seq_length: 2048,
  num_images: 0,
  include_gradients: false,
  decode_length: 0,
};

describe('POST /api/models/validate', () => {
  it('the spec example is valid', async () => {
    const r = await t.call('POST', '/api/models/validate', { model_url: 'meta-llama/Llama-2-7b-hf' });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ valid: true, error: null });
  });
  it('asks the Hub for ids outside the catalog, and says why not', async () => {
    expect((await t.call('POST', '/api/models/validate', { model_url: 'test-org/llama-copy' })).json).toEqual(
      {
        valid: true,
        error: null,
      },
    );
    const missing = await t.call('POST', '/api/models/validate', { model_url: 'fault/missing' });
    expect(missing.json.valid).toBe(false);
    expect(missing.json.error).toMatch(/not found/);
    const url = await t.call('POST', '/api/models/validate', { model_url: 'https://evil.example/x/y' });
    expect(url.json.valid).toBe(false);
    expect(url.json.error).toMatch(/not a Hugging Face repo id/);
  });
  it('a missing model_url is a 422 naming the field', async () => {
    const r = await t.call('POST', '/api/models/validate', {});
    expect(r.status).toBe(422);
    expect(r.json.detail).toMatch(/model_url/);
    expect(r.json.error).toBe(r.json.detail);
  });
});

describe('GET /api/models/{model_id}/config', () => {
  it('the spec example: type, attention, exact parameter count, config, metadata', async () => {
    const r = await t.call('GET', '/api/models/meta-llama/Llama-2-7b-hf/config');
    expect(r.status).toBe(200);
    const j = r.json;
    expect(j.model_id).toBe('meta-llama/Llama-2-7b-hf');
    expect(j.model_type).toBe('decoder-only');
    expect(j.attention_type).toBe('mha'); // Llama-2-7B has 32 KV heads for 32 query heads
    expect(j.parameter_count).toBe(LLAMA2_7B_PARAMS);
    expect(j.architecture).toBe('LlamaForCausalLM');
    expect(j.config).toMatchObject({
      hidden_size: 4096,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 32,
      intermediate_size: 11008,
      vocab_size: 32000,
      max_position_embeddings: 4096,
      activation_function: 'silu',
    });
    expect(j.metadata.size_gb).toBe(gb(LLAMA2_7B_PARAMS * 2));
    expect(Array.isArray(j.metadata.tags)).toBe(true);
    expect('downloads' in j.metadata && 'likes' in j.metadata).toBe(true);
  });
  it('reads a model only the Hub has, with its downloads, likes and tags', async () => {
    const r = await t.call('GET', '/api/models/test-org/llama-copy/config');
    expect(r.status).toBe(200);
    expect(r.json.source).toBe('huggingface');
    expect(r.json.parameter_count).toBe(LLAMA2_7B_PARAMS);
    expect(r.json.metadata.downloads).toBe(1000 + 'test-org/llama-copy'.length);
    expect(r.json.metadata.likes).toBe(10 + 'test-org/llama-copy'.length);
    expect(r.json.metadata.tags).toContain('text-generation');
  });
  it('an unknown model is a 404 with suggestions', async () => {
    const r = await t.call('GET', '/api/models/meta-llama/Llama-2-7b-hfx/config');
    expect(r.status).toBe(404);
    expect(r.json.suggestions.length).toBeGreaterThan(0);
  });
});

describe('POST /api/models/calculate', () => {
  it('the spec example: memory breakdown from the core, recommendations from device capacities', async () => {
    const r = await t.call('POST', '/api/models/calculate', EXAMPLE_CALC);
    expect(r.status).toBe(200);
    const j = r.json;
    expect(j.model_type).toBe('decoder-only');
    expect(j.attention_type).toBe('mha');
    expect(j.precision).toBe('fp16');
    expect(j.parameter_count).toBe(LLAMA2_7B_PARAMS);
    const b = j.memory_breakdown;
    for (const k of [
      'weight_memory_gb',
      'kv_cache_gb',
      'activation_memory_gb',
      'state_memory_gb',
      'image_memory_gb',
      'extra_work_gb',
    ])
      expect(typeof b[k]).toBe('number');
    expect(j.memory_breakdown_bytes.weight_bytes).toBe(LLAMA2_7B_PARAMS * 2);
    expect(j.memory_breakdown_bytes.kv_cache_bytes).toBe(LLAMA2_7B_KV_PER_TOKEN * 2048);
    expect(b.weight_memory_gb).toBe(gb(LLAMA2_7B_PARAMS * 2));
    expect(b.kv_cache_gb).toBe(gb(LLAMA2_7B_KV_PER_TOKEN * 2048));
    expect(b.state_memory_gb).toBe(0);
    expect(b.image_memory_gb).toBe(0);
    const parts = Object.values(j.memory_breakdown_bytes as Record<string, number>).reduce(
      (a, x) => a + x,
      0,
    );
    expect(j.total_memory_bytes).toBe(parts);
    expect(j.total_memory_gb).toBe(gb(parts));
    const rec = j.recommendations;
    expect(rec.min_gpu_memory_gb).toBe(j.total_memory_gb);
    expect(rec.can_fit_24gb_gpu).toBe(true);
    expect(rec.can_fit_80gb_gpu).toBe(true);
    // The recommended device really holds the total: its memory is at least the bytes needed.
    expect(rec.recommended_gpu_memory_gb * 1e9).toBeGreaterThanOrEqual(j.total_memory_bytes);
  });
  it('does not fit 24 GB at fp32 with a long context, and counts gradients when asked', async () => {
    const r = await t.call('POST', '/api/models/calculate', {
      ...EXAMPLE_CALC,
      precision: 'fp32',
      seq_length: 8192,
      include_gradients: true,
    });
    expect(r.status).toBe(200);
    expect(r.json.recommendations.can_fit_24gb_gpu).toBe(false);
    expect(r.json.memory_breakdown_bytes.gradient_bytes).toBe(LLAMA2_7B_PARAMS * 4);
    expect(r.json.memory_breakdown_bytes.kv_cache_bytes).toBe(2 * 32 * 32 * 128 * 4 * 8192);
  });
  it('?explain=true carries the trace of every figure', async () => {
    const r = await t.call('POST', '/api/models/calculate?explain=true', EXAMPLE_CALC);
    const kv = (r.json.trace as { figure: string; value: number }[]).find(
      (e) => e.figure === 'kv_cache_bytes',
    );
    expect(kv?.value).toBe(LLAMA2_7B_KV_PER_TOKEN * 2048);
  });
  it('an unknown precision is a 422 naming the field', async () => {
    const r = await t.call('POST', '/api/models/calculate', { ...EXAMPLE_CALC, precision: 'fp7' });
    expect(r.status).toBe(422);
    expect(r.json.detail).toMatch(/^precision: unknown precision 'fp7'/);
  });
  it('a repeated question is answered from the results cache', async () => {
    const before = t.ctx.cache.stats.hits;
    const a = await t.call('POST', '/api/models/calculate', { ...EXAMPLE_CALC, seq_length: 3333 });
    const b = await t.call('POST', '/api/models/calculate', { ...EXAMPLE_CALC, seq_length: 3333 });
    expect(b.json).toEqual(a.json);
    expect(t.ctx.cache.stats.hits).toBe(before + 1);
    await t.ctx.cache.flush();
    expect(await t.ctx.store!.cacheCount()).toBeGreaterThan(0);
  });
});

describe('POST /api/models/compare', () => {
  it('the spec example: both models, each as /calculate answers it', async () => {
    const body = {
      models: [
        { model_id: 'meta-llama/Llama-2-7b-hf', precision: 'fp16', batch_size: 1, seq_length: 2048 },
        { model_id: 'mistralai/Mistral-7B-v0.1', precision: 'fp16', batch_size: 1, seq_length: 2048 },
      ],
    };
    const r = await t.call('POST', '/api/models/compare', body);
    expect(r.status).toBe(200);
    const [llama, mistral] = r.json.models;
    expect(llama.memory_breakdown_bytes.kv_cache_bytes).toBe(LLAMA2_7B_KV_PER_TOKEN * 2048);
    expect(mistral.memory_breakdown_bytes.kv_cache_bytes).toBe(MISTRAL_7B_KV_PER_TOKEN * 2048);
    expect(mistral.attention_type).toBe('gqa');
    const single = await t.call('POST', '/api/models/calculate', body.models[1]);
    expect(mistral).toEqual(single.json);
    expect(r.json.comparison.lowest_memory_model).toBe(
      llama.total_memory_bytes < mistral.total_memory_bytes ? llama.model_id : mistral.model_id,
    );
  });
  it('names the item that fails', async () => {
    const r = await t.call('POST', '/api/models/compare', {
      models: [{ model_id: 'gpt2' }, { model_id: 'no-such-model-xyz' }],
    });
    expect(r.status).toBe(404);
    expect(r.json.detail).toMatch(/^models\[1\]/);
  });
});

describe('POST /api/models/analyze', () => {
  it('the spec example: analysis per length and insights computed from the model', async () => {
    const r = await t.call('POST', '/api/models/analyze', {
      model_id: 'meta-llama/Llama-2-7b-hf',
      precision: 'fp16',
      batch_size: 1,
      sequence_lengths: [1024, 4096, 16384, 32768],
    });
    expect(r.status).toBe(200);
    const j = r.json;
    expect(j.model_id).toBe('meta-llama/Llama-2-7b-hf');
    expect(j.attention_type).toBe('mha');
    expect(Object.keys(j.analysis)).toEqual(['1024', '4096', '16384', '32768']);
    for (const s of [1024, 4096, 16384, 32768]) {
      const a = j.analysis[String(s)];
      expect(a.kv_cache_gb).toBe(gb(LLAMA2_7B_KV_PER_TOKEN * s));
      expect(a.kv_cache_percent).toBeCloseTo((100 * LLAMA2_7B_KV_PER_TOKEN * s) / a.total_memory_bytes, 2);
      expect(a.total_memory_gb).toBe(gb(a.total_memory_bytes));
    }
    expect(j.insights.memory_per_token_bytes).toBe(LLAMA2_7B_KV_PER_TOKEN);
    expect(j.insights.efficiency_rating).toBe('low');
    expect(j.insights.recommendations.length).toBeGreaterThan(0);
  });
  it('GQA: the compression against MHA is the ratio of query to KV heads', async () => {
    const r = await t.call('POST', '/api/models/analyze', {
      model_id: 'mistralai/Mistral-7B-v0.1',
      sequence_lengths: [4096],
    });
    expect(r.json.insights.kv_compression_vs_mha).toBe(4);
    expect(r.json.insights.recommendations).toContain('GQA provides 4x KV cache compression compared to MHA');
    expect(r.json.insights.efficiency_rating).toBe('high');
  });
});

describe('GET /api/models/popular, /list, /filter', () => {
  it('popular: the default limit is 10, fields as the spec shows', async () => {
    const r = await t.call('GET', '/api/models/popular');
    expect(r.status).toBe(200);
    expect(r.json.models).toHaveLength(10);
    const m = r.json.models.find((x: { model_id: string }) => x.model_id === 'meta-llama/Llama-2-7b-hf');
    expect(m).toMatchObject({
      name: 'Llama 2 7B',
      parameters: '6.7B',
      model_type: 'decoder-only',
      attention_type: 'mha',
    });
    expect(typeof m.description).toBe('string');
    expect((await t.call('GET', '/api/models/popular?limit=3')).json.models).toHaveLength(3);
    expect((await t.call('GET', '/api/models/popular?limit=0')).status).toBe(422);
    expect((await t.call('GET', '/api/models/popular?limit=abc')).status).toBe(422);
  });
  it('list: every catalog model, counts and sources', async () => {
    const r = await t.call('GET', '/api/models/list');
    expect(r.status).toBe(200);
    const j = r.json;
    expect(j.model_dict_count).toBe(catalog().models.items.length);
    expect(j.total_count).toBe(j.models.length);
    const gpt2 = j.models.find((m: { model_id: string }) => m.model_id === 'openai-community/gpt2');
    expect(gpt2).toMatchObject({
      author: 'openai-community',
      model_type: 'decoder-only',
      attention_type: 'mha',
    });
    // GPT-2 by hand: wte + wpe + 12 layers (ln, qkv, proj, ln, fc, proj with biases) + ln_f; head tied.
    const h = 768;
    const layer = 2 * 2 * h + (h * 3 * h + 3 * h) + (h * h + h) + (h * 4 * h + 4 * h) + (4 * h * h + h);
    expect(gpt2.parameter_count).toBe(50257 * h + 1024 * h + 12 * layer + 2 * h);
    expect(gpt2.in_model_dict).toBe(true);
  });
  it('filter: the spec example applies every filter given', async () => {
    const r = await t.call('GET', '/api/models/filter?author=microsoft&model_type=decoder-only');
    expect(r.status).toBe(200);
    expect(r.json.filters_applied).toEqual({ author: 'microsoft', model_type: 'decoder-only' });
    expect(r.json.total_count).toBe(r.json.models.length);
    expect(r.json.total_count).toBeGreaterThan(0);
    for (const m of r.json.models)
      expect(m).toMatchObject({ author: 'microsoft', model_type: 'decoder-only' });
    const range = await t.call(
      'GET',
      '/api/models/filter?attention_type=gqa&min_parameters=7e9&max_parameters=9e9&tags=llama',
    );
    for (const m of range.json.models) {
      expect(m.attention_type).toBe('gqa');
      expect(m.parameter_count).toBeGreaterThanOrEqual(7e9);
      expect(m.parameter_count).toBeLessThanOrEqual(9e9);
    }
    expect(range.json.models.map((m: { model_id: string }) => m.model_id)).toContain(
      'meta-llama/Llama-3.1-8B',
    );
    expect((await t.call('GET', '/api/models/filter?model_type=banana')).status).toBe(422);
    expect((await t.call('GET', '/api/models/filter?min_parameters=10&max_parameters=1')).status).toBe(422);
  });
});

describe('POST /api/models/add/huggingface and /add/config', () => {
  it('the Hub example imports once, then already_existed', async () => {
    const r = await t.call('POST', '/api/models/add/huggingface', {
      model_uri: 'distilgpt2',
      auto_import: true,
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      success: true,
      model_id: 'distilgpt2',
      message: 'Successfully imported model from HuggingFace',
      already_existed: false,
    });
    // distilgpt2 is also built in: the model is in both sources.
    expect(r.json.source).toBe('both');
    const again = await t.call('POST', '/api/models/add/huggingface', {
      model_uri: 'distilgpt2',
      auto_import: true,
    });
    expect(again.json.already_existed).toBe(true);
    const list = await t.call('GET', '/api/models/list');
    const d = list.json.models.find((m: { model_id: string }) => m.model_id === 'distilbert/distilgpt2');
    expect(d).toMatchObject({ source: 'both', in_model_dict: true, in_database: true });
  });
  it('a model only the Hub has becomes a database model the calculators use', async () => {
    // Already stored when an earlier test read its /config (served once, stored): either way a database model.
    const r = await t.call('POST', '/api/models/add/huggingface', { model_uri: 'test-org/llama-copy' });
    expect(r.json).toMatchObject({ success: true, source: 'database' });
    const calc = await t.call('POST', '/api/models/calculate', {
      ...EXAMPLE_CALC,
      model_id: 'test-org/llama-copy',
    });
    expect(calc.json.memory_breakdown_bytes.kv_cache_bytes).toBe(LLAMA2_7B_KV_PER_TOKEN * 2048);
    const f = await t.call('GET', '/api/models/filter?source=database&author=test-org');
    expect(f.json.models.map((m: { model_id: string }) => m.model_id)).toEqual(['test-org/llama-copy']);
    const pop = await t.call('GET', '/api/models/popular?limit=100');
    expect(
      pop.json.models.find((m: { model_id: string }) => m.model_id === 'test-org/llama-copy').downloads,
    ).toBe(1000 + 'test-org/llama-copy'.length);
  });
  it('Hub faults are clear 4xx/502/504 answers and write nothing', async () => {
    const cases: [string, number][] = [
      ['fault/missing', 404],
      ['fault/gated', 403],
      ['fault/error500', 502],
      ['fault/truncated', 502],
      ['fault/badconfig', 422],
      ['fault/hugelayers', 422],
      ['http://evil.example/a/b', 422],
    ];
    for (const [id, status] of cases) {
      const r = await t.call('POST', '/api/models/add/huggingface', { model_uri: id });
      expect(r.status, id).toBe(status);
      expect(r.json.detail, id).toBe(r.json.error);
    }
    expect((await t.ctx.store!.listModels()).filter((m) => m.id.startsWith('fault/'))).toEqual([]);
  });
  it('the config example adds a model, idempotently; a different config under its id is a 409', async () => {
    const body = {
      model_id: 'custom-model-7b',
      config: {
        hidden_size: 4096,
        num_hidden_layers: 32,
        num_attention_heads: 32,
        num_key_value_heads: 8,
        intermediate_size: 11008,
        vocab_size: 32000,
        max_position_embeddings: 4096,
        model_type: 'llama',
      },
      metadata: { description: 'Custom 7B model', created_by: 'Research Team' },
    };
    const r = await t.call('POST', '/api/models/add/config', body);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      success: true,
      model_id: 'custom-model-7b',
      message: 'Successfully added model from configuration',
      source: 'database',
      already_existed: false,
    });
    // 32 layers of GQA (8 KV heads of 128) attention and a gated 11008 MLP, untied 32000-token embeddings.
    const attn = 4096 * 4096 * 2 + 2 * 4096 * 1024;
    expect(r.json.parameter_count).toBe(2 * 32000 * 4096 + 32 * (attn + 3 * 4096 * 11008 + 2 * 4096) + 4096);
    expect((await t.call('POST', '/api/models/add/config', body)).json.already_existed).toBe(true);
    const other = await t.call('POST', '/api/models/add/config', {
      ...body,
      config: { ...body.config, num_hidden_layers: 16 },
    });
    expect(other.status).toBe(409);
    const cfg = await t.call('GET', '/api/models/custom-model-7b/config');
    expect(cfg.json).toMatchObject({ source: 'database', attention_type: 'gqa', model_type: 'decoder-only' });
  });
  it('a config the core cannot read is a 422 naming what is missing', async () => {
    const r = await t.call('POST', '/api/models/add/config', {
      model_id: 'x/broken',
      config: { model_type: 'llama' },
    });
    expect(r.status).toBe(422);
    expect(r.json.detail).toMatch(/hidden_size/);
    expect(await t.ctx.store!.getModel('x/broken')).toBeNull();
  });
});
