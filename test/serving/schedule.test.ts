/**
 * Small schedules worked out by hand. The step time is a stand-in: 10 ms + 1 ms per token of the step, whatever
 * the mix, so every timestamp below can be added up on paper.
 */
import { describe, expect, it } from 'vitest';
import { engineDefaults, type EngineConfig, type EngineId } from '../../src/core/serving/engines.js';
import { servingMetrics } from '../../src/core/serving/metrics.js';
import { simulate } from '../../src/core/serving/sim.js';
import type { RankMix, StepTimer } from '../../src/core/serving/step-time.js';

const stepS = (tokens: number) => 0.01 + 0.001 * tokens;

function tokensOf(m: RankMix): number {
  let t = m.decodes;
  for (const c of m.prefill) t += c.tokens;
  return t;
}

const fakeTimer = {
  exact: (m: RankMix, all?: number) => stepS(all ?? tokensOf(m)),
  time: (m: RankMix, all: number) => stepS(all ?? tokensOf(m)),
  decodeRun: (b: number, _m0: number, k: number, all: number, cells?: { value: number; steps: number }[]) => {
    cells?.push({ value: stepS(all), steps: k });
    return k * stepS(all);
  },
  evaluations: 0,
} as unknown as StepTimer;

const plan = { tp: 1, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 1 };

function run(engine: EngineId, over: Partial<EngineConfig>, blocks: number, exact = false) {
  const cfg = { ...engineDefaults(engine, 80 * 2 ** 30), maxStepTokens: 8, blockTokens: 1, ...over };
  const sim = simulate({
    instances: [{ role: 'both', plan, engine: cfg, blocksPerRank: blocks, timer: fakeTimer }],
    requests: [
      { arrivalS: NaN, input: 6, output: 3 },
      { arrivalS: NaN, input: 6, output: 3 },
    ],
    users: 2,
    exact,
    collectGaps: true,
  });
  const R = sim.requests;
  const m = servingMetrics(
    {
      arrival: R.arrival,
      scheduled: R.scheduled,
      firstToken: R.firstToken,
      finish: R.finish,
      outputLen: R.output,
      inputLen: R.input,
    },
    Math.max(...R.finish),
    sim.gaps,
  );
  return { R, m, sim };
}

describe('vLLM V1: decode first, then prompt chunks in the token budget', () => {
  // budget 8; A and B (6 prompt tokens, 3 output tokens) both arrive at 0.
  // step 1 [0, 0.018]: A's prompt 6 + B's first chunk 2 = 8 tokens → A's first token at 0.018
  // step 2 [0.018, 0.033]: A decodes 1 + B's last chunk 4 = 5 tokens → B's first token at 0.033, A's 2nd
  // step 3 [0.033, 0.045]: both decode (2 tokens) → A's 3rd token: A done at 0.045
  // step 4 [0.045, 0.056]: B decodes alone (1 token) → B done at 0.056
  for (const exact of [false, true]) {
    it(`timestamps and every metric (${exact ? 'step by step' : 'fast path'})`, () => {
      const { R, m, sim } = run('vllm', {}, 1000, exact);
      expect(R.firstToken[0]).toBeCloseTo(0.018, 12);
      expect(R.firstToken[1]).toBeCloseTo(0.033, 12);
      expect(R.finish[0]).toBeCloseTo(0.045, 12);
      expect(R.finish[1]).toBeCloseTo(0.056, 12);
      expect(sim.steps).toBe(4);
      expect(m.ttft_s.p50).toBeCloseTo((0.018 + 0.033) / 2, 12);
      // TPOT: A (0.045 − 0.018)/2 = 0.0135; B (0.056 − 0.033)/2 = 0.0115
      expect(m.tpot_s.mean).toBeCloseTo(0.0125, 12);
      expect(m.tpot_s.p90).toBeCloseTo(0.0115 + 0.9 * 0.002, 12);
      // ITL: A 0.015, 0.012; B 0.012, 0.011 → [0.011, 0.012, 0.012, 0.015]
      expect(m.itl_s.p50).toBeCloseTo(0.012, 12);
      expect(m.itl_s.mean).toBeCloseTo(0.0125, 12);
      expect(m.itl_s.p99).toBeCloseTo(0.012 + 0.97 * 0.003, 12);
      expect(m.e2e_s.mean).toBeCloseTo((0.045 + 0.056) / 2, 12);
      expect(m.output_tokens_per_s).toBeCloseTo(6 / 0.056, 9);
      expect(m.request_throughput_per_s).toBeCloseTo(2 / 0.056, 9);
      expect(m.queue_s.p50).toBe(0); // both scheduled in step 1
    });
  }

  it('preempts the newest request by recompute when blocks run out', () => {
    // 12 one-token blocks. step 1: A 6 + B 2 → 8 held, 4 free, A's first token at 0.018.
    // step 2: A needs its 7th block (3 free left); B's 4 more do not fit → B (the newest) is preempted and
    // freed (5 free), nothing new is admitted that step: A decodes alone, 0.011 → 0.029.
    // step 3: A takes its 8th block (4 free); B must recompute 6 tokens, 4 free → waits; A alone → A done 0.040.
    // step 4: B's 6 prompt tokens → first token at 0.056; steps 5–6: B decodes two tokens, 0.011 each → 0.078.
    const { R, sim } = run('vllm', {}, 12);
    expect(sim.preemptions).toBe(1);
    expect(R.finish[0]).toBeCloseTo(0.04, 12);
    expect(R.firstToken[1]).toBeCloseTo(0.056, 12);
    expect(R.finish[1]).toBeCloseTo(0.078, 12);
    expect(R.scheduled[1]).toBe(0); // queueing counts from the first schedule
  });
});

