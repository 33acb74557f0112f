/**
 * api-memory-calculator.md: the spec's example requests, memory strings as the spec prints them ("14.00 GB"),
 * values derived by hand, and 400 for bad parameters as that spec says.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog } from '../../src/catalog/index.js';
import { testApp, type TestApp } from './helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t.close());

const gbString = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;

/** Qwen3-8B by hand: untied 151936-token embeddings, 36 layers (q/o 4096², k/v 4096·1024, gated 12288 MLP,
 * two norms and the q/k norms of 128), final norm. */
const QWEN3_8B =
  2 * 151936 * 4096 + 36 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 12288 + 2 * 4096 + 2 * 128) + 4096;

describe('GET /api/models and /api/models/{model_name}', () => {
  it('lists every model with its shape', async () => {
    const r = await t.call('GET', '/api/models');
    expect(r.status).toBe(200);
    expect(r.json.count).toBe(r.json.models.length);
    expect(r.json.count).toBeGreaterThanOrEqual(catalog().models.items.length);
    const q = r.json.models.find((m: { model_name: string }) => m.model_name === 'Qwen3-0.6B');
    expect(q).toMatchObject({ model_id: 'Qwen/Qwen3-0.6B', hidden_size: 1024, num_hidden_layers: 28 });
  });
  it('details one model by its short name', async () => {
    const r = await t.call('GET', '/api/models/Qwen3-0.6B');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      model_name: 'Qwen3-0.6B',
      model_id: 'Qwen/Qwen3-0.6B',
      attention_type: 'gqa',
    });
    expect(r.json.config.hidden_size).toBe(1024);
    expect(typeof r.json.total_parameters).toBe('number');
  });
  it("an unknown model is a 404 with the spec's error field", async () => {
    const r = await t.call('GET', '/api/models/InvalidModel');
    expect(r.status).toBe(404);
    expect(r.json.error).toMatch(/unknown model 'InvalidModel'/);
    expect(r.json.detail).toBe(r.json.error);
  });
});

describe('POST /api/memory/inference', () => {
  it('example 1, by model name: KV = 2 · 28 layers · 8 KV heads · 128 · 2 B per token', async () => {
    const r = await t.call('POST', '/api/memory/inference', {
      model_name: 'Qwen3-0.6B',
      batch_size: 2,
      sequence_length: 4096,
    });
    expect(r.status).toBe(200);
    const kv = 2 * 28 * 8 * 128 * 2 * 2 * 4096;
    expect(r.json.calculation_type).toBe('inference');
    expect(r.json.memory_requirements_bytes.kv_cache).toBe(kv);
    expect(r.json.memory_requirements.kv_cache).toBe(gbString(kv));
    for (const k of ['model_weights', 'kv_cache', 'activation_memory', 'inference_memory'])
      expect(r.json.memory_requirements[k]).toMatch(/^\d+\.\d\d GB$/);
    const b = r.json.memory_requirements_bytes as Record<string, number>;
    const parts = Object.entries(b)
      .filter(([k]) => k !== 'inference_memory')
      .reduce((a, [, v]) => a + v, 0);
    expect(b['inference_memory']).toBe(parts);
    expect(r.json.parameters).toMatchObject({
      model_name: 'Qwen3-0.6B',
      batch_size: 2,
      sequence_length: 4096,
    });
  });
  it('example 2, by raw parameters: a real llama-like model of 7B parameters in float16', async () => {
    const r = await t.call('POST', '/api/memory/inference', {
      model_size: 7,
      precision: 'float16',
      batch_size: 1,
      sequence_length: 2048,
      hidden_size: 4096,
      num_hidden_layers: 32,
      num_attention_heads: 32,
    });
    expect(r.status).toBe(200);
    expect(r.json.memory_requirements.model_weights).toBe('14.00 GB');
    expect(Math.abs(r.json.model.total_parameters - 7e9)).toBeLessThan(3 * 32 * 4096);
    expect(r.json.memory_requirements_bytes.model_weights).toBe(r.json.model.total_parameters * 2);
    expect(r.json.memory_requirements_bytes.kv_cache).toBe(2 * 32 * 32 * 128 * 2 * 2048);
    expect(r.json.memory_requirements.kv_cache).toBe('1.07 GB');
    expect(r.json.parameters).toMatchObject({ model_size: 7, precision: 'float16', hidden_size: 4096 });
  });
  it('the same KV cache as /api/models/calculate for the same question', async () => {
    const a = await t.call('POST', '/api/memory/inference', {
      model_name: 'meta-llama/Llama-3.1-8B',
      precision: 'bfloat16',
      sequence_length: 8192,
    });
    const b = await t.call('POST', '/api/models/calculate', {
      model_id: 'meta-llama/Llama-3.1-8B',
      precision: 'bf16',
      seq_length: 8192,
    });
    expect(a.json.memory_requirements_bytes.kv_cache).toBe(2 * 32 * 8 * 128 * 2 * 8192);
    expect(a.json.memory_requirements_bytes.kv_cache).toBe(b.json.memory_breakdown_bytes.kv_cache_bytes);
    expect(a.json.memory_requirements_bytes.inference_memory).toBe(b.json.total_memory_bytes);
  });
  it('bad or missing parameters are 400 naming the field', async () => {
    const neg = await t.call('POST', '/api/memory/inference', { model_name: 'gpt2', batch_size: -1 });
    expect(neg.status).toBe(400);
    expect(neg.json.error).toMatch(/^batch_size/);
    const none = await t.call('POST', '/api/memory/inference', { batch_size: 1 });
    expect(none.status).toBe(400);
    expect(none.json.error).toMatch(/hidden_size, num_hidden_layers, num_attention_heads/);
    const prec = await t.call('POST', '/api/memory/inference', { model_name: 'gpt2', precision: 'float7' });
    expect(prec.status).toBe(400);
    expect(prec.json.error).toMatch(/^precision/);
    const heads = await t.call('POST', '/api/memory/inference', {
      hidden_size: 100,
      num_hidden_layers: 2,
      num_attention_heads: 3,
    });
    expect(heads.status).toBe(400);
  });
});

