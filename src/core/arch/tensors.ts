/** Tensor generators shared by the family adapters: one function per module shape that recurs across families. */
import type { AttentionSpec, DenseMlpSpec, MoeMlpSpec, Tensor, TensorRole } from './spec.js';

/** nn.Linear(in, out): weight [out, in] and an optional bias [out]. */
export function linear(name: string, out: number, inp: number, role: TensorRole, bias: boolean): Tensor[] {
  const t: Tensor[] = [{ name: `${name}.weight`, shape: [out, inp], role }];
  if (bias) t.push({ name: `${name}.bias`, shape: [out], role });
  return t;
}

/** LayerNorm (weight + bias) or RMSNorm (weight only). */
export function norm(name: string, size: number, bias: boolean): Tensor[] {
  const t: Tensor[] = [{ name: `${name}.weight`, shape: [size], role: 'norm' }];
  if (bias) t.push({ name: `${name}.bias`, shape: [size], role: 'norm' });
  return t;
}

export function vector(name: string, size: number, role: TensorRole): Tensor {
  return { name, shape: [size], role };
}

export interface AttentionTensorOptions {
  qkvBias: boolean;
  oBias: boolean;
  /** q/k norms: per head (Qwen3, Gemma-3: [head_dim]) or over all heads (OLMo-2: [heads·head_dim]). */
  qkNorm: 'head' | 'full' | null;
  /** Learned per-head attention sinks (gpt-oss). */
  sinks: boolean;
}

export function attentionTensors(a: AttentionSpec, hidden: number, o: AttentionTensorOptions): Tensor[] {
  if (a.mla) return mlaTensors(a, hidden);
  const p = a.cross ? 'cross_attn' : 'self_attn';
  const t = [
    ...linear(`${p}.q_proj`, a.numHeads * a.headDim, hidden, 'attention', o.qkvBias),
    ...linear(`${p}.k_proj`, a.numKvHeads * a.headDim, hidden, 'attention', o.qkvBias),
    ...linear(`${p}.v_proj`, a.numKvHeads * a.vHeadDim, hidden, 'attention', o.qkvBias),
    ...linear(`${p}.o_proj`, hidden, a.numHeads * a.vHeadDim, 'attention', o.oBias),
  ];
  if (o.qkNorm === 'head') {
    t.push(...norm(`${p}.q_norm`, a.headDim, false), ...norm(`${p}.k_norm`, a.headDim, false));
  } else if (o.qkNorm === 'full') {
    t.push(
      ...norm(`${p}.q_norm`, a.numHeads * a.headDim, false),
      ...norm(`${p}.k_norm`, a.numKvHeads * a.headDim, false),
    );
  }
  if (o.sinks) t.push(vector(`${p}.sinks`, a.numHeads, 'attention'));
  return t;
}

/** Multi-head latent attention (DeepSeek-V2/V3). */
function mlaTensors(a: AttentionSpec, hidden: number): Tensor[] {
  const m = a.mla!;
  const qk = m.qkNopeHeadDim + m.qkRopeHeadDim;
  const q =
    m.qLoraRank === null
      ? linear('self_attn.q_proj', a.numHeads * qk, hidden, 'attention', false)
      : [
          ...linear('self_attn.q_a_proj', m.qLoraRank, hidden, 'attention', false),
          ...norm('self_attn.q_a_layernorm', m.qLoraRank, false),
          ...linear('self_attn.q_b_proj', a.numHeads * qk, m.qLoraRank, 'attention', false),
        ];
  return [
    ...q,
    ...linear('self_attn.kv_a_proj_with_mqa', m.kvLoraRank + m.qkRopeHeadDim, hidden, 'attention', false),
    ...norm('self_attn.kv_a_layernorm', m.kvLoraRank, false),
    ...linear(
      'self_attn.kv_b_proj',
      a.numHeads * (m.qkNopeHeadDim + m.vHeadDim),
      m.kvLoraRank,
      'attention',
      false,
    ),
    ...linear('self_attn.o_proj', hidden, a.numHeads * m.vHeadDim, 'attention', false),
  ];
}

/** Dense MLP: gated (gate, up, down) or plain (up, down). */
export function mlpTensors(
  m: DenseMlpSpec,
  hidden: number,
  bias: boolean,
  role: TensorRole = 'mlp',
  prefix = 'mlp',
): Tensor[] {
  const t: Tensor[] = [];
  if (m.gated) t.push(...linear(`${prefix}.gate_proj`, m.intermediateSize, hidden, role, bias));
  t.push(...linear(`${prefix}.up_proj`, m.intermediateSize, hidden, role, bias));
  t.push(...linear(`${prefix}.down_proj`, hidden, m.intermediateSize, role, bias));
  return t;
}

export interface MoeTensorOptions {
  routerBias: boolean;
  expertBias: boolean;
  /** Qwen2-MoE's sigmoid gate on the shared expert ([1, hidden]). */
  sharedExpertGate: boolean;
  /** DeepSeek-V3's e_score_correction_bias [experts]. */
  routerCorrectionBias: boolean;
}

export function moeTensors(m: MoeMlpSpec, hidden: number, o: MoeTensorOptions): Tensor[] {
  const t: Tensor[] = linear('mlp.gate', m.numExperts, hidden, 'router', o.routerBias);
  if (o.routerCorrectionBias) t.push(vector('mlp.gate.e_score_correction_bias', m.numExperts, 'router'));
  const one = mlpTensors(
    { kind: 'dense', gated: m.gated, activation: m.activation, intermediateSize: m.expertIntermediateSize },
    hidden,
    o.expertBias,
    'expert',
    'mlp.experts.#',
  );
  // Experts are stacked: one tensor per projection with a leading expert dimension.
  for (const e of one) t.push({ name: e.name, shape: [m.numExperts, ...e.shape], role: 'expert' });
  if (m.sharedIntermediateSize > 0) {
    t.push(
      ...mlpTensors(
        {
          kind: 'dense',
          gated: m.gated,
          activation: m.activation,
          intermediateSize: m.sharedIntermediateSize,
        },
        hidden,
        false,
        'shared_expert',
        'mlp.shared_expert',
      ),
    );
    if (o.sharedExpertGate) t.push(...linear('mlp.shared_expert_gate', 1, hidden, 'router', false));
  }
  return t;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function attentionKind(heads: number, kvHeads: number): 'mha' | 'gqa' | 'mqa' {
  if (kvHeads === heads) return 'mha';
  return kvHeads === 1 ? 'mqa' : 'gqa';
}
