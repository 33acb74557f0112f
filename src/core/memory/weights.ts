/**
 * Weight bytes per tensor at a storage format, laid out for sharding: per layer group the bytes that tensor
 * parallelism splits, the K/V projections (split only down to one KV head), the expert bytes (split by EP and TP)
 * and the replicated bytes (norms, router); globals split by vocabulary (embedding, head) or replicated.
 */
import type { LayerGroup, ModelSpec, Tensor, TensorRole } from '../arch/spec.js';
import { excludedFromQuant, moduleFormat } from '../arch/index.js';
import { numel } from '../arch/tensors.js';
import { GGUF_MIXES, getFormat, QUANTIZED_ROLES, type StorageFormat } from '../numerics/formats.js';

export interface GroupWeights {
  /** Bytes of ONE layer of the group, by how they shard. */
  tpSplit: number;
  kvProj: number;
  expert: number;
  replicated: number;
  /** The TP-split bytes by tensor role (attention without its K/V projections, mlp, shared_expert, ssm, ...). */
  splitByRole: Partial<Record<TensorRole, number>>;
}

export interface WeightLayout {
  format: string;
  groups: GroupWeights[];
  vocabSplit: number;
  globalReplicated: number;
  /** Embedding + LM-head bytes (vocab split) of the first / last pipeline stage. */
  embeddingBytes: number;
  headBytes: number;
  total: number;
}

export class FormatError extends Error {}

/** llama.cpp's use_more_bits: the first and last eighth of layers and every third layer between. */
function moreBits(i: number, n: number): boolean {
  return i < n / 8 || i >= (7 * n) / 8 || (i - Math.floor(n / 8)) % 3 === 2;
}

/** Weight matrices (stacked experts included); biases, norms and other vectors are never quantised. */
function isMatrix(t: Tensor): boolean {
  return t.shape.length >= 2 && !t.name.endsWith('.bias');
}

/** A tensor left unquantised: vectors at the format's vector size, matrices at 16 bit (32 for fp32). */
function keptBytes(t: Tensor, fmt: StorageFormat): number {
  if (!isMatrix(t)) return numel(t.shape) * fmt.keepBytes;
  return numel(t.shape) * Math.max(2, fmt.bitsPerWeight >= 16 ? fmt.bitsPerWeight / 8 : 2);
}

type TensorBytes = (t: Tensor, layer: number, n: number, g: LayerGroup | null) => number;

function resolve(spec: ModelSpec, formatId: string): TensorBytes {
  if (formatId === 'auto' || formatId === 'checkpoint') {
    const q = spec.checkpointQuant;
    const qf = q ? getFormat(q.format) : null;
    const base = getFormat(spec.torchDtype === 'float32' ? 'fp32' : 'bf16')!;
    if (q?.moduleFormats) {
      // Mixed precision: each listed module in its own format, the rest at the model dtype.
      return (t, layer, _n, g) => {
        const f = isMatrix(t) ? moduleFormat(q, t, g, layer) : null;
        const mf = f ? getFormat(f) : null;
        return mf ? mf.matrixBytes(t.shape) : keptBytes(t, base);
      };
    }
    // Exclusions by role (norms, router, head) and by the module names the config lists, layer by layer.
    return (t, layer, _n, g) =>
      qf && isMatrix(t) && !excludedFromQuant(q!, t, g, layer) ? qf.matrixBytes(t.shape) : keptBytes(t, base);
  }
  const mix = Object.hasOwn(GGUF_MIXES, formatId) ? GGUF_MIXES[formatId] : undefined;
  if (mix) {
    const base = getFormat(mix.base)!;
    const more = getFormat(mix.more)!;
    const out = getFormat(mix.output)!;
    return (t, layer, n) => {
      if (!isMatrix(t)) return numel(t.shape) * 4;
      if (t.role === 'lm_head') return out.matrixBytes(t.shape);
      const raised = /v_proj|down_proj|\.wo\b|fc2|dense_4h_to_h|c_proj/.test(t.name) && moreBits(layer, n);
      return (raised ? more : base).matrixBytes(t.shape);
    };
  }
  const fmt = getFormat(formatId);
  if (!fmt) throw new FormatError(`unknown weight precision '${formatId}'`);
  return (t) =>
    isMatrix(t) && (QUANTIZED_ROLES.has(t.role) || fmt.quantizesEmbeddings)
      ? fmt.matrixBytes(t.shape)
      : keptBytes(t, fmt);
}

const cache = new WeakMap<ModelSpec, Map<string, WeightLayout>>();

export function weightLayout(spec: ModelSpec, formatId: string): WeightLayout {
  let m = cache.get(spec);
  if (!m) cache.set(spec, (m = new Map()));
  const hit = m.get(formatId);
  if (hit) return hit;
  const bytes = resolve(spec, formatId);
  let total = 0;
  const groups = spec.groups.map((g) => {
    const w: GroupWeights = { tpSplit: 0, kvProj: 0, expert: 0, replicated: 0, splitByRole: {} };
    const n = g.stack === 'decoder' ? spec.numLayers : g.count;
    // Mixed formats depend on the layer index; average the group's layers so one layer stands for all.
    for (const t of g.tensors) {
      let b = 0;
      for (const i of g.layers) b += bytes(t, i, n, g);
      b /= g.count;
      if (t.role === 'expert') w.expert += b;
      else if (t.role === 'norm' || t.role === 'router' || t.shape.length < 2) w.replicated += b;
      else if (/(k_proj|v_proj)\./.test(t.name)) w.kvProj += b;
      else {
        w.tpSplit += b;
        w.splitByRole[t.role] = (w.splitByRole[t.role] ?? 0) + b;
      }
    }
    total += (w.tpSplit + w.kvProj + w.expert + w.replicated) * g.count;
    return w;
  });
  let vocabSplit = 0;
  let globalReplicated = 0;
  let embeddingBytes = 0;
  let headBytes = 0;
  for (const t of spec.globalTensors) {
    const b = bytes(t, 0, spec.numLayers, null);
    total += b;
    if (t.role === 'embedding' && t.shape.length === 2) {
      vocabSplit += b;
      embeddingBytes += b;
    } else if (t.role === 'lm_head' && t.shape.length === 2) {
      vocabSplit += b;
      headBytes += b;
    } else globalReplicated += b;
  }
  const layout = { format: formatId, groups, vocabSplit, globalReplicated, embeddingBytes, headBytes, total };
  m.set(formatId, layout);
  return layout;
}
