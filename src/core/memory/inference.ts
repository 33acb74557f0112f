/**
 * Inference memory per device, in bytes: weights, KV cache, SSM state, the activation peak of one forward step,
 * image embeddings and the runtime's own lines. With pipeline parallelism the worst stage is reported.
 */
import type { LayerGroup, ModelSpec } from '../arch/spec.js';
import { Trace, NO_TRACE, type TraceEntry } from '../explain.js';
import { kvElementBytes, normaliseFormatId } from '../numerics/formats.js';
import { devices, groupTp, stageOf, validatePlan, type ParallelPlan } from '../parallel/plan.js';
import { kvBytesPerTokenLayer, kvCache, kvHeadsPerDevice } from './kv.js';
import { FormatError, weightLayout } from './weights.js';
import { runtimeOverhead, type RuntimeId } from './runtime.js';

export interface InferenceOptions {
  /** Weight storage format ('bf16', 'fp8', 'q4_k_m', ... or 'auto' for the checkpoint's own). */
  precision: string;
  /** KV-cache dtype. */
  kvPrecision: string;
  batch: number;
  /** Tokens per sequence (prompt + generated). */
  seq: number;
  plan: ParallelPlan;
  /** Tokens in one forward step (prefill of the whole batch by default; an engine's max_num_batched_tokens). */
  stepTokens?: number;
  /** Rows whose logits are computed in that step (default: one per sequence). */
  logitsRows?: number;
  /** Fused (flash) attention keeps no s² score matrix. */
  fusedAttention?: boolean;
  blockSize?: number | null;
  runtime?: RuntimeId;
  /** Images per sequence, for vision-language models. */
  images?: number;
  explain?: boolean;
}

export interface InferenceMemory {
  weights_bytes: number;
  kv_cache_bytes: number;
  kv_cache_bytes_per_token: number;
  activation_bytes: number;
  state_bytes: number;
  image_bytes: number;
  overhead_bytes: number;
  overhead: Record<string, number>;
  total_bytes: number;
  /** Pipeline stage the figures are for (the one with the largest total). */
  stage: number;
  devices: number;
  trace: TraceEntry[];
}

export class InputError extends Error {}

export function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new InputError(`${name} must be a positive integer (got ${v})`);
}

/** Activation element size: the compute dtype (fp32 models compute in fp32, everything else in 16 bit). */
function activationBytesPerElement(precision: string): number {
  return normaliseFormatId(precision) === 'fp32' ? 4 : 2;
}

/** Largest transient of one layer of the group for T tokens, per device. */
function layerPeak(
  g: LayerGroup,
  T: number,
  batch: number,
  seq: number,
  tp: number,
  b: number,
  fused: boolean,
): number {
  let peak = 0;
  const a = g.attention;
  if (a) {
    const q = (a.numHeads / tp) * a.headDim;
    const kv = a.mla
      ? (a.numHeads / tp) * (a.mla.qkNopeHeadDim + a.vHeadDim)
      : kvHeadsPerDevice(a, tp) * (a.headDim + a.vHeadDim);
    let attn = T * (q + kv + (a.numHeads / tp) * a.vHeadDim) * b;
    if (!fused) attn += batch * (a.numHeads / tp) * seq * Math.min(seq, a.window ?? seq) * b;
    peak = Math.max(peak, attn);
  }
  const m = g.mlp;
  if (m?.kind === 'dense') {
    peak = Math.max(peak, T * (m.intermediateSize / tp) * (m.gated ? 3 : 2) * b);
  } else if (m?.kind === 'moe') {
    const routed = T * m.topK * (m.expertIntermediateSize / tp) * (m.gated ? 3 : 2) * b;
    const shared = T * (m.sharedIntermediateSize / tp) * (m.gated ? 3 : 2) * b;
    peak = Math.max(peak, routed + shared + T * m.numExperts * 4);
  }
  if (g.ssm) peak = Math.max(peak, T * ((2 * g.ssm.dInner + g.ssm.convDim) / tp) * b);
  return peak;
}

