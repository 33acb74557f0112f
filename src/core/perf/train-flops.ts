/**
 * FLOPs of one trained token and the pipeline bubble. Model FLOPs are 6·N for the matmul parameters a token
 * passes through (forward 2N, backward 4N: input and weight gradients) plus attention's score and value products
 * (forward 4·s_ctx·heads·head_dim per layer, 3× with the backward). Recomputation adds FLOPs the hardware does
 * but the model FLOPs (MFU) do not count. A frozen base (LoRA/QLoRA) skips its weight gradients: 4·N_base.
 */
import type { ModelSpec } from '../arch/spec.js';
import { countParameters } from '../arch/params.js';

export type RecomputeMode = 'none' | 'selective' | 'full';

export interface TokenFlops {
  /** Active parameters in matmuls: everything a token passes through but the input embedding and norms. */
  matmul_parameters: number;
  /** 6 · matmul parameters: the usual "6N" of a trained token (LoRA: 4·N_base + 6·N_adapter). */
  six_n: number;
  /** Attention scores and values, forward + backward, causal (each query sees (s+1)/2 keys on average). */
  attention: number;
  /** Same, counting the full s² square as most published MFU figures do (Megatron, NeMo, llm-foundry). */
  attention_non_causal: number;
  /** six_n + attention: the model FLOPs of one token. */
  model: number;
  /** What the devices execute: model FLOPs plus recomputation. */
  hardware: number;
  /** The GEMM share of `hardware` (runs at the training precision's peak; attention runs at 16-bit). */
  hardware_gemm: number;
}

/** Matmul parameters per token: active parameters less embeddings, positions and norms; a tied head still multiplies. */
export function matmulParameters(spec: ModelSpec): number {
  const c = countParameters(spec);
  const b = c.breakdown;
  const head = b.lm_head > 0 ? 0 : spec.vocabSize * spec.hiddenSize;
  return c.active - b.embedding - b.position - b.norm - b.vision - b.projector + head;
}

/** Forward attention FLOPs of one token at sequence length `seq`: QKᵀ and AV, 2 FLOPs per multiply-add. */
export function attentionForwardFlops(spec: ModelSpec, seq: number, causal: boolean): number {
  let f = 0;
  for (const g of spec.groups) {
    const a = g.attention;
    if (!a || g.stack !== 'decoder') continue;
    const span = a.window ?? a.chunk ?? seq;
    // Mean keys per query: causal (s+1)/2 within a window w: about w once s ≫ w.
    const keys = causal ? (span >= seq ? (seq + 1) / 2 : Math.min(span, seq)) : Math.min(span, seq);
    f += g.count * 2 * a.numHeads * (a.headDim + a.vHeadDim) * keys;
  }
  return f;
}

export interface FlopsOptions {
  seq: number;
  recompute: RecomputeMode;
  /** Trainable adapter parameters when the base is frozen (LoRA/QLoRA); null for full training. */
  adapterParameters: number | null;
}

export function tokenFlops(spec: ModelSpec, o: FlopsOptions): TokenFlops {
  const n = matmulParameters(spec);
  const attnFwd = attentionForwardFlops(spec, o.seq, true);
  const lora = o.adapterParameters;
  // Frozen base: forward 2N and input gradients 2N, no weight gradients; adapters train in full (6 per parameter).
  const sixN = lora === null ? 6 * n : 4 * n + 6 * lora;
  const attention = 3 * attnFwd;
  const model = sixN + attention;
  const forwardGemm = 2 * n + (lora ?? 0) * 2;
  const extraGemm = o.recompute === 'full' ? forwardGemm : 0;
  const extraAttn = o.recompute === 'none' ? 0 : attnFwd;
  return {
    matmul_parameters: n,
    six_n: sixN,
    attention,
    attention_non_causal: 3 * attentionForwardFlops(spec, o.seq, false),
    model,
    hardware: model + extraGemm + extraAttn,
    hardware_gemm: sixN + extraGemm,
  };
}

/**
 * Share of a pipelined step spent idle: with p stages, m micro-batches and v virtual stages per device
 * (interleaved 1F1B), the fill and drain take (p − 1)/v micro-batch times out of m + (p − 1)/v.
 * 1F1B is v = 1 (same bubble as GPipe, less memory).
 */
export function bubbleFraction(pp: number, microbatches: number, vpp = 1): number {
  if (pp <= 1) return 0;
  const idle = (pp - 1) / vpp;
  return idle / (microbatches + idle);
}
