/** What the specs call a model's type and attention, a config summary, and number formats for responses. */
import type { AttentionKind, AttentionSpec, LayerGroup, ModelSpec } from '../core/arch/index.js';
import { countParameters } from '../core/arch/index.js';

export const MODEL_TYPES = [
  'decoder-only',
  'encoder-decoder',
  'encoder-only',
  'moe',
  'multimodal',
  'mamba',
  'hybrid',
] as const;
export type ModelClass = (typeof MODEL_TYPES)[number];

export const ATTENTION_TYPES = ['mha', 'mqa', 'gqa', 'mla'] as const;

/** Layer groups of the language stack (not the vision tower). */
function mainGroups(spec: ModelSpec): LayerGroup[] {
  return spec.groups.filter((g) => g.stack !== 'vision');
}

export function modelClass(spec: ModelSpec): ModelClass {
  const groups = mainGroups(spec);
  const ssm = groups.some((g) => g.ssm);
  const attn = groups.some((g) => g.attention);
  if (ssm && attn) return 'hybrid';
  if (ssm) return 'mamba';
  if (spec.vision) return 'multimodal';
  if (spec.structure === 'encoder') return 'encoder-only';
  if (spec.structure === 'encoder-decoder') return 'encoder-decoder';
  if (groups.some((g) => g.mlp?.kind === 'moe')) return 'moe';
  return 'decoder-only';
}

/** The model's self-attention kind: MLA, then GQA, MQA, MHA in that order where layers differ; null without attention. */
export function attentionKind(spec: ModelSpec): AttentionKind | null {
  const kinds = new Set(mainGroups(spec).flatMap((g) => (g.attention ? [g.attention.kind] : [])));
  for (const k of ['mla', 'gqa', 'mqa', 'mha'] as const) if (kinds.has(k)) return k;
  return null;
}

/** The first self-attention of the language stack. */
export function firstAttention(spec: ModelSpec): AttentionSpec | null {
  return mainGroups(spec).find((g) => g.attention)?.attention ?? null;
}

function intermediateSize(spec: ModelSpec): number | null {
  for (const g of mainGroups(spec)) {
    if (g.mlp?.kind === 'dense') return g.mlp.intermediateSize;
  }
  for (const g of mainGroups(spec)) {
    if (g.mlp?.kind === 'moe') return g.mlp.expertIntermediateSize;
  }
  return null;
}

function activation(spec: ModelSpec): string | null {
  return mainGroups(spec).find((g) => g.mlp)?.mlp?.activation ?? null;
}

/** The config fields api-models-and-memory.md shows, read from the architecture (not copied from the JSON). */
export function configSummary(spec: ModelSpec): Record<string, number | string | null> {
  const a = firstAttention(spec);
  return {
    hidden_size: spec.hiddenSize,
    num_hidden_layers: spec.numLayers,
    num_attention_heads: a?.numHeads ?? null,
    num_key_value_heads: a ? (a.kind === 'mla' ? a.numHeads : a.numKvHeads) : null,
    head_dim: a?.headDim ?? null,
    intermediate_size: intermediateSize(spec),
    vocab_size: spec.vocabSize,
    max_position_embeddings: spec.maxPositionEmbeddings,
    activation_function: activation(spec),
  };
}

export function architectureName(config: Record<string, unknown>, spec: ModelSpec): string {
  const a = config['architectures'];
  if (Array.isArray(a) && typeof a[0] === 'string') return a[0];
  return spec.modelType;
}

/** "7B", "6.7B", "137M", "1.1T". */
export function parameterLabel(n: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [v, u] of units) {
    if (n >= v) {
      const x = n / v;
      return (x >= 10 ? Math.round(x).toString() : (Math.round(x * 10) / 10).toString()) + u;
    }
  }
  return String(n);
}

/** Tags infersim derives from the architecture (lower case): type, attention, family traits. */
export function derivedTags(spec: ModelSpec, family?: string): string[] {
  const tags = new Set<string>([modelClass(spec), spec.modelType.toLowerCase()]);
  const att = attentionKind(spec);
  if (att) tags.add(att);
  if (family) tags.add(family.toLowerCase());
  if (spec.structure !== 'encoder') tags.add('text-generation');
  if (spec.groups.some((g) => g.mlp?.kind === 'moe')) tags.add('moe');
  if (spec.groups.some((g) => g.attention?.window)) tags.add('sliding-window');
  if (spec.vision) tags.add('vision');
  return [...tags];
}

/** A one-line description computed from the model, e.g. "8.0B-parameter decoder-only model with GQA (8 KV heads)". */
export function describeModel(spec: ModelSpec): string {
  const c = countParameters(spec);
  const cls = modelClass(spec);
  const a = firstAttention(spec);
  let s = `${parameterLabel(c.total)}-parameter ${cls} model`;
  if (c.active !== c.total) s += ` (${parameterLabel(c.active)} active)`;
  if (a) {
    s +=
      a.kind === 'mla'
        ? ' with multi-head latent attention'
        : ` with ${a.kind.toUpperCase()} (${a.numHeads} query heads, ${a.numKvHeads} KV heads)`;
  }
  if (spec.maxPositionEmbeddings)
    s += `, ${spec.maxPositionEmbeddings.toLocaleString('en-US')}-token context`;
  return s;
}

/** Decimal gigabytes rounded to 2 decimals (10^9 bytes): only at the edge. */
export function gb(bytes: number): number {
  return Math.round((bytes / 1e9) * 100) / 100;
}

/** "14.00 GB", as api-memory-calculator.md prints memory. */
export function gbString(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
