/**
 * Attention analysis: the real attention probabilities of one layer (one head, or the mean over heads) for a
 * prompt, captured inside the attention core during a forward pass, with the sparsity ratio (share of causal
 * weights below a threshold) and the mean row entropy in nats; under the caller's sparsity mask, if it has one.
 */
import type { AttentionHooks, SparsityMask } from '../attention.js';
import type { Engine } from '../engine.js';

export interface AttentionScores {
  tokens: string[];
  layer_idx: number;
  head_idx: number | null;
  attention_matrix: number[][];
  sparsity_ratio: number;
  entropy: number;
  threshold: number;
  num_heads: number;
  sparsity_mask_applied: boolean;
}

export async function attentionScores(
  engine: Engine,
  prompt: string,
  layer: number,
  head: number | null,
  threshold: number,
  sparsity: SparsityMask | null = null,
): Promise<AttentionScores> {
  const ids = engine.tokenize(prompt);
  const hooks: AttentionHooks = {
    capture: { layer, rows: [] },
    sparsity,
    maskedWeights: 0,
    totalWeights: 0,
  };
  await engine.isolatedForward(ids, hooks);
  const rows = hooks.capture!.rows;
  const heads = head === null ? rows.map((_, h) => h) : [head];
  const T = ids.length;
  const matrix: number[][] = [];
  let below = 0;
  let entropy = 0;
  for (let t = 0; t < T; t++) {
    const row = new Array<number>(T).fill(0);
    for (const h of heads) {
      const r = rows[h]![t]!;
      for (let j = 0; j < r.length; j++) row[j]! += r[j]! / heads.length;
    }
    let e = 0;
    for (let j = 0; j <= t; j++) {
      const p = row[j]!;
      if (p < threshold) below++;
      if (p > 0) e -= p * Math.log(p);
    }
    entropy += e / T;
    matrix.push(row);
  }
  return {
    tokens: ids.map((id) => engine.tokenizer.decode([id])),
    layer_idx: layer,
    head_idx: head,
    attention_matrix: matrix,
    sparsity_ratio: below / ((T * (T + 1)) / 2),
    entropy,
    threshold,
    num_heads: rows.length,
    sparsity_mask_applied: sparsity !== null,
  };
}
