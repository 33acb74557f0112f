/**
 * Time of one training step and what follows from it (tokens/s, MFU). Each device runs its share of the
 * micro-batches' forward + backward (+ recomputation) through the pipeline schedule; collectives run beside the
 * compute as Megatron/FSDP overlap them and only the part that outlasts the compute it hides under is added:
 * TP all-reduces (or SP reduce-scatter + all-gather), CP ring K/V exchange, EP all-to-all, PP sends, and the data-
 * parallel gradient / parameter collectives of ZeRO 0–3 and FSDP. Then the optimizer step and QLoRA dequantisation.
 * The estimate runs compute at the calibrated fraction of peak (train-calibration.json, fitted on published runs by
 * scripts/train-calibrate.ts); the ideal bound at datasheet peak with every collective hidden.
 */
import type { ModelSpec } from '../arch/spec.js';
import { countParameters } from '../arch/params.js';
import { computeDtypeFor, hardwareClass, type HardwareSpec } from '../hardware/spec.js';
import { InputError, positiveInt } from '../memory/inference.js';
import { allGatherS, allReduceS, allToAllS, p2pS, type Link } from './comm.js';
import { defaultLinks } from './links.js';
import type { Links } from './step.js';
import { bubbleFraction, tokenFlops, type RecomputeMode, type TokenFlops } from './train-flops.js';
import { sizeFactor, trainEfficiency, OVERLAP, type TrainCalibration } from './train-efficiency.js';

export type TrainPrecision = 'fp32' | 'fp16' | 'bf16' | 'fp8' | 'fp4';
export type TrainZero = 0 | 1 | 2 | 3 | 'fsdp';

export interface TrainRun {
  precision: TrainPrecision;
  /** Sequences per micro-batch on one device. */
  microBatch: number;
  seq: number;
  /** Sequences per optimizer step over all replicas; default microBatch · dp (no accumulation). */
  globalBatch?: number;
  /** Data-parallel (or FSDP/ZeRO sharding) degree; devices = dp · tp · pp · cp. */
  dp: number;
  tp: number;
  pp: number;
  /** Virtual stages per device (interleaved 1F1B); 1 = plain 1F1B. */
  vpp?: number;
  cp?: number;
  /** Expert parallel, carved out of dp · cp as Megatron does (does not add devices). */
  ep?: number;
  zero: TrainZero;
  recompute: RecomputeMode;
  /** Trainable adapter parameters (LoRA/QLoRA, frozen base); null for full training. */
  adapterParameters?: number | null;
  qlora?: boolean;
  links?: Links;
  /** Replaces the fitted efficiency table (cross-validation fits its own). */
  calibration?: TrainCalibration;
}

export interface TrainCommunication {
  tp: number;
  cp: number;
  ep: number;
  pp: number;
  dp: number;
}

export interface TrainTime {
  gpus: number;
  microbatches: number;
  tokens_per_step: number;
  flops_per_token: TokenFlops;
  step_time_s: number;
  tokens_per_s: number;
  tokens_per_s_per_gpu: number;
  /** Model FLOPs without attention (6N) per second over dense BF16 peak. */
  mfu: number;
  /** Model FLOPs with causal attention (6N + attention) over dense BF16 peak. */
  mfu_with_attention: number;
  bubble_fraction: number;
  /** Step time by part: compute, pipeline bubble, exposed communication per kind, optimizer, dequantisation. */
  breakdown: {
    compute_s: number;
    bubble_s: number;
    optimizer_s: number;
    dequant_s: number;
    exposed_communication_s: TrainCommunication;
  };
  /** Each kind's collectives in full per step (before overlap). */
  communication_s: TrainCommunication;
  /** Bytes one device sends per step for the data-parallel collectives (ZeRO/FSDP traffic). */
  dp_bytes_per_step: number;
  compute_efficiency: number;
  calibration_group: string;
  ideal: { step_time_s: number; tokens_per_s_per_gpu: number; mfu: number };
}

/** Grace-Blackwell parts sit in NVL72 racks: one NVLink domain of 72 GPUs. */
function trainLinks(hw: HardwareSpec): Links {
  const l = defaultLinks(hw);
  return /^gb[23]00/.test(hw.id) ? { ...l, devicesPerNode: 72 } : l;
}

function groupLink(links: Links, span: number): Link {
  return span <= links.devicesPerNode || !links.inter ? links.intra : links.inter;
}