describe('POST /api/memory/training', () => {
  it("the spec's example names Qwen3-7B, which does not exist: 404 with the nearest names", async () => {
    const r = await t.call('POST', '/api/memory/training', {
      model_name: 'Qwen3-7B',
      batch_size: 4,
      sequence_length: 2048,
      optimizer: 'AdamW',
      trainable_parameters: 100,
    });
    expect(r.status).toBe(404);
    expect(r.json.suggestions.length).toBeGreaterThan(0);
  });
  it('the example on Qwen3-8B: weights, fp32 master, gradients and AdamW states by the parameter count', async () => {
    const r = await t.call('POST', '/api/memory/training', {
      model_name: 'Qwen3-8B',
      batch_size: 4,
      sequence_length: 2048,
      optimizer: 'AdamW',
      trainable_parameters: 100,
    });
    expect(r.status).toBe(200);
    const b = r.json.memory_requirements_bytes;
    expect(r.json.model.total_parameters).toBe(QWEN3_8B);
    expect(b.model_weights).toBe(QWEN3_8B * 2);
    expect(b.master_weights).toBe(QWEN3_8B * 4);
    expect(b.gradients).toBe(QWEN3_8B * 2);
    expect(b.optimizer_states).toBe(QWEN3_8B * 8);
    expect(r.json.memory_requirements.optimizer_states).toBe(gbString(QWEN3_8B * 8));
    expect(r.json.memory_requirements.training_memory).toMatch(/^\d+\.\d\d GB$/);
    expect(r.json.trainable_percent).toBe(100);
  });
  it("'Quantized AdamW' keeps 2 B of state per parameter (+ block scales); half the trainable parameters", async () => {
    const r = await t.call('POST', '/api/memory/training', {
      model_name: 'Qwen3-8B',
      optimizer: 'Quantized AdamW',
      trainable_parameters: 50,
    });
    expect(r.status).toBe(200);
    expect(r.json.trainable_parameters).toBe(QWEN3_8B / 2);
    const perParam = r.json.memory_requirements_bytes.optimizer_states / (QWEN3_8B / 2);
    expect(perParam).toBeGreaterThan(2);
    expect(perParam).toBeLessThan(2.05);
    const bad = await t.call('POST', '/api/memory/training', {
      model_name: 'Qwen3-8B',
      optimizer: 'Adam9000',
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/optimizer/);
  });
});

describe('POST /api/memory/compare', () => {
  it('the spec example: bfloat16 and float16 need the same bytes', async () => {
    const shape = {
      model_size: 0.6,
      batch_size: 1,
      sequence_length: 2048,
      hidden_size: 1024,
      num_hidden_layers: 28,
      num_attention_heads: 16,
    };
    const r = await t.call('POST', '/api/memory/compare', {
      calculation_type: 'inference',
      configurations: [
        { ...shape, precision: 'bfloat16' },
        { ...shape, precision: 'float16' },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.json.calculation_type).toBe('inference');
    const [a, b] = r.json.results;
    expect(a.memory_requirements).toEqual(b.memory_requirements);
    expect(a.memory_requirements_bytes.kv_cache).toBe(2 * 28 * 16 * 64 * 2 * 2048);
    expect(r.json.comparison.difference).toBe('0.00 GB');
  });
  it('names the configuration that is wrong', async () => {
    const r = await t.call('POST', '/api/memory/compare', {
      configurations: [{ model_name: 'gpt2' }, { model_name: 'gpt2', batch_size: 'two' }],
    });
    expect(r.status).toBe(400);
    expect(r.json.error).toMatch(/^configurations\[1\]\.batch_size/);
  });
});

describe('GET /api/config/options', () => {
  it("the spec's data types and optimizers, with their bytes", async () => {
    const r = await t.call('GET', '/api/config/options');
    expect(r.status).toBe(200);
    const d = r.json.data_types;
    expect(d.float32.bytes_per_element).toBe(4);
    expect(d.float16.bytes_per_element).toBe(2);
    expect(d.bfloat16.bytes_per_element).toBe(2);
    expect(d.int8.bytes_per_element).toBe(1);
    expect(d.int4.bytes_per_element).toBe(0.5);
    const adamw = r.json.optimizers.find((o: { id: string }) => o.id === 'adamw');
    expect(adamw.state_bytes_per_parameter).toBe(8);
    const q = r.json.optimizers.find((o: { aliases: string[] }) => o.aliases.includes('quantized_adamw'));
    expect(q.state_bytes_per_parameter).toBeCloseTo(2, 1);
    expect(
      r.json.optimizers.find((o: { id: string }) => o.id === 'sgd_momentum').state_bytes_per_parameter,
    ).toBe(4);
    expect(r.json.limits.batch).toBeGreaterThan(0);
  });
});
