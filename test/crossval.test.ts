import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../src/catalog/index.js';
import { confidenceFor, formatFamily } from '../src/core/perf/confidence.js';
import {
  CALIBRATION,
  efficiencyFor,
  ENGINES,
  gemmEfficiency,
  IDEAL,
  type CalibrationTable,
} from '../src/core/perf/efficiency.js';
import { stepContext } from '../src/core/perf/latency.js';
import { stepOps, type StepShape } from '../src/core/perf/ops.js';
import { steadyAgg, steadyDisagg } from '../src/core/perf/steady.js';
import { timeOps } from '../src/core/perf/step.js';
import { analyticCase, widenToFit } from '../src/validation/analytic.js';
import { loadServingRows, parseServingRow, specOf } from '../src/validation/measured.js';
import { median } from '../src/validation/rows.js';
import { loadDataset } from '../scripts/calibrate.js';
import { leaveOneOut } from '../scripts/crossval.js';

describe('closed-loop steady state, worked by hand', () => {
  it('a step of fixed length: TPOT is the step, TTFT half a step of wait + the prompt step + request latency', () => {
    const o = {
      batch: 8,
      kvCapacity: 1e9,
      requestS: 0.02,
      burst: 0.5,
      isl: 1000,
      osl: 100,
      step: () => 0.01,
    };
    // A prompt adds nothing to a fixed step and a chunk holds all 8, 1.25 ms of a step each: the half in a wave
    // waits for half of the other 7, 7 · 1.25 / 2 ms. 5 + 0.5 · 4.375 + 10 + 20 ms.
    const r = steadyAgg({ ...o, chunk: 8000 });
    expect(r.tpot_s).toBeCloseTo(0.01, 12);
    expect(r.ttft_s).toBeCloseTo(0.035 + 0.5 * 0.004375, 9);
    // One prompt a step: the wave's users wait for whole steps, 7 · 10 / 2 ms, the spread-out half for nothing.
    expect(steadyAgg(o).ttft_s).toBeCloseTo(0.035 + 0.5 * 0.035, 9);
  });

  it('users beyond the KV capacity wait for whole requests: TTFT grows by (b/c − 1) · (TTFT + generation)', () => {
    const r = steadyAgg({
      batch: 20,
      kvCapacity: 10,
      requestS: 0,
      burst: 0,
      isl: 1000,
      osl: 101,
      step: () => 0.01,
    });
    // 0.015 s to the first token, 100 · 0.01 s of generation; twice the users the cache holds: + 1.015 s.
    expect(r.ttft_s).toBeCloseTo(0.015 + 1.015, 9);
  });

  it("a wave's prompts share chunks: each waits for half the others at a chunk's whole step per prompt", () => {
    // Fixed cost 10 ms a step, 1 µs per prompt token plus 8 ms per step that holds any prompt (launch, sync).
    const step = (_d: number, p: number) => 0.01 + (p > 0 ? 0.008 : 0) + 1e-6 * p;
    const r = steadyAgg({
      batch: 9,
      kvCapacity: 1e9,
      requestS: 0,
      burst: 1,
      isl: 1000,
      osl: 1,
      step,
      chunk: 4000,
    });
    // A chunk holds 4 prompts: a step of 0.01 + 0.008 + 0.004 = 22 ms, 5.5 ms a prompt (the decode batch's share
    // of the step passes too). 8 others, half ahead: 4 · 5.5 ms = 22 ms.
    // TTFT = 5 ms (half a step) + 22 ms + the step holding the prompt (0.01 + 0.008 + 0.001 = 19 ms) = 46 ms.
    expect(r.ttft_s).toBeCloseTo(0.046, 9);
    // Without the chunk, each prompt has a step of its own: 4 · 19 ms → 5 + 76 + 19 = 100 ms.
    expect(
      steadyAgg({ batch: 9, kvCapacity: 1e9, requestS: 0, burst: 1, isl: 1000, osl: 1, step }).ttft_s,
    ).toBeCloseTo(0.1, 9);
  });

  it("a wave's prefill stalls the wave's users already decoding: W/2 = (b − 1) · sWave / 2 over OSL − 1 tokens", () => {
    const step = (_d: number, p: number) => 0.01 + (p > 0 ? 0.008 : 0) + 1e-6 * p;
    const o = { batch: 9, kvCapacity: 1e9, requestS: 0, burst: 1, isl: 1000, step, chunk: 4000 };
    // All 9 users in one wave: 8 others' prompts at 3 ms each (a 4-prompt chunk, (8 + 4) ms / 4) = 24 ms; half of
    // it after a user's first token, over 10 tokens: TPOT = 10 ms + 12 ms / 10 = 11.2 ms.
    expect(steadyAgg({ ...o, osl: 11 }).tpot_s).toBeCloseTo(0.0112, 4);
    // Over 100 tokens, 10.12 ms; with no token after the first, no decode phase to stall.
    expect(steadyAgg({ ...o, osl: 101 }).tpot_s).toBeCloseTo(0.01012, 5);
    expect(steadyAgg({ ...o, osl: 1 }).tpot_s).toBeCloseTo(0.01, 9);
  });

  it('waves disperse as their prompts take more of the cycle: share burst · h / (h + x), in TTFT and TPOT', () => {
    const step = (_d: number, p: number) => 0.01 + (p > 0 ? 0.008 : 0) + 1e-6 * p;
    const o = { batch: 9, kvCapacity: 1e9, requestS: 0, burst: 0.8, isl: 1000, osl: 101, step, chunk: 4000 };
    const r = steadyAgg({ ...o, burstHalf: 0.02 });
    // x = users · (a wave's prompt, 3 ms) / (generation, 100 · TPOT); the share in waves follows.
    const x = (9 * 0.003) / (100 * r.tpot_s);
    const share = (0.8 * 0.02) / (0.02 + x);
    const s = 0.009;
    const rho = (9 / (r.ttft_s + 100 * r.tpot_s)) * s;
    const stall = (share * 8 * 0.003) / 2 / 100;
    expect(r.tpot_s / (0.01 / (1 - (1 - share) * rho) + stall)).toBeCloseTo(1, 2);
    // A wave's user waits for whole steps ahead of it: 22 ms a chunk of 4 prompts, 5.5 ms a prompt.
    const ttft = r.tpot_s / 2 + (1 - share) * (rho / (1 - rho)) * (s / 2) + share * 8 * (0.0055 / 2) + 0.019;
    expect(r.ttft_s / ttft).toBeCloseTo(1, 2);
    // The share lies strictly between no waves and the undecayed burst, and so does TTFT.
    expect(share).toBeGreaterThan(0.05);
    expect(share).toBeLessThan(0.75);
    expect(r.ttft_s).toBeLessThan(steadyAgg(o).ttft_s);
    expect(r.ttft_s).toBeGreaterThan(steadyAgg({ ...o, burst: 0 }).ttft_s);
  });

  it('prompts stall the decode steps they join: the solution satisfies its own equations', () => {
    // A step that holds prompt tokens pays 5 ms more (launch, synchronisation) besides 10 µs a token: spreading
    // prompts thin over every step would pay the 5 ms in every step.
    const step = (d: number, p: number) => 0.01 + 1e-4 * d + (p > 0 ? 0.005 : 0) + 1e-5 * p;
    const o = { batch: 32, kvCapacity: 1e9, requestS: 0, burst: 0, isl: 2000, osl: 200, step };
    const r = steadyAgg(o);
    const lambda = o.batch / (r.ttft_s + (o.osl - 1) * r.tpot_s);
    // Each prompt adds s = 0.005 + 2000 · 1e-5 = 0.025 s to one step; a share ρ = λ·s of the time goes to prompts.
    const s = 0.025;
    const rho = lambda * s;
    // TPOT = step(b, 0) / (1 − ρ) = 0.0132 / (1 − ρ) (damped iteration: within 1%).
    expect(r.tpot_s / (0.0132 / (1 - rho))).toBeCloseTo(1, 2);
    // TTFT = TPOT/2 + M/D/1 wait ρ/(1−ρ)·s/2 + the step holding the prompt.
    const expected = r.tpot_s / 2 + (rho / (1 - rho)) * (s / 2) + step(o.batch, o.isl);
    expect(r.ttft_s / expected).toBeCloseTo(1, 2);
  });

  it('disaggregated: TTFT solves x = ρ/(1−ρ)·s/2 + s + transfer with ρ = λ·s (a quadratic, solved by hand)', () => {
    const r = steadyDisagg({
      users: 4,
      decodeBatch: 4,
      kvCapacity: 1e9,
      requestS: 0.01,
      burst: 0,
      prefillRanks: 1,
      isl: 1000,
      osl: 11,
      prefillStep: () => 0.1,
      decodeStep: () => 0.02,
      transferS: 0.005,
    });
    // ρ = 4 · 0.1 / (x + 0.2): (x − 0.105)(x − 0.2) = 0.02 → x = (0.305 + √0.089025) / 2 = 0.3016851…
    expect(r.tpot_s).toBeCloseTo(0.02, 12);
    expect(r.ttft_s).toBeCloseTo((0.305 + Math.sqrt(0.089025)) / 2 + 0.01, 4);
  });
});