/** Checks the degrees and derives devices and micro-batches per step; throws an InputError naming the problem. */
export function trainShape(
  spec: ModelSpec,
  r: TrainRun,
): { gpus: number; microbatches: number; global: number } {
  positiveInt('micro_batch', r.microBatch);
  positiveInt('seq', r.seq);
  for (const [k, v] of [
    ['dp', r.dp],
    ['tp', r.tp],
    ['pp', r.pp],
    ['vpp', r.vpp ?? 1],
    ['cp', r.cp ?? 1],
    ['ep', r.ep ?? 1],
  ] as const)
    positiveInt(k, v);
  const cp = r.cp ?? 1;
  const ep = r.ep ?? 1;
  const vpp = r.vpp ?? 1;
  // Megatron may give the embedding and the loss a virtual stage each: two more than the layers.
  if (r.pp * vpp > spec.numLayers + 2)
    throw new InputError(`pp × vpp = ${r.pp * vpp} exceeds the model's ${spec.numLayers} layers`);
  if (vpp > 1 && r.pp < 2) throw new InputError('vpp (interleaved stages) needs pp >= 2');
  if (r.seq % cp !== 0) throw new InputError(`cp=${cp} must divide seq=${r.seq}`);
  if ((r.dp * cp * r.tp) % ep !== 0)
    throw new InputError(`ep=${ep} must divide dp × cp × tp = ${r.dp * cp * r.tp}`);
  if (ep > 1 && !spec.groups.some((g) => g.mlp?.kind === 'moe'))
    throw new InputError(`ep=${ep} needs a mixture-of-experts model; this one has no experts`);
  for (const g of spec.groups)
    if (g.attention && g.attention.numHeads % r.tp !== 0)
      throw new InputError(`tp=${r.tp} does not divide the ${g.attention.numHeads} attention heads`);
  const global = r.globalBatch ?? r.microBatch * r.dp;
  positiveInt('global_batch', global);
  if (global % (r.microBatch * r.dp) !== 0)
    throw new InputError(
      `global batch ${global} is not a multiple of micro-batch × dp = ${r.microBatch * r.dp} sequences`,
    );
  return { gpus: r.dp * r.tp * r.pp * cp, microbatches: global / (r.microBatch * r.dp), global };
}

