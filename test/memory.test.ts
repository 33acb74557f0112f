import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../src/catalog/index.js';
import { engineKvCapacity } from '../src/core/memory/engines/index.js';
import { inferenceMemory } from '../src/core/memory/inference.js';
import { weightLayout } from '../src/core/memory/weights.js';
import { PlanError } from '../src/core/parallel/plan.js';
import { GiB, REFERENCE, referenceSpec } from './helpers.js';

const records = JSON.parse(readFileSync(join(REFERENCE, 'calibration', 'memory.json'), 'utf8')).records as {
  kind: string;
  model: string;
  tp: number;
  values: Record<string, number>;
}[];
const record = (kind: string, model: string, tp: number) =>
  records.find((r) => r.kind === kind && r.model === model && r.tp === tp)!;

const plan = (tp = 1, pp = 1, ep = 1) => ({ tp, pp, ep });
const a10g = hardwareSpec(findDevice('a10g-24gb'));

// Capacity as engines compute it is engineKvCapacity (test/capacity-engines.test.ts holds the 16 vLLM 0.19 logs);
// the V0-era records of memory.json (Llama-3-8B 53.29 GiB, Llama-2-7B 7,351 blocks) predate the modelled V1
// profile (0.9.0 and later) and are no longer asked of it.
describe('engine capacity against a measured vLLM profile', () => {
  it('Llama-3-8B at TP2: weights per GPU 7.48 GiB', () => {
    const r = record('vllm_memory_profile', 'meta-llama/Meta-Llama-3-8B', 2);
    const m = inferenceMemory(referenceSpec('meta-llama__Meta-Llama-3-8B.json'), {
      precision: 'bf16',
      kvPrecision: 'bf16',
      batch: 1,
      seq: 1,
      plan: plan(2),
    });
    expect(m.weights_bytes / GiB).toBeCloseTo(r.values['model_weights_GiB_per_gpu']!, 2);
  });

  // Out of sample: the vLLM profile's constants come from vLLM 0.19 logs on H100, not from this A10G guide, so
  // this holds the capacity rule (within 10%, never more than 3% above the measurement), not 3% both ways.
  it('Llama-3.1-8B shape on A10G (22.3 GiB visible), vLLM V1: 4.17 GiB of KV cache, not overstated', () => {
    const r = record('vllm_memory_profile', 'deepseek-ai/DeepSeek-R1-Distill-Llama-8B', 1);
    const c = engineKvCapacity(referenceSpec('meta-llama__Llama-3.1-8B.json'), a10g, {
      deviceTotalBytes: r.values['total_gpu_memory_GiB']! * GiB,
      memoryFraction: 0.9,
      maxModelLen: 32768,
      maxNumBatchedTokens: 8192,
      maxNumSeqs: 256,
    });
    const err = c.kv_cache_bytes_available / GiB / r.values['kv_cache_GiB']! - 1;
    expect(err).toBeLessThanOrEqual(0.03);
    expect(Math.abs(err)).toBeLessThan(0.1);
    expect(Math.abs(c.activation_peak_bytes / GiB - r.values['activation_memory_GiB']!)).toBeLessThan(0.1);
  });
});