describe('efficiency by operator shape', () => {
  it('GEMM efficiency rises with rows and saturates at its peak: peak · M / (M + M_half)', () => {
    const e = { ...IDEAL, gemm: 0.8, gemmHalfM: 64, expertGemm: 0.5, expertHalfM: 8 };
    expect(gemmEfficiency(e, 64, false)).toBeCloseTo(0.4, 12);
    expect(gemmEfficiency(e, 8, true)).toBeCloseTo(0.25, 12);
    expect(gemmEfficiency(e, 1e9, false)).toBeCloseTo(0.8, 6);
    expect(gemmEfficiency(IDEAL, 1, true)).toBe(1);
  });

  const models = ['deepseek-ai/DeepSeek-V3', 'meta-llama/Llama-3.1-70B-Instruct', 'Qwen/Qwen3-32B'].map((m) =>
    modelSpec(findModel(m)),
  );
  const devices = ['h100-sxm-80gb', 'h200-sxm-141gb', 'b200', 'gb200', 'b300'].map((d) =>
    hardwareSpec(findDevice(d)),
  );
  it('never faster than the ideal: random serving steps (attention DP, expert splits, formats, engines)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: models.length - 1 }),
        fc.integer({ min: 0, max: devices.length - 1 }),
        fc.constantFrom('bf16', 'fp8', 'nvfp4'),
        fc.constantFrom(1, 2, 4, 8),
        fc.constantFrom(1, 2, 4, 8),
        fc.boolean(),
        fc.integer({ min: 0, max: 512 }),
        fc.integer({ min: 0, max: 16384 }),
        fc.integer({ min: 1, max: 16384 }),
        fc.constantFrom(...ENGINES),
        (mi, di, precision, tp, adp, useEp, decode, prompt, context, engine) => {
          fc.pre(decode + prompt > 0);
          const spec = models[mi]!;
          const hw = devices[di]!;
          const moe = spec.groups.some((g) => g.mlp?.kind === 'moe');
          const group = tp * (moe ? adp : 1);
          const ep = moe && useEp ? group : 1;
          const ctx = stepContext(spec, hw, precision, { tp, pp: 1, ep }, undefined);
          const segments = [];
          if (decode > 0) segments.push({ batch: decode, tokens: 1, context });
          if (prompt > 0) segments.push({ batch: 1, tokens: prompt, context: 0 });
          const shape: StepShape = {
            segments,
            tp,
            cp: 1,
            ep,
            layerShare: 1,
            kvBytes: 1,
            actBytes: 2,
            logitsRows: decode + (prompt > 0 ? 1 : 0),
            adp: moe ? adp : 1,
            moeTp: group / ep,
          };
          const ops = stepOps(spec, ctx.layout, shape);
          const ideal = timeOps(ctx, shape, ops, IDEAL).time_s;
          const est = timeOps(ctx, shape, ops, efficiencyFor('nvidia-hopper', engine)).time_s;
          const est2 = timeOps(ctx, shape, ops, efficiencyFor(hwClassOf(di), engine)).time_s;
          expect(ideal).toBeGreaterThan(0);
          expect(est).toBeGreaterThanOrEqual(ideal);
          expect(est2).toBeGreaterThanOrEqual(ideal);
        },
      ),
      { numRuns: 120 },
    );
  });
  const hwClassOf = (di: number) => (di < 2 ? 'nvidia-hopper' : 'nvidia-blackwell');
});

