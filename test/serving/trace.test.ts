import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/memory/inference.js';
import { parseTrace } from '../../src/core/serving/trace.js';
import { simulateServing } from '../../src/core/serving/index.js';
import { oneH100 } from './fixtures.js';

describe('trace formats', () => {
  it('vLLM bench serve result JSON: lengths in order, no arrival times, the concurrency kept', () => {
    const t = parseTrace(
      JSON.stringify({ max_concurrency: 4, input_lens: [100, 200], output_lens: [10, 0] }),
    );
    expect(t.format).toBe('vllm-bench');
    expect(t.timed).toBe(false);
    expect(t.maxConcurrency).toBe(4);
    expect(t.requests.map((q) => [q.input, q.output])).toEqual([
      [100, 10],
      [200, 1], // a request that produced no token still asks for one
    ]);
  });

  it('Mooncake JSONL: timestamps in ms from the first, prefix hashes kept', () => {
    const text = [
      '{"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, 48]}',
      '{"timestamp": 27000, "input_length": 1000, "output_length": 5, "hash_ids": [46]}',
    ].join('\n');
    const t = parseTrace(text);
    expect(t.format).toBe('mooncake');
    expect(t.requests[0]).toEqual({ arrivalS: 0, input: 1000, output: 5, hashes: [46] });
    expect(t.requests[1]!.arrivalS).toBeCloseTo(0.482, 12);
    expect(t.requests[1]!.hashes).toEqual([46, 47, 48]);
  });

  it('Azure CSV: timestamps with sub-millisecond digits', () => {
    const text = [
      'TIMESTAMP,ContextTokens,GeneratedTokens',
      '2023-11-16 18:15:46.6805900,374,44',
      '2023-11-16 18:15:50.9951690,396,109',
    ].join('\n');
    const t = parseTrace(text);
    expect(t.format).toBe('azure');
    expect(t.requests[1]!.arrivalS).toBeCloseTo(50.995169 - 46.68059, 9);
    expect(t.requests[1]!.input).toBe(396);
  });

  it('plain lines, with or without a header', () => {
    expect(parseTrace('0 10 5\n1.5 20 6').requests[1]).toEqual({ arrivalS: 1.5, input: 20, output: 6 });
    expect(parseTrace('arrival_s,input,output\n0,10,5').requests).toHaveLength(1);
    expect(parseTrace('{"arrival_s": 2, "input": 7, "output": 3}').requests[0]!.arrivalS).toBe(0);
  });

  it('bad lines name the line and the field', () => {
    expect(() => parseTrace('0 10')).toThrow(/line 1/);
    expect(() => parseTrace('0 -3 5')).toThrow(/line 1: input/);
    expect(() => parseTrace('{"input_lens": [1]}')).toThrow(InputError);
    expect(() => parseTrace('TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,2')).toThrow(
      /line 2: TIMESTAMP/,
    );
    expect(() => parseTrace('')).toThrow(/empty/);
  });
});

describe('prefix cache from trace hashes', () => {
  it('a request whose prompt blocks were seen computes only the rest', () => {
    // Two 1024-token prompts, 1 s apart; the second shares the first's two 512-token blocks but one (the last
    // prompt token is always computed): it prefills 1 token over 1023 cached, so its TTFT is a decode-sized step.
    const run = (hashes2: number[]) =>
      simulateServing(
        oneH100({
          kind: 'trace',
          requests: [
            { arrivalS: 0, input: 1024, output: 2, hashes: [1, 2] },
            { arrivalS: 1, input: 1024, output: 2, hashes: hashes2 },
          ],
        }),
      ).estimate;
    const hit = run([1, 2]);
    const miss = run([3, 4]);
    // miss: both prefills (first scheduled → first token; TTFT less the queue and the front end's fixed delay) are
    // the same 1024-token prefill T1. hit: the median of two is their mean, so the second prefill is 2·p50 − T1:
    // one token over a 1023-token context, a decode-sized step (weights read once plus the engine's fixed step
    // cost), under a third of T1 here.
    const t1 = miss.prefill_s.p50;
    expect(miss.prefill_s.p99).toBeCloseTo(t1, 9);
    expect(miss.ttft_s.p50).toBeGreaterThan(t1);
    const t2 = 2 * hit.prefill_s.p50 - t1;
    expect(t2).toBeGreaterThan(0);
    expect(t2).toBeLessThan(t1 / 3);
  });
});
