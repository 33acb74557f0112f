/**
 * One question through the four calculator APIs: Llama-3.1-8B in bf16, batch 1, 2,048 tokens, on one H100 SXM.
 * Every API must give the same bytes and seconds for it, and the bytes must equal what the published parameter
 * count and the config give by hand:
 *   weights   = 2 B x 8,030,261,248 (HF safetensors total, shared/reference/parameter-counts.json) = 16,060,522,496
 *   KV/token  = 2 (K and V) x 32 layers x 8 KV heads x 128 head_dim x 2 B                          = 131,072
 *   KV        = 131,072 x 2,048 tokens                                                               = 268,435,456
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE } from '../helpers.js';
import { testApp, type Json, type TestApp } from '../server/helpers.js';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(async () => {
  await t.close();
});

const MODEL = 'meta-llama/Llama-3.1-8B';
const PARAMS = (() => {
  const ref = JSON.parse(readFileSync(`${REFERENCE}/parameter-counts.json`, 'utf8')) as {
    models: { hf_id: string; values: { quantity: string; value: number }[] }[];
  };
  const m = ref.models.find((x) => x.hf_id === MODEL)!;
  return m.values.find((v) => v.quantity === 'hf_safetensors_total')!.value;
})();
const WEIGHTS = 2 * PARAMS;
const KV_PER_TOKEN = 2 * 32 * 8 * 128 * 2;
const SEQ = 2048;
const KV = KV_PER_TOKEN * SEQ;
const gb = (bytes: number) => Math.round(bytes / 1e7) / 100;

const layers = {
  attention: { tensor_parallel: 1, context_parallel: 1, dtype: 'bf16' },
  feedforward: { tensor_parallel: 1, sequence_parallel: 1, dtype: 'bf16' },
  norm: { tensor_parallel: 1, dtype: 'bf16' },
  embedding: { tensor_parallel: 1, dtype: 'bf16' },
};

async function ok(method: string, url: string, body?: unknown): Promise<Json> {
  const r = await t.call(method, url, body);
  expect(r.status, `${url}: ${r.text.slice(0, 300)}`).toBe(200);
  return r.json;
}

/** api-inference-calculator.md on one H100 SXM (the system of one GPU). */
const inferenceCalculator = () =>
  ok('POST', '/api/calculate', {
    model_name: MODEL,
    precision: 'bf16',
    batch_size: 1,
    seq_length: SEQ,
    gpu: 'nvidia_h100_80gb',
    // The calibrated efficiencies system metrics use (the spec's default would be a flat 0.3).
    efficiency_factor: null,
  });

/** api-system-metrics.md: a prefill of `seqLen` tokens on the same GPU, every layer unsplit in bf16. */
const systemMetrics = (seqLen: number) =>
  ok('POST', '/config/system-metrics', {
    prefill_req: { model_id: MODEL, hardware_id: 'nvidia_h100_80gb', batch_size: 1, seq_len: seqLen, layers },
  });

