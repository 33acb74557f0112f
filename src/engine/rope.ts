/**
 * Rotary position embeddings as transformers computes them: inverse frequencies base^(-2i/d), optionally scaled
 * (linear: all divided by the factor; llama3: long wavelengths divided by the factor, short ones kept, a smooth
 * blend between), and cos/sin tables for the half-split rotation (rotate_half), fed to the graphs per token.
 */
import type { ModelConfig } from './config.js';

export function inverseFrequencies(c: ModelConfig): Float64Array {
  const half = c.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(c.ropeTheta, (2 * i) / c.headDim);
  const s = c.ropeScaling;
  if (!s || s.type === 'default') return inv;
  if (s.type === 'linear') return inv.map((f) => f / s.factor);
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth =
      (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** cos and sin [positions.length, 1, headDim/2] for the given absolute positions. */
export class RopeTable {
  private readonly inv: Float64Array;

  constructor(c: ModelConfig) {
    this.inv = inverseFrequencies(c);
  }

  get half(): number {
    return this.inv.length;
  }

  tables(positions: ArrayLike<number>): { cos: Float32Array; sin: Float32Array } {
    const h = this.inv.length;
    const cos = new Float32Array(positions.length * h);
    const sin = new Float32Array(positions.length * h);
    for (let t = 0; t < positions.length; t++) {
      const p = positions[t]!;
      for (let i = 0; i < h; i++) {
        // transformers forms the angle in fp32 (inv_freq fp32 · position); round the same way.
        const angle = Math.fround(Math.fround(this.inv[i]!) * p);
        cos[t * h + i] = Math.cos(angle);
        sin[t * h + i] = Math.sin(angle);
      }
    }
    return { cos, sin };
  }
}
