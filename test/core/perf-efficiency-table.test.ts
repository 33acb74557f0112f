/** The efficiency table's lookups on a made-up table: class or default, engine host costs, the GEMM curve, confidence. */
import { describe, expect, it } from 'vitest';
import { confidenceFor, formatFamily } from '../../src/core/perf/confidence.js';
import {
  efficiencyFor,
  gemmEfficiency,
  IDEAL,
  type CalibrationTable,
} from '../../src/core/perf/efficiency.js';

const cls = (x: number) => ({
  gemm: 0.7 + x,
  gemmHalfM: 100 + x,
  expertGemm: 0.5 + x,
  expertHalfM: 20 + x,
  fp8: 0.8 + x,
  fp4: 0.6 + x,
  attention: 0.4 + x,
  memory: 0.9 - x,
  kernelS: 1e-6 + x,
  stepS: 1e-3 + x,
  sequenceS: 1e-5 + x,
  link: 0.85 - x,
  alpha: 1 + x,
  requestS: 0.02 + x,
  burst: 0.3 + x,
  burstHalf: 7,
});
const table: CalibrationTable = {
  provenance: 'test',
  classes: {
    default: cls(0),
    'nvidia-hopper': cls(0.01),
    'old-class': { ...cls(0.02), requestS: undefined, burst: undefined } as never,
  },
  engines: {
    sglang: { stepS: 5e-3, sequenceS: 5e-5, requestS: 0.1, burst: 0.5, burstHalf: 2 },
    vllm: { stepS: 4e-3, sequenceS: 4e-5, requestS: 0.2, burst: 0.6 },
  },
  coverage: {
    'nvidia-hopper': { formats: ['bf16', 'fp8'], engines: ['sglang'] },
    'nvidia-ada': { formats: ['bf16'], engines: [] },
  },
};

describe('efficiencyFor', () => {
  it('the class row, burstHalf 0 without an engine; an unknown class takes the default row', () => {
    expect(efficiencyFor('nvidia-hopper', undefined, table)).toEqual({ ...cls(0.01), burstHalf: 0 });
    expect(efficiencyFor('amd-cdna', undefined, table)).toEqual({ ...cls(0), burstHalf: 0 });
    // 'toString' is no class of the table, though every object has it
    expect(efficiencyFor('toString', undefined, table).gemm).toBe(0.7);
  });
  it('a row without serving terms: request latency and burst 0', () => {
    const e = efficiencyFor('old-class', undefined, table);
    expect([e.requestS, e.burst, e.gemm]).toEqual([0, 0, 0.72]);
  });
  it('an engine replaces the host costs only; burstHalf 0 when it has none; an unknown engine changes nothing', () => {
    const s = efficiencyFor('nvidia-hopper', 'sglang', table);
    expect([s.stepS, s.sequenceS, s.requestS, s.burst, s.burstHalf, s.gemm, s.kernelS]).toEqual([
      5e-3,
      5e-5,
      0.1,
      0.5,
      2,
      0.71,
      1e-6 + 0.01,
    ]);
    expect(efficiencyFor('nvidia-hopper', 'vllm', table).burstHalf).toBe(0);
    expect(efficiencyFor('nvidia-hopper', 'trtllm', table)).toEqual(
      efficiencyFor('nvidia-hopper', undefined, table),
    );
    expect(efficiencyFor('nvidia-hopper', 'hasOwnProperty', table).stepS).toBe(1e-3 + 0.01);
  });
});

describe('gemmEfficiency', () => {
  const e = { ...IDEAL, gemm: 0.8, gemmHalfM: 100, expertGemm: 0.6, expertHalfM: 20 };
  it('peak · M / (M + half): 0.8 · 100 / 200 = 0.4; grouped 0.6 · 20 / 40 = 0.3; flat without a half', () => {
    expect(gemmEfficiency(e, 100, false)).toBeCloseTo(0.4, 15);
    expect(gemmEfficiency(e, 20, true)).toBeCloseTo(0.3, 15);
    expect(gemmEfficiency({ ...e, gemmHalfM: 0 }, 5, false)).toBe(0.8);
    expect(gemmEfficiency({ ...e, expertHalfM: 0 }, 5, true)).toBe(0.6);
  });
});

describe('confidenceFor', () => {
  it('calibrated: names the family, class and engine', () => {
    expect(confidenceFor('nvidia-hopper', 'FP8_e4m3', 'sglang', table)).toEqual({
      level: 'calibrated',
      reason: 'fitted on measured fp8 rows on nvidia-hopper served by sglang',
    });
    expect(confidenceFor('nvidia-hopper', 'bfloat16', null, table).reason).toBe(
      'fitted on measured bf16 rows on nvidia-hopper',
    );
  });
  it('extrapolated: no rows on the class (borrowed row or the default), the format, the engine', () => {
    expect(confidenceFor('amd-cdna', 'bf16', null, table).reason).toBe(
      'no measured rows on amd-cdna hardware: its efficiencies are those of the default class',
    );
    expect(confidenceFor('old-class', 'bf16', null, table).reason).toBe(
      'no measured rows on old-class hardware: its efficiencies are borrowed in part',
    );
    expect(confidenceFor('toString', 'bf16', null, table).level).toBe('extrapolated');
    expect(confidenceFor('nvidia-hopper', 'int4', 'sglang', table)).toEqual({
      level: 'extrapolated',
      reason: 'no measured int4 rows on nvidia-hopper (measured: bf16, fp8)',
    });
    expect(confidenceFor('nvidia-hopper', 'fp8', 'vllm', table).reason).toBe(
      'no measured vllm serving rows on nvidia-hopper (measured: sglang)',
    );
    expect(confidenceFor('nvidia-ada', 'fp16', 'vllm', table).reason).toBe(
      'no measured vllm serving rows on nvidia-ada (measured: none)',
    );
    expect(confidenceFor('nvidia-hopper', 'bf16', 'sglang', { ...table, coverage: undefined }).level).toBe(
      'extrapolated',
    );
  });
  it('format families', () => {
    expect(['fp8', 'FP8_BLOCK', ' fp8_e5m2 '].map(formatFamily)).toEqual(['fp8', 'fp8', 'fp8']);
    expect(['bf16', 'fp16', 'float16', 'bfloat16'].map(formatFamily)).toEqual([
      'bf16',
      'bf16',
      'bf16',
      'bf16',
    ]);
    expect(['fp4', 'nvfp4'].map(formatFamily)).toEqual(['nvfp4', 'nvfp4']);
    expect(['int4', 'awq-int4', 'gptq-int4-g128', 'int8', 'q4_k_m', 'my-int4'].map(formatFamily)).toEqual([
      'int4',
      'int4',
      'int4',
      'int8',
      'q4_k_m',
      'my-int4',
    ]);
  });
});