export function inferenceMemory(spec: ModelSpec, o: InferenceOptions): InferenceMemory {
  const trace = o.explain ? new Trace(true) : NO_TRACE;
  positiveInt('batch', o.batch);
  positiveInt('seq', o.seq);
  validatePlan(spec, o.plan);
  const kvBytes = kvElementBytes(o.kvPrecision);
  if (kvBytes === null) throw new FormatError(`unknown kv precision '${o.kvPrecision}'`);
  const precision = o.precision === 'auto' ? 'auto' : normaliseFormatId(o.precision);
  const layout = weightLayout(spec, precision);
  const { tp, pp, ep } = o.plan;
  const b = activationBytesPerElement(precision === 'auto' ? (spec.torchDtype ?? 'bf16') : precision);
  const images = o.images ?? 0;
  const imageTokens = spec.vision ? images * spec.vision.tokensPerImage : 0;
  const seq = o.seq + imageTokens;
  // Context parallelism splits the sequence (tokens of a step and the KV cache) over cp devices.
  const cp = o.plan.cp ?? 1;
  const T = Math.ceil((o.stepTokens ?? o.batch * seq) / cp);
  const rows = o.logitsRows ?? o.batch;
  const fused = o.fusedAttention ?? true;

  let best: InferenceMemory | null = null;
  for (let stage = 0; stage < pp; stage++) {
    const onStage = pp === 1 ? null : (i: number) => stageOf(i, spec.numLayers, pp) === stage;
    let weights = 0;
    let actPeak = 0;
    spec.groups.forEach((g, gi) => {
      const w = layout.groups[gi]!;
      const n =
        g.stack !== 'decoder' || !onStage
          ? g.stack === 'decoder' || stage === 0
            ? g.count
            : 0
          : g.layers.filter(onStage).length;
      if (n === 0) return;
      const gtp = groupTp(g, tp);
      const kvShard = g.attention && g.attention.kind !== 'mla' ? Math.min(gtp, g.attention.numKvHeads) : gtp;
      weights += n * (w.tpSplit / gtp + w.kvProj / kvShard + w.expert / (tp * ep) + w.replicated);
      actPeak = Math.max(actPeak, layerPeak(g, T, o.batch, seq, gtp, b, fused));
    });
    const first = stage === 0;
    const last = stage === pp - 1;
    weights += (first ? layout.embeddingBytes / tp : 0) + (last ? layout.headBytes / tp : 0);
    weights += first ? layout.globalReplicated : 0;
    const kv = kvCache(spec, {
      batch: o.batch,
      seq,
      kvBytes,
      tp,
      blockSize: o.blockSize ?? null,
      layerFilter: onStage,
      stateBytes: b,
    });
    // Sequence parallelism shards the residual stream over the TP group.
    const residual = (2 * T * spec.hiddenSize * b) / (o.plan.sp ? tp : 1);
    // Logits in the compute dtype, their fp32 copy and the fp32 probabilities of the sampler.
    const logits = last && spec.structure !== 'encoder' ? rows * spec.vocabSize * (b + 4 + 4) : 0;
    const activation = residual + Math.max(actPeak, logits);
    const image = spec.vision ? o.batch * imageTokens * spec.hiddenSize * b : 0;
    const rt = runtimeOverhead(o.runtime ?? 'pytorch', { tp, pp, ep, rotaryTokens: seq, spec, b });
    const total = weights + kv.kvCacheBytes / cp + kv.stateBytes + activation + image + rt.total;
    if (!best || total > best.total_bytes) {
      best = {
        weights_bytes: weights,
        kv_cache_bytes: kv.kvCacheBytes / cp,
        kv_cache_bytes_per_token: kv.kvBytesPerToken / cp,
        activation_bytes: activation,
        state_bytes: kv.stateBytes,
        image_bytes: image,
        overhead_bytes: rt.total,
        overhead: rt.lines,
        total_bytes: total,
        stage,
        devices: devices(o.plan),
        trace: [],
      };
    }
  }
  const r = best!;
  if (trace.enabled)
    explainInference(trace, spec, o, r, {
      kvBytes,
      T,
      rows,
      b,
      seq,
      precision: layout.format,
      total: layout.total,
    });
  r.trace = trace.entries;
  return r;
}

function explainInference(
  t: Trace,
  spec: ModelSpec,
  o: InferenceOptions,
  r: InferenceMemory,
  x: { kvBytes: number; T: number; rows: number; b: number; seq: number; precision: string; total: number },
): void {
  const { tp, pp, ep } = o.plan;
  t.add(
    'weights_bytes (whole model)',
    x.total,
    'bytes',
    'sum over tensors of stored bytes at the format (scales included)',
    {
      precision: x.precision,
    },
  );
  t.add(
    'weights_bytes',
    r.weights_bytes,
    'bytes',
    'per device: TP-split / tp + KV projections / min(tp, kv_heads) + experts / (tp·ep) + replicated norms; layers of the worst pipeline stage',
    { tp, pp, ep, stage: r.stage },
  );
  for (const g of spec.groups) {
    const a = g.attention;
    if (!a || g.stack !== 'decoder') continue;
    const formula =
      (a.mla
        ? '(kv_lora_rank + qk_rope_head_dim) · bytes_kv · layers'
        : '2 · kv_heads_per_device · head_dim · bytes_kv · layers') +
      (a.indexer ? ' + (index_head_dim fp8 + 4 B scale per 128) · layers (DSA indexer keys)' : '') +
      (a.kvShared ? " = 0: these layers read an earlier layer's cache" : '');
    t.add(
      `kv bytes per token (${g.name})`,
      a.kvShared ? 0 : kvBytesPerTokenLayer(a, x.kvBytes, tp) * g.count,
      'bytes/token',
      formula,
      {
        layers: g.count,
        kv_heads: a.numKvHeads,
        head_dim: a.headDim,
        bytes_kv: x.kvBytes,
        window: a.window,
        tp,
      },
    );
  }
  t.add(
    'kv_cache_bytes',
    r.kv_cache_bytes,
    'bytes',
    'sum over groups of bytes/token · batch · min(seq, window)',
    { batch: o.batch, seq: x.seq },
  );
  t.add(
    'state_bytes',
    r.state_bytes,
    'bytes',
    'SSM layers: (conv_dim · (d_conv−1) · bytes + ssm_state · 4) · layers · batch',
    {},
  );
  t.add(
    'activation_bytes',
    r.activation_bytes,
    'bytes',
    '2·T·hidden·b (residual) + max(largest layer transient, logits rows·vocab·(b+8))',
    {
      T: x.T,
      hidden: spec.hiddenSize,
      b: x.b,
      logits_rows: x.rows,
      vocab: spec.vocabSize,
    },
  );
  for (const [k, v] of Object.entries(r.overhead))
    t.add(`overhead.${k}`, v, 'bytes', 'runtime constant (see runtime.ts for its source)', {
      runtime: o.runtime ?? 'pytorch',
    });
  t.add(
    'total_bytes',
    r.total_bytes,
    'bytes',
    'weights + kv_cache + state + activation + image + overhead',
    {},
  );
}

/** The precision a checkpoint computes in, for defaults: its torch_dtype, bf16 when unstated. */
export function modelDtype(spec: ModelSpec): 'fp32' | 'fp16' | 'bf16' {
  const d = (spec.torchDtype ?? '').toLowerCase();
  if (d === 'float32') return 'fp32';
  if (d === 'float16') return 'fp16';
  return 'bf16';
}
