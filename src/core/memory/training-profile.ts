/**
 * The per-model profile training memory needs, computed once per ModelSpec (the only per-tensor loops): linear
 * modules and their shapes, how each layer's parameters shard under TP/PP/EP, and the LoRA adapters' sizes.
 */
import type { LayerGroup, ModelSpec, Tensor } from '../arch/spec.js';
import { numel } from '../arch/tensors.js';
import { QUANTIZED_ROLES } from '../numerics/formats.js';
import { stageOf } from '../parallel/plan.js';
import { InputError } from './inference.js';
import { BNB_MIN_8BIT_SIZE, factoredElements } from './optimizers.js';
import { weightLayout } from './weights.js';
import type { LoraOptions } from './training.js';

// ---------------------------------------------------------------------------------------------------------------
// Per-spec profile, computed once per ModelSpec (the only per-tensor loops).

interface LinearModule {
  module: string;
  inF: number;
  outF: number;
  /** Stacked experts: E copies, each token passes through top-k of them. */
  experts: number;
}

/** Parameters (or bytes) of one layer by how they shard. */
interface Shards {
  tpSplit: number;
  kvProj: number;
  expert: number;
  replicated: number;
}

export interface GroupProfile {
  /** Parameters of one layer by how they shard (weightLayout at fp32 / 4). */
  params: Shards;
  normCount: number;
  qkNorm: boolean;
  linears: LinearModule[];
  factored: number;
  small: number;
  /** Elements of the largest matrix a 4-bit base dequantises at once (one expert of a stacked tensor). */
  largestQuantMatrix: number;
}

export interface Profile {
  groups: GroupProfile[];
  embedding: number;
  head: number;
  globalReplicated: number;
  factored: number;
  small: number;
  largestQuantMatrix: number;
  stageCounts: Map<number, number[][]>;
  lora: Map<string, LoraProfile>;
}

export interface LoraProfile {
  /** LoRA parameters of one layer per group. */
  perLayer: number[];
  /** Σ over targeted modules of the rank-sized buffers one token keeps (experts: top-k of them). */
  bufferRanks: number[];
  factored: number;
  small: number;
  total: number;
  modules: number;
}

const profiles = new WeakMap<ModelSpec, Profile>();

const SUB_NORM = /(q_norm|k_norm|_a_layernorm)/;

function isMainStack(spec: ModelSpec, g: LayerGroup): boolean {
  return g.stack === (spec.structure === 'encoder' ? 'encoder' : 'decoder');
}

function tensorStats(tensors: readonly Tensor[]): { factored: number; small: number } {
  let factored = 0;
  let small = 0;
  for (const t of tensors) {
    factored += factoredElements(t.shape);
    const n = numel(t.shape);
    if (n < BNB_MIN_8BIT_SIZE) small += n;
  }
  return { factored, small };
}

export function profileOf(spec: ModelSpec): Profile {
  const hit = profiles.get(spec);
  if (hit) return hit;
  const layout = weightLayout(spec, 'fp32');
  let largest = 0;
  const groups = spec.groups.map((g, gi): GroupProfile => {
    const w = layout.groups[gi]!;
    let normCount = 0;
    let qkNorm = false;
    let largestQuantMatrix = 0;
    const linears: LinearModule[] = [];
    for (const t of g.tensors) {
      if (t.role === 'norm' && t.name.endsWith('.weight')) {
        if (/(q_norm|k_norm)/.test(t.name)) qkNorm = true;
        else if (!SUB_NORM.test(t.name) && t.shape[0] === spec.hiddenSize) normCount++;
      }
      const isLinear =
        t.name.endsWith('.weight') && (t.shape.length === 2 || (t.shape.length === 3 && t.role === 'expert'));
      if (!isLinear) continue;
      const [outF, inF] = t.shape.slice(-2) as [number, number];
      const experts = t.shape.length === 3 ? t.shape[0]! : 1;
      linears.push({ module: t.name.slice(0, -'.weight'.length), inF, outF, experts });
      if (QUANTIZED_ROLES.has(t.role)) largestQuantMatrix = Math.max(largestQuantMatrix, inF * outF);
    }
    largest = Math.max(largest, largestQuantMatrix);
    const s = tensorStats(g.tensors);
    return {
      params: {
        tpSplit: w.tpSplit / 4,
        kvProj: w.kvProj / 4,
        expert: w.expert / 4,
        replicated: w.replicated / 4,
      },
      normCount,
      qkNorm,
      linears,
      factored: s.factored,
      small: s.small,
      largestQuantMatrix,
    };
  });
  const gs = tensorStats(spec.globalTensors);
  const p: Profile = {
    groups,
    embedding: layout.embeddingBytes / 4,
    head: layout.headBytes / 4,
    globalReplicated: layout.globalReplicated / 4,
    factored: gs.factored + groups.reduce((a, g, gi) => a + g.factored * spec.groups[gi]!.count, 0),
    small: gs.small + groups.reduce((a, g, gi) => a + g.small * spec.groups[gi]!.count, 0),
    largestQuantMatrix: largest,
    stageCounts: new Map(),
    lora: new Map(),
  };
  profiles.set(spec, p);
  return p;
}

