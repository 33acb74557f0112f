/** Helpers for families whose layers are written out by hand (GPT-2, BLOOM, BERT, T5, Mamba, ...). */
import type { ConfigReader } from '../reader.js';
import type { AttentionSpec, LayerGroup, MlpSpec, ModelSpec, SsmSpec, Stack, Tensor } from '../spec.js';
import { attentionKind } from '../tensors.js';
import { checkpointQuant } from './quant.js';

export function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => i + from);
}

export function mha(
  heads: number,
  kvHeads: number,
  headDim: number,
  o: Partial<Pick<AttentionSpec, 'window' | 'cross' | 'causal'>> = {},
): AttentionSpec {
  return {
    kind: attentionKind(heads, kvHeads),
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim,
    vHeadDim: headDim,
    window: o.window ?? null,
    chunk: null,
    mla: null,
    cross: o.cross ?? false,
    causal: o.causal ?? true,
  };
}

export function dense(intermediateSize: number, gated: boolean, activation: string): MlpSpec {
  return { kind: 'dense', gated, activation, intermediateSize };
}

export function group(
  name: string,
  stack: Stack,
  layers: readonly number[],
  parts: {
    attention?: AttentionSpec | null;
    crossAttention?: AttentionSpec | null;
    mlp?: MlpSpec | null;
    ssm?: SsmSpec | null;
  },
  tensors: Tensor[],
): LayerGroup {
  return {
    name,
    stack,
    count: layers.length,
    layers,
    attention: parts.attention ?? null,
    crossAttention: parts.crossAttention ?? null,
    mlp: parts.mlp ?? null,
    ssm: parts.ssm ?? null,
    tensors,
  };
}

/** Conv1D-style weight [in, out] as GPT-2 stores it; same element count as nn.Linear. */
export function conv1d(name: string, inp: number, out: number, role: Tensor['role']): Tensor[] {
  return [
    { name: `${name}.weight`, shape: [inp, out], role },
    { name: `${name}.bias`, shape: [out], role },
  ];
}

export function finish(
  r: ConfigReader,
  modelType: string,
  s: Omit<ModelSpec, 'modelType' | 'checkpointQuant' | 'torchDtype' | 'warnings' | 'vision'> &
    Partial<Pick<ModelSpec, 'vision' | 'warnings'>>,
): ModelSpec {
  r.done(modelType);
  return {
    modelType,
    vision: null,
    warnings: [],
    checkpointQuant: checkpointQuant(r),
    torchDtype: r.str('torch_dtype', r.str('dtype', '')) || null,
    ...s,
  };
}
