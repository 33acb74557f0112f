/**
 * The steady-state step of offline throughput by hand, on a "bandwidth-only" H100 (unbounded FLOP/s: the step takes
 * its bytes / 3.35 TB/s) at the ideal efficiency. Llama-2-7B (32 layers, hidden 4096, 32 heads of 128, MLP 11008,
 * vocab 32000, fp16 KV). Batch 8 (max_num_seqs), 100 in / 20 out: each step decodes the 8 sequences at the mean
 * context 100 + 10 and prefills 8 / 20 = 0.4 prompts of 100 tokens: 8 + 40 = 48 tokens.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { offlineThroughput, type ThroughputOptions } from '../../src/core/perf/throughput.js';
import { referenceSpec } from '../helpers.js';
import { bandwidthBound, throughputOptions } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const bandwidthOnly = bandwidthBound(h100);
const o = throughputOptions();
const run = (x: Partial<ThroughputOptions> = {}) =>
  offlineThroughput(referenceSpec('meta-llama__Llama-2-7b-hf.json'), bandwidthOnly, { ...o, ...x });

/** Bytes of the step: weights once; per token q/k/v out, attention in/out, MLP, norms, embedding; KV read; logits. */
function stepBytes(batch: number): number {
  const prompts = batch / 20;
  const T = batch + prompts * 100;
  const kvTokens = batch * 111 + prompts * 100;
  const layer =
    4 * 4096 * 4096 * 2 +
    T * 12288 * 2 +
    kvTokens * 2 * 4096 * 2 +
    T * 32 * 256 * 2 +
    3 * 4096 * 11008 * 2 +
    T * 3 * 11008 * 2 +
    4 * T * 4096 * 2;
  return 32 * layer + 2 * T * 4096 * 2 + 32000 * 4096 * 2 + batch * 32000 * 4;
}

describe('offline throughput step', () => {
  it('batch 8: decode at context 110 plus 0.4 prompts of 100 tokens; 8 tokens per step', () => {
    const r = run();
    expect(r.batch).toBe(8);
    expect(r.batch_limit).toBe('max_batch');
    expect(r.step_s / (stepBytes(8) / 3.35e12)).toBeCloseTo(1, 12);
    expect(r.output_tokens_per_s * r.step_s).toBeCloseTo(8, 9);
    expect(r.bound).toBe('memory');
    expect(r.ideal.step_s).toBe(r.step_s);
  });
  it('max_num_tokens 96: floor(96 / (1 + 100 / 20)) = 16 sequences', () => {
    const r = run({ maxBatch: 64, maxNumTokens: 96 });
    expect(r.batch).toBe(16);
    expect(r.batch_limit).toBe('max_num_tokens');
    expect(r.step_s / (stepBytes(16) / 3.35e12)).toBeCloseTo(1, 12);
  });
  it('the trace: concurrency, batch, step and rate with their inputs', () => {
    const r = run({ explain: true });
    expect(r.trace.map((t) => [t.figure, t.unit])).toEqual([
      ['max_concurrency', 'sequences'],
      ['batch', 'sequences'],
      ['step_s', 's'],
      ['output_tokens_per_s', 'tokens/s'],
    ]);
    expect(r.trace[0]!.inputs['seq_len']).toBe(120);
    expect(r.trace[1]!.inputs).toEqual({
      max_batch: 8,
      max_num_tokens: r.capacity.settings.max_num_batched_tokens,
    });
    expect(r.trace[1]!.value).toBe(8);
    expect(r.trace[3]!.inputs).toEqual({ pp: 1 });
    expect(run().trace).toEqual([]);
  });
});