describe('the same question through the four APIs', () => {
  it('weights, KV cache and activations: the same bytes everywhere, equal to the hand values', async () => {
    expect(PARAMS).toBe(8030261248);
    const models = await ok('POST', '/api/models/calculate', {
      model_id: MODEL,
      precision: 'bf16',
      batch_size: 1,
      seq_length: SEQ,
    });
    const memory = await ok('POST', '/api/memory/inference', {
      model_name: MODEL,
      precision: 'bfloat16',
      batch_size: 1,
      sequence_length: SEQ,
    });
    const calc = await inferenceCalculator();
    const system = await systemMetrics(SEQ);

    // api-models-and-memory.md
    expect(models.parameter_count).toBe(PARAMS);
    expect(models.memory_breakdown_bytes.weight_bytes).toBe(WEIGHTS);
    expect(models.kv_cache_bytes_per_token).toBe(KV_PER_TOKEN);
    expect(models.memory_breakdown_bytes.kv_cache_bytes).toBe(KV);
    // api-memory-calculator.md
    expect(memory.model.total_parameters).toBe(PARAMS);
    expect(memory.memory_requirements_bytes.model_weights).toBe(WEIGHTS);
    expect(memory.memory_requirements_bytes.kv_cache).toBe(KV);
    expect(memory.kv_cache_bytes_per_token).toBe(KV_PER_TOKEN);
    expect(memory.memory_requirements_bytes.activation_memory).toBe(
      models.memory_breakdown_bytes.activation_bytes,
    );
    expect(memory.memory_requirements_bytes.runtime_overhead).toBe(
      models.memory_breakdown_bytes.extra_work_bytes,
    );
    expect(memory.memory_requirements_bytes.inference_memory).toBe(models.total_memory_bytes);
    expect(memory.memory_requirements.model_weights).toBe(`${gb(WEIGHTS).toFixed(2)} GB`);
    // api-inference-calculator.md: GB fields of the same bytes; the base total is weights + KV + activations.
    expect(calc.parameters_billions).toBe(8.03);
    expect(calc.vram.model_base).toBe(gb(WEIGHTS));
    expect(calc.vram.kv_cache_base).toBe(gb(KV));
    expect(calc.vram.activations_base).toBe(gb(models.memory_breakdown_bytes.activation_bytes));
    expect(calc.vram.total_bytes).toBe(WEIGHTS + KV + models.memory_breakdown_bytes.activation_bytes);
    expect(calc.parallelism.num_gpus).toBe(1);
    // api-system-metrics.md: one chip serving the same 2,048 tokens holds what the inference calculator's
    // "with overhead" total says (both count vLLM V1's runtime lines and 16-token KV blocks).
    expect(system.prefill.chips_used).toBe(1);
    expect(system.prefill.memory_per_chip_bytes).toBe(calc.vram.total_per_gpu_bytes);
    expect(system.prefill.memory_per_chip_gb).toBe(calc.vram.total_per_gpu_with_component_overhead);
    // ... and /api/models/calculate asked for the same runtime gives the same total.
    const v1 = await ok('POST', '/api/models/calculate', {
      model_id: MODEL,
      precision: 'bf16',
      batch_size: 1,
      seq_length: SEQ,
      runtime: 'vllm-v1',
    });
    expect(v1.total_memory_bytes).toBe(system.prefill.memory_per_chip_bytes);
    for (const b of [
      models.total_memory_bytes,
      v1.total_memory_bytes,
      calc.vram.total_per_gpu_bytes,
      system.prefill.memory_per_chip_bytes,
    ])
      expect(Number.isInteger(b), `${b} bytes`).toBe(true);
  });

  it('prefill time and FLOPs: the inference calculator and system metrics agree on the same prompt', async () => {
    // /api/calculate splits seq_length into the prompt and min(1000, seq - 1) generated tokens: 1,048 + 1,000.
    const calc = await inferenceCalculator();
    const system = await systemMetrics(SEQ - 1000);
    expect(system.prefill.flops).toBe(calc.flops.prefill_total);
    expect(system.prefill.latency_ms).toBeCloseTo(calc.performance.prefill_latency * 1e3, 9);
    expect(system.prefill.ideal_latency_ms).toBeCloseTo(calc.performance.ideal.prefill_latency * 1e3, 9);
    // Every non-embedding weight multiplies every prompt token at least once: 2 FLOPs per weight per token.
    const nonEmbedding = PARAMS - 2 * 128256 * 4096;
    expect(calc.flops.prefill_total).toBeGreaterThan(2 * nonEmbedding * (SEQ - 1000));
    // Decode at batch 1 reads every weight but the embedding table (one row per token) once per token: the ideal
    // step is at least those bytes / HBM bandwidth (H100 SXM: 3.35 TB/s), and the estimate is slower than the ideal.
    const read = WEIGHTS - 2 * 128256 * 4096;
    expect(calc.performance.ideal.token_latency).toBeGreaterThanOrEqual(read / 3.35e12);
    expect(calc.performance.token_latency).toBeGreaterThan(calc.performance.ideal.token_latency);
  });
});