describe('weights at storage formats, by hand', () => {
  it('Llama-3.1-8B in bf16 is 2 B x 8,030,261,248 parameters', () => {
    expect(weightLayout(referenceSpec('meta-llama__Llama-3.1-8B.json'), 'bf16').total).toBe(2 * 8030261248);
  });
  it('Llama-2-7B in fp8 keeps embeddings, head and norms at 16 bit', () => {
    // 32 layers x (4 x 4096^2 + 3 x 4096 x 11008) linear weights at 1 B; embed + head 2 x 32000 x 4096 at 2 B;
    // norms (65 x 4096) at 2 B.
    const linear = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008);
    const expected = linear + 2 * (2 * 32000 * 4096) + 2 * 65 * 4096;
    expect(weightLayout(referenceSpec('meta-llama__Llama-2-7b-hf.json'), 'fp8').total).toBe(expected);
  });
  it('gpt-oss-20b as shipped: MXFP4 experts (4.25 bits) and bf16 for the rest', () => {
    const spec = referenceSpec('openai__gpt-oss-20b.json');
    // Experts per layer: gate+up [32, 5760, 2880] and down [32, 2880, 2880] -> 32 x 2880 x 8640 weights,
    // stored as 17 bytes per 32; expert biases 32 x (5760 + 2880) stay bf16.
    const expertW = 24 * 32 * 2880 * 8640;
    const rest = 20914757184 - expertW;
    expect(weightLayout(spec, 'auto').total).toBe((expertW / 32) * 17 + 2 * rest);
  });
  it('GGUF Q8_0 stores 34 bytes per 32 weights, embeddings included', () => {
    const spec = referenceSpec('meta-llama__Llama-2-7b-hf.json');
    const matrices = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008) + 2 * 32000 * 4096;
    expect(weightLayout(spec, 'q8_0').total).toBe((matrices / 32) * 34 + 4 * 65 * 4096);
  });
});

describe('properties', () => {
  const spec = referenceSpec('meta-llama__Llama-3.1-8B.json');
  const mem = (batch: number, seq: number, tp = 1) =>
    inferenceMemory(spec, { precision: 'bf16', kvPrecision: 'bf16', batch, seq, plan: plan(tp) });

  it('memory grows with batch and with sequence length', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 256 }), fc.integer({ min: 1, max: 131072 }), (b, s) => {
        const m = mem(b, s);
        expect(mem(b + 1, s).total_bytes).toBeGreaterThan(m.total_bytes);
        expect(mem(b, s + 1).total_bytes).toBeGreaterThan(m.total_bytes);
      }),
      { numRuns: 200 },
    );
  });

  it('TP shards sum back: weights x tp = whole model + replicated norms x (tp-1); KV x tp = whole KV', () => {
    // Replicated: 2 RMSNorms per layer and the final norm, (2 x 32 + 1) x 4096 x 2 B = 532,480 B.
    const replicated = 65 * 4096 * 2;
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 4, 8), fc.integer({ min: 1, max: 65536 }), (tp, s) => {
        const m = mem(1, s, tp);
        expect(m.weights_bytes * tp - (tp - 1) * replicated).toBe(2 * 8030261248);
        expect(m.kv_cache_bytes * tp).toBe(mem(1, s).kv_cache_bytes);
      }),
    );
  });

  it('pipeline stages split the layers: the worst stage holds ceil(L/pp) layers', () => {
    const m = inferenceMemory(spec, {
      precision: 'bf16',
      kvPrecision: 'bf16',
      batch: 1,
      seq: 1000,
      plan: plan(1, 4),
    });
    // 8 layers x (2 x 8 x 128 x 2 B) per token x 1000 tokens
    expect(m.kv_cache_bytes).toBe(8 * 4096 * 1000);
  });

  it('plans that break the model are refused with the rule', () => {
    expect(() => mem(1, 1, 3)).toThrow(PlanError);
    expect(() => mem(1, 1, 3)).toThrow(/tp=3 does not divide the 32 attention heads/);
    expect(() =>
      inferenceMemory(spec, {
        precision: 'bf16',
        kvPrecision: 'bf16',
        batch: 1,
        seq: 1,
        plan: plan(1, 1, 2),
      }),
    ).toThrow(/needs a mixture-of-experts/);
    expect(() => mem(0, 1)).toThrow(/batch must be a positive integer/);
  });
});

describe('format names', () => {
  it('object-prototype names are not formats', async () => {
    const f = await import('../src/core/numerics/formats.js');
    for (const n of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(f.isFormat(n)).toBe(false);
      expect(f.kvElementBytes(n)).toBeNull();
    }
  });
});