describe('confidence flag', () => {
  const table: CalibrationTable = {
    provenance: 'test',
    classes: { default: { ...IDEAL }, 'nvidia-hopper': { ...IDEAL } },
    engines: {},
    coverage: { 'nvidia-hopper': { formats: ['bf16', 'fp8'], engines: ['sglang', 'trtllm'] } },
  };
  it('calibrated where class, format family and engine all have measured rows', () => {
    expect(confidenceFor('nvidia-hopper', 'fp8_block', 'sglang', table).level).toBe('calibrated');
    expect(confidenceFor('nvidia-hopper', 'bfloat16', null, table).level).toBe('calibrated');
  });
  it('extrapolated, naming what is missing', () => {
    const fmt = confidenceFor('nvidia-hopper', 'nvfp4', 'sglang', table);
    expect(fmt.level).toBe('extrapolated');
    expect(fmt.reason).toMatch(/nvfp4/);
    const eng = confidenceFor('nvidia-hopper', 'fp8', 'vllm', table);
    expect(eng.level).toBe('extrapolated');
    expect(eng.reason).toMatch(/vllm/);
    const cls = confidenceFor('amd-cdna', 'fp8', 'vllm', table);
    expect(cls.level).toBe('extrapolated');
    expect(cls.reason).toMatch(/amd-cdna/);
  });
  it('format families: FP8 variants, 16-bit, 4-bit integer schemes', () => {
    expect(formatFamily('fp8_e4m3')).toBe('fp8');
    expect(formatFamily('fp16')).toBe('bf16');
    expect(formatFamily('awq-int4-g128')).toBe('int4');
    expect(formatFamily('fp4')).toBe('nvfp4');
  });
  it('the shipped calibration covers what measured.csv measured, and not MXFP4 anywhere', () => {
    expect(confidenceFor('nvidia-blackwell', 'nvfp4', 'trtllm').level).toBe('calibrated');
    expect(confidenceFor('nvidia-hopper', 'fp8', 'vllm').level).toBe('calibrated');
    expect(confidenceFor('nvidia-blackwell', 'mxfp4', 'vllm').level).toBe('extrapolated');
    expect(CALIBRATION.coverage).toBeDefined();
  });
});

