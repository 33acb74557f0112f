/**
 * Training memory per device, in bytes: weights (+ fp32 master copy in mixed precision), gradients, optimizer
 * states, activations, logits and loss buffers, LoRA adapters and the QLoRA dequantisation buffer, under ZeRO 0-3 /
 * FSDP over data parallelism, tensor parallelism (with or without sequence parallelism) and pipeline parallelism.
 *
 * Conventions (the README and the explain trace repeat them):
 * - Bytes per element by precision: fp32 trains in fp32 (weights 4, gradients 4, no master copy, activations 4);
 *   bf16 / fp16 are mixed precision (16-bit weights 2, fp32 master 4 per trainable parameter, gradients in the
 *   training dtype 2, activations 2); fp8 is FP8 mixed precision with fp8 compute weights (1), an fp32 master (4),
 *   bf16 gradients (2) and activations kept in bf16 (2).
 * - Activations follow Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
 *   derived term by term from the layer's shapes: every saved tensor is a GEMM input or an element-wise input
 *   backward needs. See `layerActivations`. For a GPT layer (MHA, plain 4h MLP, dropout) this is exactly
 *   sbh(34 + 5as/h) at 2 B, sbh(10 + 24/t + 5as/(ht)) under TP and sbh(34/t + 5as/(ht)) with sequence parallel.
 * - Dropout defaults to none (LLM fine-tuning configs use attention/hidden dropout 0.0); `dropout: true` adds the
 *   1-byte masks and the post-dropout attention probabilities of the paper.
 * - Pipeline parallelism runs the 1F1B schedule: stage i holds the activations of pp - i micro-batches in flight
 *   (Korthikanti §4.2.3: the first stage stores pp micro-batches of L/pp layers, i.e. about L layers' worth), and
 *   the worst stage is reported. Enough micro-batches (>= pp) are assumed.
 * - Gradient buffers live for the whole step (DDP buckets, gradient accumulation), so the backward phase holds all
 *   activations, the logits and the gradients at once; the optimizer step holds weights, master, states and
 *   gradients. The overall peak is the largest phase, each phase being the sum of what is live in it.
 */
import type { LayerGroup, ModelSpec } from '../arch/spec.js';
import { countParameters } from '../arch/params.js';
import { Trace, type TraceEntry } from '../explain.js';
import { normaliseFormatId } from '../numerics/formats.js';
import { validatePlan } from '../parallel/plan.js';
import { InputError } from './inference.js';
import { getOptimizer, optimizerStateBytes, type TrainableShapes } from './optimizers.js';
import { weightLayout } from './weights.js';
import { ActContext, layerActivations } from './training-activations.js';
import { profileOf, stageCounts, loraProfile } from './training-profile.js';

export type TrainingPrecision = 'fp32' | 'bf16' | 'fp16' | 'fp8';
export type ZeroStage = 0 | 1 | 2 | 3 | 'fsdp';
export type Recompute = 'none' | 'selective' | 'full';

export interface LoraOptions {
  rank: number;
  /** Module names as PEFT's target_modules (a leaf name such as 'q_proj' matches '...self_attn.q_proj'). */
  targets: readonly string[] | 'all-linear';
}

export interface TrainingOptions {
  precision: TrainingPrecision;
  /** Optimizer id or alias (see optimizers.ts). */
  optimizer: string;
  /** Micro-batch per device. */
  batch: number;
  seq: number;
  dp?: number;
  tp?: number;
  pp?: number;
  zero?: ZeroStage;
  recompute?: Recompute;
  /** Flash attention: no s² scores kept, one fp32 logsumexp per row and head instead. Default true. */
  fusedAttention?: boolean;
  sequenceParallel?: boolean;
  /** Model dropout (1-byte masks). Default false. */
  dropout?: boolean;
  lora?: LoraOptions | null;
  /** 4-bit NF4 double-quantised frozen base (needs lora). */
  qlora?: boolean;
  /** Percent of parameters that are trained (get gradients, master copy and optimizer states); default 100. */
  trainablePercent?: number;
  /** Does not change per-device memory; accepted and ignored. */
  gradientAccumulation?: number;
  /** Collect the explain trace (default true). */
  explain?: boolean;
}