describe('SGLang: a prefill batch runs alone; decodes wait for a step without prefill', () => {
  // step 1 [0, 0.018]: prefill A 6 + B's chunk 2 → A's first token at 0.018
  // step 2 [0.018, 0.032]: B's remaining 4 prompt tokens alone (A waits) → B's first token at 0.032
  // step 3 [0.032, 0.044]: both decode → A's gap 0.026, B's 0.012
  // step 4 [0.044, 0.056]: both decode → both done at 0.056
  it('timestamps, TPOT and ITL', () => {
    const { R, m } = run('sglang', {}, 1000);
    expect(R.firstToken[0]).toBeCloseTo(0.018, 12);
    expect(R.firstToken[1]).toBeCloseTo(0.032, 12);
    expect(R.finish[0]).toBeCloseTo(0.056, 12);
    expect(R.finish[1]).toBeCloseTo(0.056, 12);
    // TPOT: A (0.056 − 0.018)/2 = 0.019, B (0.056 − 0.032)/2 = 0.012
    expect(m.tpot_s.mean).toBeCloseTo(0.0155, 12);
    // ITL [0.012, 0.012, 0.012, 0.026]: p50 0.012, p90 h = 2.7 → 0.012 + 0.7·0.014 = 0.0218
    expect(m.itl_s.p50).toBeCloseTo(0.012, 12);
    expect(m.itl_s.p90).toBeCloseTo(0.0218, 12);
  });

  it('mixed chunking puts the decodes into the prefill step', () => {
    // step 2 becomes A's decode + B's 4 tokens = 5 → 0.033, as vLLM
    const { R } = run('sglang', { mixed: true }, 1000);
    expect(R.firstToken[1]).toBeCloseTo(0.033, 12);
  });
});

describe('TensorRT-LLM GUARANTEED_NO_EVICT: admission reserves prompt + all outputs', () => {
  // 10 one-token blocks: A reserves 6 + 3 = 9, B must wait for A to finish.
  // step 1 [0, 0.016]: A's prompt alone; steps 2–3: A decodes, 0.011 each → A done at 0.038
  // step 4 [0.038, 0.054]: B's prompt → TTFT 0.054 = queueing 0.038 + prefill 0.016; B done at 0.076
  it('queues B behind A and splits its TTFT', () => {
    const { R, m, sim } = run('trtllm', {}, 10);
    expect(sim.preemptions).toBe(0);
    expect(R.finish[0]).toBeCloseTo(0.038, 12);
    expect(R.firstToken[1]).toBeCloseTo(0.054, 12);
    expect(R.finish[1]).toBeCloseTo(0.076, 12);
    expect(m.queue_s.p99).toBeCloseTo(0.99 * 0.038, 12);
    expect(m.prefill_s.mean).toBeCloseTo(0.016, 12);
  });
});

describe('disaggregated: the first token waits for room on the decode worker', () => {
  // Prefill worker (budget 8) and a decode worker whose 9 one-token blocks hold one request (TensorRT-LLM reserves
  // prompt 6 + output 3). KV transfer takes no time here.
  // prefill step 1 [0, 0.018]: A's 6 + B's first 2 → A handed over at 0.018, taken in at once: A's first token
  // decode: A's 2 more tokens, 0.011 each → A done at 0.040
  // prefill step 2 [0.018, 0.032]: B's last 4 → B handed over at 0.032, but the decode pool is full until A is done:
  // B's first token at 0.040 (not 0.032), then 2 decode steps → B done at 0.062
  it('TTFT counts the wait for decode KV', () => {
    const cfg = { ...engineDefaults('trtllm', 80 * 2 ** 30), maxStepTokens: 8, blockTokens: 1 };
    const sim = simulate({
      instances: [
        {
          role: 'prefill',
          plan,
          engine: { ...cfg, reservation: 'current' },
          blocksPerRank: 1000,
          timer: fakeTimer,
        },
        { role: 'decode', plan, engine: cfg, blocksPerRank: 9, timer: fakeTimer },
      ],
      requests: [
        { arrivalS: NaN, input: 6, output: 3 },
        { arrivalS: NaN, input: 6, output: 3 },
      ],
      users: 2,
      transferS: () => 0,
    });
    const R = sim.requests;
    expect(R.firstToken[0]).toBeCloseTo(0.018, 12);
    expect(R.finish[0]).toBeCloseTo(0.04, 12);
    expect(R.firstToken[1]).toBeCloseTo(0.04, 12);
    expect(R.finish[1]).toBeCloseTo(0.062, 12);
  });
});
