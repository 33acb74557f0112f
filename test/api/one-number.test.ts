/**
 * One number per question: the same setup asked through the CLI, each API and the web page's endpoints gives the
 * same per-device bytes, because every adapter takes its defaults (runtime profile, KV blocks, KV dtype,
 * gpu_memory_utilization, LoRA targets) from src/core/defaults.ts.
 *
 * Inference: Llama-3.1-8B in bf16, one sequence of 2,001 tokens (1,001 prompt + 1,000 generated). vLLM allocates
 * whole 16-token blocks, so its KV cache is 131,072 B/token x 2,016 tokens = 264,241,152 B.
 * Training: the same model, bf16 mixed precision with AdamW, one sequence of 2,048 tokens; and LoRA rank 16.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/index.js';
import { SERVING_DEFAULTS, TRAINING_DEFAULTS } from '../../src/core/defaults.js';
import { DEFAULTS as WEB } from '../../web/src/state.js';
import { testApp, type Json, type TestApp } from '../server/helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(async () => {
  await t.close();
});

async function cli(...argv: string[]): Promise<Json> {
  let out = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  try {
    expect(await main([...argv, '--json'])).toBe(0);
  } finally {
    o.mockRestore();
  }
  return JSON.parse(out);
}

async function api(url: string, body: unknown): Promise<Json> {
  const r = await t.call('POST', url, body);
  expect(r.status, `${url}: ${r.text.slice(0, 300)}`).toBe(200);
  return r.json;
}

const MODEL = 'meta-llama/Llama-3.1-8B';

describe('the same setup, the same bytes everywhere', () => {
  it('inference: CLI, /api/models/calculate, /api/memory/inference, /api/calculate, system-metrics, web plan', async () => {
    const c = await cli('memory', MODEL, '--precision', 'bf16', '--seq', '2001', '--gpu', 'h100');
    expect(c.kv_cache_bytes).toBe(131_072 * 2016);
    expect(c.runtime).toBe(SERVING_DEFAULTS.runtime);
    const models = await api('/api/models/calculate', {
      model_id: MODEL,
      precision: 'bf16',
      seq_length: 2001,
    });
    const memory = await api('/api/memory/inference', {
      model_name: MODEL,
      precision: 'bfloat16',
      sequence_length: 2001,
    });
    const calc = await api('/api/calculate', {
      model_name: MODEL,
      precision: 'bf16',
      batch_size: 1,
      seq_length: 2001,
      gpu: 'nvidia_h100_80gb',
    });
    const dtype = { dtype: 'bf16' };
    const system = await api('/config/system-metrics', {
      prefill_req: {
        model_id: MODEL,
        hardware_id: 'nvidia_h100_80gb',
        batch_size: 1,
        seq_len: 2001,
        layers: { attention: dtype, feedforward: dtype, norm: dtype, embedding: dtype },
      },
    });
    const web = await api('/api/web/plan', {
      model_id: MODEL,
      hardware_id: 'h100-sxm-80gb',
      precision: 'bf16',
      batch_size: 1,
      input_len: 1001,
      output_len: 1000,
    });
    const totals = {
      cli: c.total_bytes,
      models: models.total_memory_bytes,
      memory: memory.memory_requirements_bytes.inference_memory,
      calculate: calc.vram.total_per_gpu_bytes,
      system: system.prefill.memory_per_chip_bytes,
      web: web.memory_per_device.total_bytes,
    };
    for (const v of Object.values(totals)) expect(v).toBe(c.total_bytes);
    expect(models.memory_breakdown_bytes.kv_cache_bytes).toBe(131_072 * 2016);
    // The verdicts agree too: the same budget, visible memory x the shared gpu_memory_utilization.
    expect(c.fit.fits).toBe(web.memory_per_device.fits);
    expect(c.fit.available_bytes).toBe(Math.floor(web.memory_per_device.usable_bytes));
  });

  it('training: CLI, /api/memory/training and the web page give the same peak; LoRA targets the same layers', async () => {
    const c = await cli('train', MODEL, '--seq', '2048');
    const memory = await api('/api/memory/training', {
      model_name: MODEL,
      precision: 'bfloat16',
      sequence_length: 2048,
    });
    const web = await api('/api/web/training', { model_id: MODEL, precision: 'bf16', seq_len: 2048 });
    expect(memory.memory_requirements_bytes.training_memory).toBe(c.total_bytes);
    expect(web.peak_bytes).toBe(c.total_bytes);
    const lora = await cli('train', MODEL, '--seq', '2048', '--lora-rank', '16');
    const webLora = await api('/api/web/training', {
      model_id: MODEL,
      precision: 'bf16',
      seq_len: 2048,
      lora_rank: 16,
    });
    expect(webLora.peak_bytes).toBe(lora.total_bytes);
    // Every linear layer at rank 16: 32 x 16 x (8192 + 5120 + 5120 + 8192 + 3 x 18432) = 41,943,040.
    expect(webLora.trainable_parameters).toBe(41_943_040);
    expect(lora.trainable_parameters).toBe(41_943_040);
  });

  it("the web page's own defaults are the shared ones", () => {
    expect(WEB.runtime).toBe(SERVING_DEFAULTS.runtime);
    expect(WEB.util).toBe(SERVING_DEFAULTS.gpuMemoryUtilization);
    expect(WEB.loraTargets).toBe(TRAINING_DEFAULTS.loraTargets);
  });
});