export function trainTime(spec: ModelSpec, hw: HardwareSpec, r: TrainRun): TrainTime {
  const { gpus, microbatches: m, global } = trainShape(spec, r);
  const cp = r.cp ?? 1;
  const ep = r.ep ?? 1;
  const vpp = r.vpp ?? 1;
  const adapters = r.adapterParameters ?? null;
  const flops = tokenFlops(spec, { seq: r.seq, recompute: r.recompute, adapterParameters: adapters });
  const links = r.links ?? trainLinks(hw);
  const bf16 = hw.denseFlops.bf16 ?? hw.denseFlops.fp16 ?? hw.denseFlops.fp32 ?? 0;
  if (!(bf16 > 0)) throw new InputError(`${hw.id} has no dense 16-bit FLOP/s in the catalog`);
  const gemmDtype = computeDtypeFor(r.precision === 'fp4' ? 'nvfp4' : r.precision, hw);
  const gemmPeak = (gemmDtype && hw.denseFlops[gemmDtype]) || bf16;
  const moe = spec.groups.some((g) => g.mlp?.kind === 'moe');
  const fitted = trainEfficiency(hardwareClass(hw), r.precision, moe, r.calibration);
  const group = fitted.group;
  const efficiency = fitted.efficiency * sizeFactor(spec.hiddenSize);

  // One micro-batch on one device: its share (1/(tp·pp·cp)) of the micro-batch's FLOPs.
  const mbTokens = r.microBatch * r.seq;
  const share = mbTokens / (r.tp * r.pp * cp);
  const gemmF = share * flops.hardware_gemm;
  const attnF = share * (flops.hardware - flops.hardware_gemm);
  const mbTime = (eff: number) => gemmF / (gemmPeak * eff) + attnF / (bf16 * eff);
  const tMb = mbTime(efficiency);
  const attnMb = attnF / (bf16 * efficiency);

  // Collectives of one micro-batch on one device.
  const h = spec.hiddenSize;
  const act = 2; // bf16 activations
  const localLayers = spec.numLayers / r.pp;
  const tpSpan = r.tp;
  const tpBytes = r.microBatch * (r.seq / cp) * h * act;
  const tpCalls = localLayers * (r.recompute === 'full' ? 6 : 4);
  const tpMb = tpCalls * allReduceS(tpBytes, r.tp, groupLink(links, tpSpan));
  const kv = spec.groups.find((g) => g.attention)?.attention;
  const kvBytes = kv
    ? (2 * r.microBatch * (r.seq / cp) * Math.max(1, kv.numKvHeads / r.tp) * kv.headDim * act) | 0
    : 0;
  // Ring attention: cp − 1 K/V blocks per layer forward, K/V and their gradients backward.
  const cpMb = cp > 1 ? localLayers * 3 * (cp - 1) * p2pS(kvBytes, groupLink(links, r.tp * cp)) : 0;
  const moeLayers = spec.groups.filter((g) => g.mlp?.kind === 'moe').reduce((a, g) => a + g.count, 0) / r.pp;
  const topK = spec.groups.find((g) => g.mlp?.kind === 'moe')?.mlp;
  const k = topK?.kind === 'moe' ? topK.topK : 0;
  const a2aBytes = ((r.microBatch * r.seq) / (cp * r.tp)) * k * h * act;
  const epMb = ep > 1 ? moeLayers * 4 * allToAllS(a2aBytes, ep, groupLink(links, r.tp * ep)) : 0;
  const ppMb = r.pp > 1 ? 2 * vpp * p2pS(tpBytes / r.tp, groupLink(links, gpus)) : 0;

  // Data parallel over dp · cp replicas of each shard: ZeRO 0 all-reduces gradients once a step, 1/2 reduce-scatter
  // them and all-gather the updated parameters, 3/FSDP gather parameters for forward and backward and reduce-
  // scatter gradients every micro-batch.
  const counts = countParameters(spec);
  const expertParams = counts.breakdown.expert;
  const localParams = (counts.total - expertParams) / (r.tp * r.pp) + expertParams / (r.tp * r.pp * ep);
  const d = r.dp * cp;
  const dpLink = groupLink(links, r.tp * cp * r.dp);
  const gradParams = adapters === null ? localParams : adapters / (r.tp * r.pp);
  const paramBytes = localParams * 2;
  const gradBytes = gradParams * 2;
  const sharded = r.zero === 3 || r.zero === 'fsdp';
  const ag = allGatherS(paramBytes, d, dpLink);
  const rs = allGatherS(gradBytes, d, dpLink);
  const fwd = tMb / 3;
  const bwd = tMb - fwd;
  let dpRaw = 0;
  let dpExposed = 0;
  let dpBytes = 0;
  if (d > 1) {
    const frac = (d - 1) / d;
    if (sharded) {
      dpRaw = m * (2 * ag + rs);
      dpExposed = m * (Math.max(0, ag - fwd) + Math.max(0, ag + rs - bwd));
      dpBytes = m * (2 * paramBytes + gradBytes) * frac;
    } else if (r.zero === 0) {
      dpRaw = allReduceS(gradBytes, d, dpLink);
      dpExposed = Math.max(0, dpRaw - bwd * OVERLAP.dpWindow);
      dpBytes = 2 * gradBytes * frac;
    } else {
      dpRaw = rs + allGatherS(gradParams * 2, d, dpLink);
      dpExposed = Math.max(0, rs - bwd * OVERLAP.dpWindow) + Math.max(0, dpRaw - rs - fwd * OVERLAP.dpWindow);
      dpBytes = 2 * gradBytes * frac;
    }
  }

  // Adam: fp32 master, m, v read and written, fp32 gradient read, bf16 weight written (30 B per local parameter).
  const optParams = gradParams / (r.zero === 0 ? 1 : d);
  const optimizer = (optParams * 30) / hw.memoryBandwidthBytesPerS;
  // QLoRA: NF4 weights dequantised to bf16 for each pass over them (forward, backward, recomputed forward).
  const passes = r.recompute === 'full' ? 3 : 2;
  const dequant = r.qlora ? (m * passes * localParams * 2.5) / hw.memoryBandwidthBytesPerS : 0;

  const compute = m * tMb;
  const bubbleF = bubbleFraction(r.pp, m, vpp);
  const bubble = (tMb * (r.pp - 1)) / vpp;
  const cpExposed = m * Math.max(0, cpMb - attnMb);
  const raw: TrainCommunication = { tp: m * tpMb, cp: m * cpMb, ep: m * epMb, pp: m * ppMb, dp: dpRaw };
  const exposed: TrainCommunication = {
    tp: raw.tp * OVERLAP.tpExposed,
    cp: cpExposed,
    ep: raw.ep * OVERLAP.epExposed,
    pp: 0,
    dp: dpExposed,
  };
  const comm = exposed.tp + exposed.cp + exposed.ep + exposed.pp + exposed.dp;
  const step = compute + bubble + comm + optimizer + dequant;
  const tokens = global * r.seq;
  const perGpu = tokens / step / gpus;
  const idealMb = mbTime(1);
  const idealStep = m * idealMb + (idealMb * (r.pp - 1)) / vpp + optimizer + dequant;
  return {
    gpus,
    microbatches: m,
    tokens_per_step: tokens,
    flops_per_token: flops,
    step_time_s: step,
    tokens_per_s: tokens / step,
    tokens_per_s_per_gpu: perGpu,
    mfu: (perGpu * flops.six_n) / bf16,
    mfu_with_attention: (perGpu * flops.model) / bf16,
    bubble_fraction: bubbleF,
    breakdown: {
      compute_s: compute,
      bubble_s: bubble,
      optimizer_s: optimizer,
      dequant_s: dequant,
      exposed_communication_s: exposed,
    },
    communication_s: raw,
    dp_bytes_per_step: dpBytes,
    compute_efficiency: efficiency,
    calibration_group: group,
    ideal: {
      step_time_s: idealStep,
      tokens_per_s_per_gpu: tokens / idealStep / gpus,
      mfu: ((tokens / idealStep / gpus) * flops.six_n) / bf16,
    },
  };
}