describe('measured.csv rows', () => {
  const rows = loadServingRows();
  it('every row parses and every model resolves: 4,288 rows, each predicted', () => {
    expect(rows.length).toBe(4288);
    const errors = rows.map(analyticCase).filter((c) => 'error' in c);
    expect(errors).toEqual([]);
  });
  // Kimi-K2.5's 27 vision-tower attention layers keep no KV cache. Counted as decoder layers (576 B per token each
  // beside the decoder's 61 · 576 B at FP8), the rank held 52.9 sequences of 1k + 8k, under the 64 users the row
  // ran at 268 ms TTFT, and the model queued them for KV (TTFT predicted 160× the measured).
  it("Kimi-K2.5's KV capacity counts the decoder's cache only: 64 users of 1k + 8k fit on 4 × B200", () => {
    const row = rows.find((r) => r.id === 'kimik2_5_b200_vllm_fp4_agg_1024x8192_c64_cfg635')!;
    const c = analyticCase(row);
    if ('error' in c) throw new Error(c.error);
    expect(c.batch).toBe(64);
    expect(c.kvCapacity).toBeGreaterThanOrEqual(64);
  });
  it('reads the parallelism per worker type, blank or 0 degrees as 1', () => {
    const r = parseServingRow({
      id: 'x',
      silicon_data_source: 'silicon_concurrency=64',
      backend: 'sglang',
      model_path: 'Qwen/Qwen3-32B',
      system: 'h200_sxm',
      mode: 'agg',
      isl: '1024',
      osl: '128',
      gemm_quant_mode: 'fp8',
      batch_size: '64',
      tp_size: '2',
      attention_dp_size: '0',
      moe_tp_size: '',
      moe_ep_size: '0',
      silicon_ttft_ms: '100',
      silicon_tpot_ms: '10',
    });
    expect(r.agg).toMatchObject({ tp: 2, adp: 1, moeTp: 2, ep: 1, batch: 64 });
    expect(r.concurrency).toBe(64);
    expect(r.kvPrecision).toBe('fp8');
  });

  it('a placeholder layout of all ones that cannot hold the model is read as the fewest doublings that do', () => {
    const rec = (model: string, system: string, precision: string) => ({
      id: 'x',
      silicon_data_source: 'silicon_concurrency=8',
      backend: 'sglang',
      model_path: model,
      system,
      mode: 'agg',
      isl: '1024',
      osl: '1024',
      gemm_quant_mode: precision,
      batch_size: '8',
      tp_size: '1',
      attention_dp_size: '1',
      moe_tp_size: '1',
      moe_ep_size: '1',
      silicon_ttft_ms: '100',
      silicon_tpot_ms: '10',
    });
    const plan = (r: ReturnType<typeof rec>) => {
      const row = parseServingRow(r);
      return widenToFit(row, specOf(row.model)!, row.agg!);
    };
    // DeepSeek-R1 at 8 bits, ~690 GB: 2 and 4 H200s (141 GB each, 172 GB of weights on each of 4) are too few,
    // 8 hold 86 GB each; an MoE model widens as attention DP with its experts over all 8.
    expect(plan(rec('deepseek-ai/DeepSeek-R1', 'h200_sxm', 'fp8'))).toMatchObject({
      tp: 1,
      adp: 8,
      ep: 8,
      moeTp: 1,
    });
    // Llama-3.1-70B at 16 bits, ~141 GB: more than an 80 GB H100, ~71 GB on 2: a dense model widens its TP.
    expect(plan(rec('meta-llama/Llama-3.1-70B-Instruct', 'h100_sxm', 'bf16'))).toMatchObject({
      tp: 2,
      adp: 1,
    });
    // What fits stays as labelled: the same model at 8 bits (~71 GB) on one H200.
    expect(plan(rec('meta-llama/Llama-3.1-70B-Instruct', 'h200_sxm', 'fp8'))).toMatchObject({
      tp: 1,
      adp: 1,
    });
  });

  it('a run labelled attention_dp = ranks · moe_tp beyond one node is read as its ranks (the gap-analysis set)', () => {
    const base = {
      id: 'x',
      silicon_data_source: 'silicon_concurrency=128',
      backend: 'trtllm',
      model_path: 'deepseek-ai/DeepSeek-R1',
      system: 'b200_sxm',
      mode: 'agg',
      isl: '1024',
      osl: '1024',
      gemm_quant_mode: 'fp8',
      batch_size: '2',
      tp_size: '1',
      attention_dp_size: '64',
      moe_tp_size: '8',
      moe_ep_size: '8',
      silicon_ttft_ms: '100',
      silicon_tpot_ms: '10',
    };
    // 128 users over 8 ranks of one 8-GPU node: 16 per rank, experts over EP 8.
    expect(parseServingRow(base).agg).toMatchObject({ tp: 1, adp: 8, moeTp: 1, ep: 8, batch: 16 });
    // In an NVL72 domain 64 ranks are possible and the row is taken as written.
    expect(parseServingRow({ ...base, system: 'gb200' }).agg).toMatchObject({ adp: 64, moeTp: 8, batch: 2 });
    // tp4 adp4 moe_ep16 batch 16 (MiniMax-M2.5 on H100, measured within 0.3% of the tp4 ep4 row at 64 users): one
    // rank of 64 users on 4 GPUs, experts over EP 4.
    const ep16 = {
      ...base,
      tp_size: '4',
      attention_dp_size: '4',
      moe_tp_size: '1',
      moe_ep_size: '16',
      batch_size: '16',
    };
    expect(parseServingRow(ep16).agg).toMatchObject({ tp: 4, adp: 1, moeTp: 1, ep: 4, batch: 64 });
  });
});