export interface TrainingComponents {
  weights: number;
  master_weights: number;
  gradients: number;
  optimizer_states: number;
  activations: number;
  logits: number;
  lora_adapter: number;
  dequant_buffer: number;
}

export interface TrainingPhases {
  forward_peak: number;
  backward_peak: number;
  optimizer_step_peak: number;
}

export interface LayerActivations {
  group: string;
  /** Layers of the group on the reported stage. */
  layers: number;
  /** Bytes one layer keeps for one micro-batch with no recompute. */
  full_bytes_per_layer: number;
  /** Bytes one layer keeps for one micro-batch under the chosen recompute. */
  stored_bytes_per_layer: number;
}

export interface TrainingMemory {
  components: TrainingComponents;
  phases: TrainingPhases;
  peak_bytes: number;
  /** Whole-model counts (not per device). With LoRA, total includes the adapters (as PEFT prints "all params"). */
  trainable_parameters: number;
  total_parameters: number;
  trainable_percent: number;
  /** Parameters of the base model held by the reported device before ZeRO sharding. */
  device_parameters: number;
  activations_per_layer: LayerActivations[];
  /** Pipeline stage the figures are for (the one with the largest peak). */
  stage: number;
  /** Micro-batches in flight on that stage (1F1B). */
  in_flight_micro_batches: number;
  devices: number;
  per_device: true;
  trace: TraceEntry[];
}

interface PrecisionBytes {
  weight: number;
  master: number;
  grad: number;
  act: number;
  /** LoRA adapter weights. */
  lora: number;
}

const PRECISIONS: Record<TrainingPrecision, PrecisionBytes> = {
  fp32: { weight: 4, master: 0, grad: 4, act: 4, lora: 4 },
  bf16: { weight: 2, master: 4, grad: 2, act: 2, lora: 2 },
  fp16: { weight: 2, master: 4, grad: 2, act: 2, lora: 2 },
  fp8: { weight: 1, master: 4, grad: 2, act: 2, lora: 2 },
};

function precisionOf(p: string): TrainingPrecision {
  const k = normaliseFormatId(String(p));
  if (k === 'fp32' || k === 'bf16' || k === 'fp16') return k;
  if (k.startsWith('fp8')) return 'fp8';
  throw new InputError(`precision must be one of fp32, bf16, fp16, fp8 (got '${p}')`);
}

// ---------------------------------------------------------------------------------------------------------------

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new InputError(`${name} must be a positive integer (got ${String(v)})`);
  return v;
}

interface StageResult {
  stage: number;
  inFlight: number;
  params: number;
  trainable: number;
  c: TrainingComponents;
  phases: TrainingPhases;
  peak: number;
  layers: LayerActivations[];
  extra: { finalNorm: number; embeddingMask: number; recomputeLayer: number };
}

