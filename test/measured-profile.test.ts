import { describe, expect, it } from 'vitest';
import { specFromConfig } from '../src/core/arch/index.js';
import { profileEfficiency, profileHardware, type MeasuredProfile } from '../src/core/perf/measured.js';
import { StepTimer } from '../src/core/serving/step-time.js';

const profile: MeasuredProfile = {
  name: 'cpu: test',
  bytesPerS: 12e9,
  gemmFlopsPerS: 80e9,
  attentionFlopsPerS: 20e9,
  stepS: 1.5e-3,
  sequenceS: 2e-4,
  memoryBytes: 16 * 2 ** 30,
};

describe('measured CPU profile → HardwareSpec + Efficiency', () => {
  it('makes the measured rates the device peaks and keeps the fixed costs', () => {
    const hw = profileHardware(profile);
    expect(hw.memoryBandwidthBytesPerS).toBe(12e9);
    expect(hw.denseFlops).toEqual({ fp32: 80e9 });
    expect(hw.kind).toBe('cpu');
    expect(hw.memoryBytes).toBe(16 * 2 ** 30);
    const eff = profileEfficiency(profile);
    // Non-GEMM operators run at peak × attention: 80e9 × 0.25 = 20e9 FLOP/s.
    expect(eff.attention).toBe(0.25);
    expect(eff.gemm).toBe(1);
    expect(eff.memory).toBe(1);
    expect(eff.stepS).toBe(1.5e-3);
    expect(eff.sequenceS).toBe(2e-4);
    expect(eff.kernelS).toBe(0);
    expect(eff.requestS).toBe(0);
    expect(eff.burst).toBe(0);
  });

  it('times a step as the fixed costs when the rates are unbounded', () => {
    const spec = specFromConfig({
      model_type: 'llama',
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      vocab_size: 256,
      max_position_embeddings: 512,
      torch_dtype: 'float32',
    });
    const fast = { ...profile, bytesPerS: 1e30, gemmFlopsPerS: 1e30, attentionFlopsPerS: 1e30 };
    const plan = { tp: 1, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 1 };
    const timer = new StepTimer(
      { spec, hw: profileHardware(fast), precision: 'fp32', kvBytes: 4, plan },
      profileEfficiency(fast),
    );
    // 8 decoding sequences: 1.5 ms + 8 × 0.2 ms = 3.1 ms.
    expect(timer.exact({ prefill: [], decodes: 8, decodeContext: 800 })).toBeCloseTo(3.1e-3, 12);
  });

  it('refuses a profile with a missing or negative figure, naming it', () => {
    expect(() => profileHardware({ ...profile, bytesPerS: 0 })).toThrow(/bytesPerS/);
    expect(() => profileEfficiency({ ...profile, stepS: -1 })).toThrow(/stepS/);
    expect(() => profileHardware({ ...profile, gemmFlopsPerS: NaN })).toThrow(/gemmFlopsPerS/);
  });
});
