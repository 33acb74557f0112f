/**
 * Offline throughput: which limit bounds the batch (vLLM's defaults on an H100 80 GB: max_num_seqs 1024,
 * max_num_batched_tokens 8192) and how the rate follows from the step, by hand.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { offlineThroughput } from '../../src/core/perf/throughput.js';
import { referenceSpec } from '../helpers.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const llama31 = referenceSpec('meta-llama__Llama-3.1-8B.json');
const run = (inputLen: number, outputLen: number, extra: object = {}, plan: object = {}) =>
  offlineThroughput(llama31, h100, {
    precision: 'bf16',
    inputLen,
    outputLen,
    plan: { tp: 1, pp: 1, ep: 1, ...plan },
    ...extra,
  });

describe('the batch limit', () => {
  it('128 in / 128 out: max_num_seqs (1024) binds; 2 tokens per step per sequence leave 4096 per step', () => {
    const r = run(128, 128);
    expect(r.batch).toBe(1024);
    expect(r.batch_limit).toBe('max_batch');
    // pp = 1, dp = 1: the group makes batch / step tokens per second.
    expect(r.output_tokens_per_s).toBeCloseTo(1024 / r.step_s, 6);
    expect(r.ideal.output_tokens_per_s).toBeCloseTo(1024 / r.ideal.step_s, 6);
    expect(r.output_tokens_per_s_per_device).toBe(r.output_tokens_per_s);
  });
  it('1024 in / 64 out with 2048 tokens per step: floor(2048 / (1 + 16)) = 120 sequences', () => {
    const r = run(1024, 64, { maxNumTokens: 2048 });
    expect(r.batch).toBe(120);
    expect(r.batch_limit).toBe('max_num_tokens');
  });
  it('2048 in / 128 out: the KV cache binds, floor(max_concurrency) sequences', () => {
    const r = run(2048, 128);
    expect(r.batch_limit).toBe('kv_capacity');
    expect(r.batch).toBe(Math.floor(r.max_concurrency));
    // One request needs 2176 / 16 = 136 blocks of 2 MiB (16 tokens x 131,072 B).
    expect(r.max_concurrency).toBeCloseTo(r.capacity.kv_cache_bytes_available / (136 * 2 ** 21), 0);
  });
});

describe('parallel plans and failures', () => {
  it('dp=2 doubles the output rate of the group, on twice the devices', () => {
    const one = run(128, 128);
    const two = run(128, 128, {}, { dp: 2 });
    expect(two.output_tokens_per_s).toBeCloseTo(2 * one.output_tokens_per_s, 6);
    expect(two.devices).toBe(2);
    expect(two.output_tokens_per_s_per_device).toBeCloseTo(one.output_tokens_per_s, 6);
  });
  it('pp=2: batch / (2 · stage step)', () => {
    const r = run(128, 128, {}, { pp: 2 });
    expect(r.output_tokens_per_s).toBeCloseTo(r.batch / (2 * r.step_s), 6);
  });
  it('a model that does not fit produces nothing', () => {
    const r = offlineThroughput(referenceSpec('meta-llama__Llama-3.1-70B-Instruct.json'), h100, {
      precision: 'bf16',
      inputLen: 128,
      outputLen: 128,
      plan: { tp: 1, pp: 1, ep: 1 },
    });
    expect(r.max_concurrency).toBe(0);
    expect(r.batch).toBe(0);
    expect(r.output_tokens_per_s).toBe(0);
    expect(r.ideal.step_s).toBe(Infinity);
  });
  it('lengths must be positive integers, named', () => {
    expect(() => run(0, 8)).toThrow(/input_len must be a positive integer/);
    expect(() => run(8, 1.5)).toThrow(/output_len must be a positive integer/);
  });
});