export function trainingMemory(spec: ModelSpec, o: TrainingOptions): TrainingMemory {
  const precision = precisionOf(o.precision);
  const pb = PRECISIONS[precision];
  const optimizer = getOptimizer(o.optimizer);
  const batch = positiveInt('batch', o.batch);
  const seq = positiveInt('seq', o.seq);
  const dp = positiveInt('dp', o.dp ?? 1);
  const tp = positiveInt('tp', o.tp ?? 1);
  const pp = positiveInt('pp', o.pp ?? 1);
  validatePlan(spec, { tp, pp, ep: 1 });
  const zeroIn = o.zero ?? 0;
  if (!([0, 1, 2, 3, 'fsdp'] as unknown[]).includes(zeroIn))
    throw new InputError(`zero must be 0, 1, 2, 3 or 'fsdp' (got ${String(zeroIn)})`);
  const zero = zeroIn === 'fsdp' ? 3 : (zeroIn as 0 | 1 | 2 | 3);
  const recompute = o.recompute ?? 'none';
  if (!['none', 'selective', 'full'].includes(recompute))
    throw new InputError(`recompute must be none, selective or full (got '${String(recompute)}')`);
  const fused = o.fusedAttention ?? true;
  const sp = (o.sequenceParallel ?? false) && tp > 1;
  const dropout = o.dropout ?? false;
  const lora = o.lora ?? null;
  const qlora = o.qlora ?? false;
  if (qlora && !lora) throw new InputError('qlora needs lora options (rank and target modules)');
  if (lora) positiveInt('lora.rank', lora.rank);
  const percent = o.trainablePercent ?? 100;
  if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100))
    throw new InputError(`trainablePercent must be between 0 and 100 (got ${String(percent)})`);

  const trace = new Trace(o.explain ?? true);
  const prof = profileOf(spec);
  const counts = stageCounts(spec, prof, pp);
  const lp = lora ? loraProfile(spec, prof, lora) : null;
  const nf4 = qlora ? weightLayout(spec, 'nf4_dq') : null;
  const base = countParameters(spec).total;
  const loraTotal = lp?.total ?? 0;
  const trainableTotal = lp ? loraTotal : (base * percent) / 100;
  const shapes: TrainableShapes = lp
    ? { params: loraTotal, factoredElements: lp.factored, smallTensorParams: lp.small }
    : {
        params: trainableTotal,
        factoredElements: (prof.factored * percent) / 100,
        smallTensorParams: (prof.small * percent) / 100,
      };
  const optimizerTotal = optimizerStateBytes(optimizer, shapes);
  const optPerParam = trainableTotal > 0 ? optimizerTotal / trainableTotal : 0;

  const ctx: ActContext = { s: seq, b: batch, h: spec.hiddenSize, tp, e: pb.act, dropout, fused };
  const repDiv = sp ? tp : 1;
  const sbh = seq * batch * spec.hiddenSize;
  const groupActs = spec.groups.map((g, gi) => {
    // Vision towers run on images, not on the text sequence: their activations are not modelled.
    if (g.stack === 'vision') return { full: 0, stored: 0 };
    const t = layerActivations(g, prof.groups[gi]!, ctx, lp?.bufferRanks[gi] ?? 0);
    const full = t.rep / repDiv + t.split + t.core;
    const stored =
      recompute === 'none'
        ? full
        : recompute === 'selective'
          ? t.rep / repDiv + t.split
          : (pb.act * sbh) / repDiv; // full: the layer's input only
    return { full, stored };
  });
  // K/V projections split only down to one KV head per device (replicated beyond), as in weights.ts.
  const kvShardOf = (g: LayerGroup) =>
    g.attention && g.attention.kind !== 'mla' ? Math.min(tp, g.attention.numKvHeads) : tp;
  const vocabShard = tp;
  const dequant = qlora ? (prof.largestQuantMatrix / tp) * 2 : 0;

  const stages: StageResult[] = [];
  for (let stage = 0; stage < pp; stage++) {
    const first = stage === 0;
    const last = stage === pp - 1;
    const inFlight = pp - stage;
    const n = counts[stage]!;
    let params = 0;
    let baseBytes = 0;
    let loraParams = 0;
    let acts = 0;
    let recomputeLayer = 0;
    const layers: LayerActivations[] = [];
    spec.groups.forEach((g, gi) => {
      const k = n[gi]!;
      if (k === 0) return;
      const w = prof.groups[gi]!.params;
      const kvShard = kvShardOf(g);
      params += k * (w.tpSplit / tp + w.kvProj / kvShard + w.expert / tp + w.replicated);
      if (nf4) {
        const q = nf4.groups[gi]!;
        baseBytes += k * (q.tpSplit / tp + q.kvProj / kvShard + q.expert / tp + q.replicated);
      }
      loraParams += k * (lp?.perLayer[gi] ?? 0);
      const ga = groupActs[gi]!;
      acts += inFlight * k * ga.stored;
      if (recompute === 'full') recomputeLayer = Math.max(recomputeLayer, ga.full);
      layers.push({
        group: g.name,
        layers: k,
        full_bytes_per_layer: ga.full,
        stored_bytes_per_layer: ga.stored,
      });
    });
    // Globals: embedding on the first stage (and, tied, a copy on the last stage for the head), head on the last.
    const tiedCopy = spec.tiedEmbeddings && pp > 1 && last ? prof.embedding / vocabShard : 0;
    const globalParams =
      (first ? prof.embedding / vocabShard + prof.globalReplicated : 0) +
      (last ? prof.head / vocabShard : 0) +
      tiedCopy;
    params += globalParams;
    if (nf4) {
      baseBytes +=
        (first ? nf4.embeddingBytes / vocabShard + nf4.globalReplicated : 0) +
        (last ? nf4.headBytes / vocabShard : 0) +
        (tiedCopy > 0 ? nf4.embeddingBytes / vocabShard : 0);
    } else baseBytes = params * pb.weight;
    acts += recomputeLayer;
    // Last stage: the final norm's input and the output projection's input (Korthikanti §4.3: 4sbh at 2 B).
    const finalNorm = last ? (2 * pb.act * sbh) / repDiv : 0;
    // First stage: the embedding dropout mask, per micro-batch in flight.
    const embeddingMask = first && dropout ? (inFlight * sbh) / repDiv : 0;
    acts += finalNorm + embeddingMask;
    const logits = last ? ((batch * seq * spec.vocabSize) / vocabShard) * (pb.act + 4) : 0;

    const trainable = lp ? loraParams : (params * percent) / 100;
    let weights = baseBytes;
    let adapter = loraParams * pb.lora;
    let master = trainable * pb.master;
    let gradients = trainable * pb.grad;
    let optimizerStates = trainable * optPerParam;
    if (zero >= 1) {
      master /= dp;
      optimizerStates /= dp;
    }
    if (zero >= 2) gradients /= dp;
    if (zero >= 3) {
      weights /= dp;
      adapter /= dp;
    }
    const c: TrainingComponents = {
      weights,
      master_weights: master,
      gradients,
      optimizer_states: optimizerStates,
      activations: acts,
      logits,
      lora_adapter: adapter,
      dequant_buffer: dequant,
    };
    const resident = weights + adapter + master + optimizerStates;
    const forward = resident + dequant + acts + logits;
    const phases: TrainingPhases = {
      forward_peak: forward,
      backward_peak: forward + gradients,
      optimizer_step_peak: resident + gradients,
    };
    const peak = Math.max(phases.forward_peak, phases.backward_peak, phases.optimizer_step_peak);
    stages.push({
      stage,
      inFlight,
      params,
      trainable,
      c,
      phases,
      peak,
      layers,
      extra: { finalNorm, embeddingMask, recomputeLayer },
    });
  }
  const r = stages.reduce((a, x) => (x.peak > a.peak ? x : a));
  const totalParams = base + loraTotal;

  if (trace.enabled) {
    const inputs = { precision, optimizer: optimizer.id, batch, seq, dp, tp, pp, zero, stage: r.stage };
    trace.add(
      'total_parameters',
      totalParams,
      'parameters',
      lp ? 'base parameters + LoRA parameters' : 'Σ tensor elements (tied once)',
      {
        base,
        lora: loraTotal,
      },
    );
    trace.add(
      'trainable_parameters',
      trainableTotal,
      'parameters',
      lp
        ? 'Σ over targeted linears [out, in] of every layer: experts · rank · (in + out)'
        : 'total_parameters · trainable_percent / 100',
      { rank: lora?.rank ?? null, modules: lp?.modules ?? null, trainable_percent: lp ? null : percent },
    );
    trace.add(
      'device_parameters',
      r.params,
      'parameters',
      'layers on the stage · (TP-split / tp + K,V projections / min(tp, kv_heads) + experts / tp + norms, biases) + embedding / tp on the first stage + head / tp on the last (tied: embedding copy there when pp > 1)',
      { tp, pp, stage: r.stage },
    );
    trace.add(
      'weights',
      r.c.weights,
      'bytes',
      qlora
        ? 'NF4 double-quant base (0.5 B + 8-bit absmax per 64 + fp32 per 256 blocks), 16-bit embeddings/head/norms, on the device' +
            (zero >= 3 ? ' / dp' : '')
        : `device_parameters · ${pb.weight} B` + (zero >= 3 ? ' / dp' : ''),
      { ...inputs, bytes_per_param: qlora ? 'nf4_dq' : pb.weight },
    );
    trace.add(
      'lora_adapter',
      r.c.lora_adapter,
      'bytes',
      `LoRA parameters on the device · ${pb.lora} B` + (zero >= 3 ? ' / dp' : ''),
      {
        lora_parameters_on_device: lp ? r.trainable : 0,
      },
    );
    trace.add(
      'master_weights',
      r.c.master_weights,
      'bytes',
      `trainable on the device · ${pb.master} B (fp32 copy; none when training in fp32)` +
        (zero >= 1 ? ' / dp' : ''),
      {
        trainable_on_device: r.trainable,
        dp,
        zero,
      },
    );
    trace.add(
      'gradients',
      r.c.gradients,
      'bytes',
      `trainable on the device · ${pb.grad} B (training dtype)` + (zero >= 2 ? ' / dp' : ''),
      {
        trainable_on_device: r.trainable,
        dp,
        zero,
      },
    );
    trace.add(
      'optimizer_states',
      r.c.optimizer_states,
      'bytes',
      `trainable on the device · (${optimizer.formula}) [${optimizer.source}]` + (zero >= 1 ? ' / dp' : ''),
      { optimizer: optimizer.id, bytes_per_trainable_param: optPerParam, dp, zero },
    );
    for (const l of r.layers) {
      trace.add(
        `activations per layer (${l.group}), no recompute`,
        l.full_bytes_per_layer,
        'bytes',
        'norm inputs + QKV input + Q, K, V + attention context + MLP input + MLP internals (+ masks with dropout) + attention core (s² scores, or flash logsumexp 4·s·b·heads); hidden-sized terms / tp only with sequence parallel',
        {
          s: seq,
          b: batch,
          h: spec.hiddenSize,
          bytes_per_element: pb.act,
          fused_attention: fused,
          dropout,
          sequence_parallel: sp,
          tp,
        },
      );
      trace.add(
        `activations per layer (${l.group}), stored`,
        l.stored_bytes_per_layer,
        'bytes',
        recompute === 'none'
          ? 'all of the above'
          : recompute === 'selective'
            ? 'without the attention core (recomputed)'
            : 'the layer input only: bytes · s · b · h',
        { recompute },
      );
    }
    trace.add(
      'activations',
      r.c.activations,
      'bytes',
      'in-flight micro-batches (1F1B: pp − stage) · Σ layers · stored per layer' +
        (recompute === 'full' ? ' + one layer recomputed in full' : '') +
        ' + final norm and head inputs on the last stage (2·bytes·s·b·h) + embedding dropout mask on the first',
      {
        in_flight: r.inFlight,
        recomputed_layer: r.extra.recomputeLayer,
        final_norm_and_head_inputs: r.extra.finalNorm,
        embedding_dropout_mask: r.extra.embeddingMask,
      },
    );
    trace.add(
      'logits',
      r.c.logits,
      'bytes',
      'b · s · vocab / tp · (logits bytes + 4 B fp32 loss softmax), last stage',
      {
        b: batch,
        s: seq,
        vocab: spec.vocabSize,
        tp,
        logits_bytes: pb.act,
      },
    );
    trace.add(
      'dequant_buffer',
      r.c.dequant_buffer,
      'bytes',
      'largest quantised matrix / tp · 2 B (bf16 dequantised copy)',
      {
        largest_matrix_elements: qlora ? prof.largestQuantMatrix : 0,
      },
    );
    trace.add(
      'forward_peak',
      r.phases.forward_peak,
      'bytes',
      'weights + lora_adapter + master + optimizer_states + dequant_buffer + activations + logits',
      {},
    );
    trace.add('backward_peak', r.phases.backward_peak, 'bytes', 'forward_peak + gradients', {});
    trace.add(
      'optimizer_step_peak',
      r.phases.optimizer_step_peak,
      'bytes',
      'weights + lora_adapter + master + optimizer_states + gradients',
      {},
    );
    trace.add(
      'peak_bytes',
      r.peak,
      'bytes',
      'max(forward_peak, backward_peak, optimizer_step_peak) on the worst pipeline stage',
      {
        stage: r.stage,
      },
    );
  }

  return {
    components: r.c,
    phases: r.phases,
    peak_bytes: r.peak,
    trainable_parameters: trainableTotal,
    total_parameters: totalParams,
    trainable_percent: totalParams > 0 ? (100 * trainableTotal) / totalParams : 0,
    device_parameters: r.params,
    activations_per_layer: r.layers,
    stage: r.stage,
    in_flight_micro_batches: r.inFlight,
    devices: dp * tp * pp,
    per_device: true,
    trace: trace.entries,
  };
}
