/** Runtime overhead lines by profile, from the measurements each profile cites (src/core/memory/runtime.ts). */
import { describe, expect, it } from 'vitest';
import { runtimeOverhead } from '../../src/core/memory/runtime.js';
import { referenceSpec } from '../helpers.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const llama31 = referenceSpec('meta-llama__Llama-3.1-8B.json');
const at = (tp: number, pp = 1, ep = 1, spec = llama31) => ({ tp, pp, ep, rotaryTokens: 4096, spec, b: 2 });

describe('runtime overhead', () => {
  it('none: nothing', () => {
    expect(runtimeOverhead('none', at(2))).toEqual({ lines: {}, total: 0 });
  });
  it('PyTorch eager: 361 MiB of context (13,213 − 12,852 MiB in FastChat #2005), no collectives, no RoPE cache', () => {
    expect(runtimeOverhead('pytorch', at(2))).toEqual({
      lines: { cuda_context: 361 * MiB },
      total: 361 * MiB,
    });
  });
  it('vLLM V1 at TP2: 0.27 GiB, + 1.83 GiB of collectives, + the RoPE cache of 131,072 positions x 128 x 2 B', () => {
    const r = runtimeOverhead('vllm-v1', at(2));
    const rope = 131072 * 128 * 2;
    expect(r.lines).toEqual({
      cuda_context: Math.round(0.27 * GiB),
      collectives: Math.round(1.83 * GiB),
      rotary_cache: rope,
    });
    expect(r.total).toBe(Math.round(0.27 * GiB) + Math.round(1.83 * GiB) + rope);
    expect(runtimeOverhead('vllm-v1', at(1)).lines['collectives']).toBeUndefined();
    expect(runtimeOverhead('vllm-v1', at(1, 2)).lines['collectives']).toBe(Math.round(1.83 * GiB));
    expect(runtimeOverhead('vllm-v1', at(1, 1, 2)).lines['collectives']).toBe(Math.round(1.83 * GiB));
  });
  it('vLLM V0: 1.79 GiB at TP1, twice that at TP2 (PR #10511)', () => {
    expect(
      runtimeOverhead('vllm-v0', at(1)).total - runtimeOverhead('vllm-v0', at(1)).lines['rotary_cache']!,
    ).toBe(Math.round(1.79 * GiB));
    expect(runtimeOverhead('vllm-v0', at(2)).lines['collectives']).toBe(Math.round(1.79 * GiB));
  });
  it('MLA caches the RoPE dims only; a model without attention has no RoPE cache', () => {
    const ds = referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json');
    expect(runtimeOverhead('vllm-v1', at(1, 1, 1, ds)).lines['rotary_cache']).toBe(163840 * 64 * 2);
    const mamba = referenceSpec('state-spaces__mamba-130m-hf.json');
    expect(runtimeOverhead('vllm-v1', at(1, 1, 1, mamba)).lines['rotary_cache']).toBeUndefined();
  });
});