/**
 * Held-out errors of two folds of `npm run crossval` (a dense and an MoE model family): each is left out of the
 * fit (its serving and throughput rows; the same fit, 2 rounds, as the full run) and its aggregated rows are
 * predicted. The targets (aggregated TPOT ≤ 10 %, TTFT ≤ 15 %, disaggregated ≤ 20 %) are NOT met yet
 * (npm run crossval reports the full table); these bounds guard the level reached (Qwen3-32B 28.3 / 15.7 %,
 * MiniMax-M2.5 15.2 / 11.4 %) so a change that makes held-out predictions worse fails.
 */
// Under mutation testing (npm run mutate) these minute-long refits would run for every perf mutant; they run in CI.
describe.skipIf(process.env['INFERSIM_MUTATE'] === '1')(
  'leave-one-model-out (two folds of npm run crossval)',
  () => {
    const ds = loadDataset();
    for (const [family, bounds] of [
      ['Qwen3-32B', { aggTpot: 16.5, aggTtft: 29.5 }],
      ['MiniMax-M2.5', { aggTpot: 12, aggTtft: 16.5 }],
    ] as const) {
      it(`${family}: held-out aggregated median |error| within bounds`, () => {
        const held = leaveOneOut(ds, { families: [family], rounds: 2 }).serving.filter(
          (e) => e.mode === 'agg',
        );
        expect(held.length).toBeGreaterThan(100);
        const tpot = 100 * median(held.map((e) => Math.abs(e.tpot)));
        const ttft = 100 * median(held.map((e) => Math.abs(e.ttft)));
        expect(tpot).toBeLessThanOrEqual(bounds.aggTpot);
        expect(ttft).toBeLessThanOrEqual(bounds.aggTtft);
      }, 180_000);
    }
  },
);
