/**
 * Fixtures shared by the perf-* tests: step shapes, made-up devices and links that isolate one term of a figure
 * (infinite compute leaves only bytes / bandwidth, infinite bandwidth only FLOPs / peak, free links no
 * communication), and base option objects. Every builder returns a fresh object: ops.ts and the arch readers cache
 * per spec, and a shared object would let one test's figures leak into the next under mutation testing.
 */
import type { hardwareSpec } from '../../src/catalog/index.js';
import { IDEAL } from '../../src/core/perf/efficiency.js';
import { perf, type PerfOptions } from '../../src/core/perf/latency.js';
import type { Op, StepShape } from '../../src/core/perf/ops.js';
import type { Links } from '../../src/core/perf/step.js';
import type { ThroughputOptions } from '../../src/core/perf/throughput.js';
import type { TrainPlanOptions } from '../../src/core/perf/train-plan.js';
import { referenceSpec } from '../helpers.js';

export type Hardware = ReturnType<typeof hardwareSpec>;

export const rel = (a: number, b: number) => Math.abs(a / b - 1);

/** Infinite FLOP/s: a step takes bytes / bandwidth only. */
export const bandwidthBound = (hw: Hardware): Hardware => ({
  ...hw,
  denseFlops: { bf16: Infinity, fp16: Infinity },
});

/** Infinite memory bandwidth: a step takes FLOPs / peak only. */
export const computeBound = (hw: Hardware): Hardware => ({ ...hw, memoryBandwidthBytesPerS: Infinity });

/** Links with infinite bandwidth and no latency: collectives cost nothing. */
export const freeLinks = (): Links => ({
  intra: { name: 'free', bandwidthBytesPerS: Infinity, latencyS: 0 },
  inter: null,
  devicesPerNode: 8,
});

/** 100 GB/s and 1 µs inside a node of 4, 10 GB/s and 5 µs across: each collective's cost is simple by hand. */
export const twoTierLinks = (): Links => ({
  intra: { name: 'intra', bandwidthBytesPerS: 1e11, latencyS: 1e-6 },
  inter: { name: 'inter', bandwidthBytesPerS: 1e10, latencyS: 5e-6 },
  devicesPerNode: 4,
});

/** One decode token of one sequence, no parallelism, 2-byte KV and activations; `o` overrides. */
export const stepShape = (o: Partial<StepShape> = {}): StepShape => ({
  segments: [{ batch: 1, tokens: 1, context: 0 }],
  tp: 1,
  cp: 1,
  ep: 1,
  layerShare: 1,
  kvBytes: 2,
  actBytes: 2,
  logitsRows: 1,
  ...o,
});

/** 4 sequences of one decode token after 100 cached; `o` overrides. */
export const decodeShape = (o: Partial<StepShape> = {}): StepShape =>
  stepShape({ segments: [{ batch: 4, tokens: 1, context: 100 }], logitsRows: 4, ...o });

/** An MLP operator of one kernel over 1,000 GEMM rows; `o` overrides. */
export const op = (kind: Op['kind'], flops: number, bytes: number, o: Partial<Op> = {}): Op => ({
  category: 'mlp',
  kind,
  flops,
  bytes,
  kernels: 1,
  m: 1000,
  ...o,
});

export const LLAMA2 = 'meta-llama__Llama-2-7b-hf.json';

/** perf() of a reference config (built afresh each call) at BF16, batch 1, 100 in, 21 out, free links, IDEAL. */
export const perfRun = (hw: Hardware, o: Partial<PerfOptions> = {}, file = LLAMA2) =>
  perf(referenceSpec(file), hw, {
    precision: 'bf16',
    batch: 1,
    inputLen: 100,
    outputLen: 21,
    plan: { tp: 1, pp: 1, ep: 1 },
    links: freeLinks(),
    efficiency: IDEAL,
    ...o,
  });

/** Offline throughput at BF16, 100 in, 20 out, up to 8 sequences, free links, IDEAL. */
export const throughputOptions = (): ThroughputOptions => ({
  precision: 'bf16',
  plan: { tp: 1, pp: 1, ep: 1 },
  inputLen: 100,
  outputLen: 20,
  maxBatch: 8,
  links: freeLinks(),
  efficiency: IDEAL,
});

/** A training-plan search on 2 GPUs: seq 1024, global batch 8, BF16 AdamW, no LoRA, fastest first. */
export const trainPlanOptions = (): TrainPlanOptions => ({
  gpus: 2,
  seq: 1024,
  globalBatch: 8,
  precision: 'bf16',
  optimizer: 'adamw',
  lora: null,
  qlora: false,
  objective: 'fastest',
});

/** One 1024-token BF16 micro-batch on one device: no parallelism, no ZeRO, no recompute. */
export const oneDeviceRun = () => ({
  precision: 'bf16' as const,
  microBatch: 1,
  seq: 1024,
  dp: 1,
  tp: 1,
  pp: 1,
  zero: 0 as const,
  recompute: 'none' as const,
});