/** counts[stage][group]: layers of each group on each pipeline stage (other stacks sit on stage 0). */
export function stageCounts(spec: ModelSpec, p: Profile, pp: number): number[][] {
  const hit = p.stageCounts.get(pp);
  if (hit) return hit;
  const counts = Array.from({ length: pp }, () => spec.groups.map(() => 0));
  spec.groups.forEach((g, gi) => {
    if (!isMainStack(spec, g)) counts[0]![gi] = g.count;
    else for (const i of g.layers) counts[stageOf(i, spec.numLayers, pp)]![gi]!++;
  });
  p.stageCounts.set(pp, counts);
  return counts;
}

function matchesTarget(module: string, target: string): boolean {
  return module === target || module.endsWith(`.${target}`);
}

export function loraProfile(spec: ModelSpec, p: Profile, lora: LoraOptions): LoraProfile {
  const all = lora.targets === 'all-linear';
  const targets = all ? [] : [...(lora.targets as readonly string[])];
  const key = `${lora.rank}|${all ? '*' : targets.join(',')}`;
  const hit = p.lora.get(key);
  if (hit) return hit;
  const r = lora.rank;
  const matched = new Set<string>();
  let total = 0;
  let factored = 0;
  let small = 0;
  let modules = 0;
  const perLayer: number[] = [];
  const bufferRanks: number[] = [];
  spec.groups.forEach((g, gi) => {
    let params = 0;
    let buffers = 0;
    for (const m of p.groups[gi]!.linears) {
      const t = all ? '*' : targets.find((x) => matchesTarget(m.module, x));
      if (t === undefined) continue;
      matched.add(t);
      // A [r, in] and B [out, r] per module (per expert of a stacked tensor).
      params += m.experts * r * (m.inF + m.outF);
      factored += g.count * m.experts * (r + m.inF + (m.outF + r));
      for (const n of [r * m.inF, m.outF * r]) if (n < BNB_MIN_8BIT_SIZE) small += g.count * m.experts * n;
      const mlp = g.mlp;
      buffers += m.experts > 1 && mlp?.kind === 'moe' ? mlp.topK * r : r;
      modules += g.count * m.experts;
    }
    perLayer.push(params);
    bufferRanks.push(buffers);
    total += params * g.count;
  });
  const missing = all ? [] : targets.filter((t) => !matched.has(t));
  if (missing.length > 0 || modules === 0) {
    const leaves = new Set<string>();
    for (const g of p.groups) for (const m of g.linears) leaves.add(m.module.split('.').pop()!);
    throw new InputError(
      `LoRA target module(s) ${missing.length ? missing.map((t) => `'${t}'`).join(', ') : '(none)'} not found in the model; linear modules: ${[...leaves].join(', ')} or 'all-linear'`,
    );
  }
  const lp = { perLayer, bufferRanks, factored, small, total, modules };
  p.lora.set(key, lp);
  return lp;
}
