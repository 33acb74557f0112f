/**
 * Edges of latency, replicas and offline throughput, by hand on one-sided devices (see perf-latency.test.ts):
 * a device whose BF16 and FP16 peaks differ, per-shard figures under TP and EP, plan validation, the trace of
 * replica rates, engine memory settings, a pipeline stage's bytes in the throughput step.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import type { PerfResult } from '../../src/core/perf/latency.js';
import { replicaRates } from '../../src/core/perf/replicas.js';
import { offlineThroughput, type ThroughputOptions } from '../../src/core/perf/throughput.js';
import { referenceSpec } from '../helpers.js';
import { bandwidthBound, LLAMA2, perfRun, throughputOptions } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const run = perfRun;

describe('latency figures per shard', () => {
  it('MFU is over the BF16 peak even where FP16 differs (compute-only device at 1 PFLOP/s BF16)', () => {
    const hw = { ...h100, memoryBandwidthBytesPerS: Infinity, denseFlops: { bf16: 1e15, fp16: 5e14 } };
    expect(run(hw).mfu.prefill).toBeCloseTo(1, 12);
  });
  it('Mixtral ep=2 on a compute-only device: 2 shards keep both devices busy', () => {
    const hw = { ...h100, memoryBandwidthBytesPerS: Infinity };
    const r = run(hw, { plan: { tp: 1, pp: 1, ep: 2 } }, 'mistralai__Mixtral-8x7B-v0.1.json');
    expect(r.mfu.decode).toBeCloseTo(1, 12);
  });
  it('tp=2 on a bandwidth-only device: each shard streams at full bandwidth', () => {
    const hw = { ...h100, denseFlops: { bf16: Infinity, fp16: Infinity } };
    const r = run(hw, { plan: { tp: 2, pp: 1, ep: 1 } });
    expect(r.bandwidth_utilization.prefill).toBeCloseTo(1, 12);
    expect(r.bandwidth_utilization.decode).toBeCloseTo(1, 12);
  });
  it('the plan is checked: tp=3 does not divide 32 heads', () => {
    expect(() => run(h100, { plan: { tp: 3, pp: 1, ep: 1 } })).toThrow(/tp/);
  });
});

describe('replica rates', () => {
  it('the trace names each aggregate with its unit and inputs', () => {
    const one = { tokens_per_s: 120, ideal: { tokens_per_s: 200 } } as PerfResult;
    const t = replicaRates(one, 4, true).trace;
    expect(t.map((e) => [e.figure, e.unit, e.inputs])).toEqual([
      ['aggregate_tokens_per_s (estimate)', 'tokens/s', { dp: 4, replica_tokens_per_s: 120 }],
      ['aggregate_tokens_per_s (ideal)', 'tokens/s', { dp: 4, replica_tokens_per_s: 200 }],
    ]);
  });
});

describe('offline throughput options', () => {
  const bandwidthOnly = bandwidthBound(h100);
  const o = throughputOptions();
  const tput = (x: Partial<ThroughputOptions> = {}) =>
    offlineThroughput(referenceSpec(LLAMA2), bandwidthOnly, { ...o, ...x });
  it('pp=2, batch 8: 2 micro-batches of 4 through 16 layers; rate 8 / (2 · stage step)', () => {
    const r = tput({ plan: { tp: 1, pp: 2, ep: 1 } });
    // stage step: 4 decoding at context 110 and 0.2 prompts of 100: T = 24 tokens; KV read 4 · 111 + 0.2 · 100
    const T = 24;
    const layer =
      4 * 4096 * 4096 * 2 +
      T * 12288 * 2 +
      (4 * 111 + 20) * 2 * 4096 * 2 +
      T * 32 * 256 * 2 +
      3 * 4096 * 11008 * 2 +
      T * 3 * 11008 * 2 +
      4 * T * 4096 * 2;
    const bytes = 16 * layer + 2 * T * 4096 * 2 + 32000 * 4096 * 2 + 4 * 32000 * 4;
    expect(r.step_s / (bytes / 3.35e12)).toBeCloseTo(1, 12);
    expect(r.output_tokens_per_s * 2 * r.step_s).toBeCloseTo(8, 9);
  });
  it('one sequence still runs; none when nothing fits, and then the step is memory-bound by convention', () => {
    expect(tput({ maxBatch: 1 }).output_tokens_per_s).toBeGreaterThan(0);
    const none = offlineThroughput(referenceSpec('meta-llama__Llama-3.1-70B-Instruct.json'), h100, o);
    expect([none.batch, none.bound, none.ideal.bound]).toEqual([0, 'memory', 'memory']);
  });
  it('vLLM takes gpu_memory_utilization; other engines ignore it; memory_fraction applies to any', () => {
    const kv = (x: Partial<ThroughputOptions>) => tput({ maxBatch: undefined, ...x }).max_concurrency;
    expect(kv({ gpuMemoryUtilization: 0.5 })).toBeLessThan(kv({}));
    expect(kv({ engine: 'vllm', gpuMemoryUtilization: 0.5 })).toBe(kv({ gpuMemoryUtilization: 0.5 }));
    expect(kv({ engine: 'sglang', gpuMemoryUtilization: 0.5 })).toBe(kv({ engine: 'sglang' }));
    expect(kv({ engine: 'sglang', memoryFraction: 0.5 })).toBeLessThan(kv({ engine: 'sglang' }));
    expect(kv({ memoryFraction: 0.5, gpuMemoryUtilization: 0.9 })).toBe(kv({ gpuMemoryUtilization: 0.5 }));
  });
  it('lengths and plan are checked', () => {
    expect(() => tput({ outputLen: 0 })).toThrow('output_len must be a positive integer');
    expect(() => tput({ plan: { tp: 3, pp: 1, ep: 1 } })).toThrow(/tp/);
  });
});
