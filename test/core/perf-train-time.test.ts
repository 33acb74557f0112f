/**
 * One training step by hand: compute at a given fraction of peak, each collective's α–β time on a latency-free link
 * (so the ring's 2(p−1)/p · M / B all-reduce, (p−1)/p · M / B gather, M / B send), its exposed share, optimizer and
 * QLoRA dequantisation. Llama-3-8B (reference config): 32 layers, hidden 4096, 32 heads of 128, 8 KV heads;
 * 8,030,261,248 parameters, 7,504,658,432 of them in matmuls. H100 SXM: 989.4 TFLOP/s BF16, 1978.9 FP8,
 * 3.35 TB/s. The calibration is replaced by one fraction, 0.5, so that the efficiency is 0.5 · 4096 / (4096 + 512).
 */
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../../src/catalog/index.js';
import { trainShape, trainTime, type TrainRun } from '../../src/core/perf/train-time.js';
import type { Links } from '../../src/core/perf/step.js';
import { referenceSpec } from '../helpers.js';
import { oneDeviceRun, rel } from './fixtures-perf.js';

const llama3 = referenceSpec('meta-llama__Meta-Llama-3-8B.json');
const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const P = 8_030_261_248;
const N = 7_504_658_432;
const BF16 = 989.4e12;
const FP8 = 1978.9e12;
const BW = 3.35e12;
const E = (0.5 * 4096) / 4608;
/** Causal attention forward FLOPs of one token: 32 layers · 2 · 32 heads · (128 + 128) · (s + 1)/2 keys. */
const attnFwd = (s: number) => 32 * 2 * 32 * 256 * ((s + 1) / 2);
const cal = { groups: { '*': 0.5 } };
/** NVLink-like 100 GB/s inside a node of 8, 10 GB/s across, no latency. */
const links = (intra: number, inter: number | null = 1e10): Links => ({
  intra: { name: 'intra', bandwidthBytesPerS: intra, latencyS: 0 },
  inter: inter === null ? null : { name: 'inter', bandwidthBytesPerS: inter, latencyS: 0 },
  devicesPerNode: 8,
});
const base: TrainRun = {
  ...oneDeviceRun(),
  calibration: cal,
  links: links(1e11),
};
/** One 1024-token micro-batch of Llama-3-8B on one device, no recompute: 6N + 3 · attention per token. */
const mb1024 = (1024 * (6 * N + 3 * attnFwd(1024))) / (BF16 * E);

describe('one device, no collectives', () => {
  it('compute at 0.5 · 8/9 of BF16 peak plus the Adam pass of 30 B per parameter', () => {
    const t = trainTime(llama3, h100, base);
    const optimizer = (P * 30) / BW;
    expect(rel(t.breakdown.compute_s, mb1024)).toBeLessThan(1e-12);
    expect(rel(t.breakdown.optimizer_s, optimizer)).toBeLessThan(1e-12);
    expect(rel(t.step_time_s, mb1024 + optimizer)).toBeLessThan(1e-12);
    expect(rel(t.tokens_per_s, 1024 / (mb1024 + optimizer))).toBeLessThan(1e-12);
    expect(rel(t.tokens_per_s_per_gpu, 1024 / (mb1024 + optimizer))).toBeLessThan(1e-12);
    expect(rel(t.mfu, ((1024 / (mb1024 + optimizer)) * 6 * N) / BF16)).toBeLessThan(1e-12);
    const model = 6 * N + 3 * attnFwd(1024);
    expect(rel(t.mfu_with_attention, ((1024 / (mb1024 + optimizer)) * model) / BF16)).toBeLessThan(1e-12);
    const ideal = (1024 * model) / BF16 + optimizer;
    expect(rel(t.ideal.step_time_s, ideal)).toBeLessThan(1e-12);
    expect(rel(t.ideal.tokens_per_s_per_gpu, 1024 / ideal)).toBeLessThan(1e-12);
    expect(rel(t.ideal.mfu, ((1024 / ideal) * 6 * N) / BF16)).toBeLessThan(1e-12);
    expect([t.gpus, t.microbatches, t.tokens_per_step, t.bubble_fraction, t.dp_bytes_per_step]).toEqual([
      1, 1, 1024, 0, 0,
    ]);
    expect(t.breakdown.bubble_s).toBe(0);
    expect(t.breakdown.dequant_s).toBe(0);
    expect(t.communication_s).toEqual({ tp: 0, cp: 0, ep: 0, pp: 0, dp: 0 });
    expect(t.compute_efficiency).toBeCloseTo(E, 15);
    expect(t.calibration_group).toBe('*');
  });
  it('FP8: the GEMMs at the FP8 peak, attention still at BF16', () => {
    const t = trainTime(llama3, h100, { ...base, precision: 'fp8' });
    const c = (1024 * 6 * N) / (FP8 * E) + (1024 * 3 * attnFwd(1024)) / (BF16 * E);
    expect(rel(t.breakdown.compute_s, c)).toBeLessThan(1e-12);
  });
  it('FP4 on an H100 (no FP4 units) runs its GEMMs at the FP8 peak; FP8 on an A100 (none) at BF16', () => {
    const t = trainTime(llama3, h100, { ...base, precision: 'fp4' });
    const c = (1024 * 6 * N) / (FP8 * E) + (1024 * 3 * attnFwd(1024)) / (BF16 * E);
    expect(rel(t.breakdown.compute_s, c)).toBeLessThan(1e-12);
    const a100 = hardwareSpec(findDevice('a100-sxm-80gb'));
    const a = trainTime(llama3, a100, { ...base, precision: 'fp8' });
    // A100: 312 TFLOP/s BF16 for all of it.
    expect(rel(a.breakdown.compute_s, (1024 * (6 * N + 3 * attnFwd(1024))) / (312e12 * E))).toBeLessThan(
      1e-12,
    );
  });
  it('a device without a BF16 figure falls back to FP16, then FP32; none of them is an error', () => {
    const fp16 = { ...h100, denseFlops: { fp16: 500e12 } };
    const t = trainTime(llama3, fp16, base);
    expect(rel(t.breakdown.compute_s, (1024 * (6 * N + 3 * attnFwd(1024))) / (500e12 * E))).toBeLessThan(
      1e-12,
    );
    const fp32 = { ...h100, denseFlops: { fp32: 60e12 } };
    const u = trainTime(llama3, fp32, { ...base, precision: 'fp32' });
    expect(rel(u.breakdown.compute_s, (1024 * (6 * N + 3 * attnFwd(1024))) / (60e12 * E))).toBeLessThan(
      1e-12,
    );
    expect(rel(u.mfu, (u.tokens_per_s_per_gpu * 6 * N) / 60e12)).toBeLessThan(1e-12);
    expect(() => trainTime(llama3, { ...h100, denseFlops: {} }, base)).toThrow(/no dense 16-bit/);
  });
  it('the fitted fraction: Hopper BF16 dense 0.575, Hopper BF16 MoE 0.435 (train-calibration.json)', () => {
    const t = trainTime(llama3, h100, { ...base, calibration: undefined });
    expect(t.calibration_group).toBe('nvidia-hopper:bf16:dense');
    expect(t.compute_efficiency).toBeCloseTo((0.575 * 4096) / 4608, 12);
    const mixtral = modelSpec(findModel('mistralai/Mixtral-8x7B-v0.1'));
    expect(trainTime(mixtral, h100, { ...base, calibration: undefined }).calibration_group).toBe(
      'nvidia-hopper:bf16:moe',
    );
  });
});

describe('tensor parallel', () => {
  // Each all-reduce carries one micro-batch's activations: 2 sequences · 1024 · 4096 · 2 B.
  const M = 2 * 1024 * 4096 * 2;
  it('tp=2, full recompute: 6 all-reduces per layer, 32 layers, M / B each; 30% exposed', () => {
    const t = trainTime(llama3, h100, { ...base, microBatch: 2, tp: 2, recompute: 'full' });
    const raw = (32 * 6 * M) / 1e11;
    expect(rel(t.communication_s.tp, raw)).toBeLessThan(1e-12);
    expect(rel(t.breakdown.exposed_communication_s.tp, 0.3 * raw)).toBeLessThan(1e-12);
    // Each device: half of 2048 tokens; full recompute runs the forward GEMMs (2N) and attention again.
    const c = (1024 * (8 * N + 4 * attnFwd(1024))) / (BF16 * E);
    expect(rel(t.breakdown.compute_s, c)).toBeLessThan(1e-12);
    const opt = ((P / 2) * 30) / BW;
    expect(rel(t.breakdown.optimizer_s, opt)).toBeLessThan(1e-12);
    expect(rel(t.step_time_s, c + 0.3 * raw + opt)).toBeLessThan(1e-12);
    expect(t.gpus).toBe(2);
  });
  it('tp=8 stays on the node (2 · 7/8 · M / 100 GB/s), tp=16 crosses it (2 · 15/16 · M / 10 GB/s)', () => {
    const t8 = trainTime(llama3, h100, { ...base, microBatch: 2, tp: 8 });
    expect(rel(t8.communication_s.tp, (32 * 4 * 2 * (7 / 8) * M) / 1e11)).toBeLessThan(1e-12);
    const t16 = trainTime(llama3, h100, { ...base, microBatch: 2, tp: 16 });
    expect(rel(t16.communication_s.tp, (32 * 4 * 2 * (15 / 16) * M) / 1e10)).toBeLessThan(1e-12);
    // No link across nodes given: the node's link for all.
    const flat = trainTime(llama3, h100, { ...base, microBatch: 2, tp: 16, links: links(1e11, null) });
    expect(rel(flat.communication_s.tp, (32 * 4 * 2 * (15 / 16) * M) / 1e11)).toBeLessThan(1e-12);
  });
});

describe('context parallel ring attention', () => {
  // cp=2, seq 2048: each device holds 1024 tokens; K and V of 8 KV heads · 128 · 2 B: 2 · 1024 · 8 · 128 · 2 B.
  const kv = 2 * 1024 * 8 * 128 * 2;
  // Each device's attention: 1024 tokens · 3 · forward at s = 2048; its time hides the ring sends.
  const attn = (1024 * 3 * attnFwd(2048)) / (BF16 * E);
  it('3 · (cp − 1) K/V blocks per layer; only what outlasts the attention compute is exposed', () => {
    const slow = trainTime(llama3, h100, { ...base, seq: 2048, cp: 2, links: links(1e10) });
    const raw = (32 * 3 * kv) / 1e10;
    expect(rel(slow.communication_s.cp, raw)).toBeLessThan(1e-12);
    expect(raw).toBeGreaterThan(attn);
    expect(rel(slow.breakdown.exposed_communication_s.cp, raw - attn)).toBeLessThan(1e-9);
    expect(slow.gpus).toBe(2);
    const fast = trainTime(llama3, h100, { ...base, seq: 2048, cp: 2, links: links(1e12) });
    expect(fast.breakdown.exposed_communication_s.cp).toBe(0);
  });
  it('tp=16 · cp=2 splits the 8 KV heads no further than one per device, over the link across nodes', () => {
    const t = trainTime(llama3, h100, { ...base, seq: 2048, cp: 2, tp: 16 });
    expect(rel(t.communication_s.cp, (32 * 3 * (kv / 8)) / 1e10)).toBeLessThan(1e-12);
  });
});

describe('pipeline parallel', () => {
  it('pp=2, 4 micro-batches: one stage bubble, 2 sends of 1024 · 4096 · 2 B per micro-batch', () => {
    const t = trainTime(llama3, h100, { ...base, pp: 2, globalBatch: 4 });
    const mb = mb1024 / 2;
    expect(t.microbatches).toBe(4);
    expect(rel(t.breakdown.compute_s, 4 * mb)).toBeLessThan(1e-12);
    expect(rel(t.breakdown.bubble_s, mb)).toBeLessThan(1e-12);
    expect(t.bubble_fraction).toBeCloseTo(1 / 5, 15);
    expect(rel(t.communication_s.pp, (4 * 2 * 1024 * 4096 * 2) / 1e11)).toBeLessThan(1e-12);
    expect(t.breakdown.exposed_communication_s.pp).toBe(0);
    const opt = ((P / 2) * 30) / BW;
    expect(rel(t.step_time_s, 5 * mb + opt)).toBeLessThan(1e-12);
    const idealMb = (512 * (6 * N + 3 * attnFwd(1024))) / BF16;
    expect(rel(t.ideal.step_time_s, 5 * idealMb + opt)).toBeLessThan(1e-12);
  });
  it('vpp=2 halves the bubble and doubles the sends', () => {
    const t = trainTime(llama3, h100, { ...base, pp: 2, vpp: 2, globalBatch: 4 });
    const mb = mb1024 / 2;
    expect(rel(t.breakdown.bubble_s, mb / 2)).toBeLessThan(1e-12);
    expect(rel(t.communication_s.pp, (4 * 4 * 1024 * 4096 * 2) / 1e11)).toBeLessThan(1e-12);
    const idealMb = (512 * (6 * N + 3 * attnFwd(1024))) / BF16;
    expect(rel(t.ideal.step_time_s, 4.5 * idealMb + ((P / 2) * 30) / BW)).toBeLessThan(1e-12);
  });
  it('pp=2 with tp=8: 16 devices, the stage send crosses nodes and carries 1/8 of the activations', () => {
    const t = trainTime(llama3, h100, { ...base, pp: 2, tp: 8 });
    expect(rel(t.communication_s.pp, (2 * ((1024 * 4096 * 2) / 8)) / 1e10)).toBeLessThan(1e-12);
    // tp all-reduces on 16 local layers, 4 per layer
    expect(rel(t.communication_s.tp, (16 * 4 * 2 * (7 / 8) * 1024 * 4096 * 2) / 1e11)).toBeLessThan(1e-12);
  });
});

describe('data parallel (dp=2): gradient and parameter traffic of 2 B per parameter', () => {
  // fwd = 1/3, bwd = 2/3 of a micro-batch's compute; DP collectives hide under 80% of the window.
  const fwd = mb1024 / 3;
  const bwd = mb1024 - fwd;
  const bytes = 2 * P;
  it('ZeRO-0: one all-reduce per step (M / B for two), exposed beyond 80% of the backward', () => {
    const t = trainTime(llama3, h100, { ...base, dp: 2, links: links(1e11) });
    const ar = bytes / 1e11;
    expect(rel(t.communication_s.dp, ar)).toBeLessThan(1e-12);
    expect(rel(t.breakdown.exposed_communication_s.dp, ar - 0.8 * bwd)).toBeLessThan(1e-9);
    expect(rel(t.dp_bytes_per_step, 2 * bytes * 0.5)).toBeLessThan(1e-12);
    expect(rel(t.breakdown.optimizer_s, (P * 30) / BW)).toBeLessThan(1e-12);
    const fast = trainTime(llama3, h100, { ...base, dp: 2, links: links(1e13) });
    expect(fast.breakdown.exposed_communication_s.dp).toBe(0);
  });
  it('ZeRO-1: reduce-scatter of the gradients, all-gather of the parameters, optimizer on half', () => {
    const t = trainTime(llama3, h100, { ...base, dp: 2, zero: 1 });
    const half = (0.5 * bytes) / 1e11;
    expect(rel(t.communication_s.dp, 2 * half)).toBeLessThan(1e-12);
    expect(rel(t.breakdown.exposed_communication_s.dp, half - 0.8 * bwd + (half - 0.8 * fwd))).toBeLessThan(
      1e-9,
    );
    expect(rel(t.breakdown.optimizer_s, ((P / 2) * 30) / BW)).toBeLessThan(1e-12);
    expect(rel(t.dp_bytes_per_step, bytes)).toBeLessThan(1e-12);
    const fast = trainTime(llama3, h100, { ...base, dp: 2, zero: 2, links: links(1e13) });
    expect(fast.breakdown.exposed_communication_s.dp).toBe(0);
    expect(rel(fast.communication_s.dp, bytes / 1e13)).toBeLessThan(1e-12);
  });
  it('ZeRO-3 / FSDP, 2 micro-batches: gather twice and reduce-scatter once per micro-batch', () => {
    for (const zero of [3, 'fsdp'] as const) {
      const t = trainTime(llama3, h100, { ...base, dp: 2, zero, globalBatch: 4 });
      const g = (0.5 * bytes) / 1e11;
      expect(t.microbatches).toBe(2);
      expect(rel(t.communication_s.dp, 2 * 3 * g)).toBeLessThan(1e-12);
      expect(rel(t.breakdown.exposed_communication_s.dp, 2 * (g - fwd + (2 * g - bwd)))).toBeLessThan(1e-9);
      expect(rel(t.dp_bytes_per_step, 2 * 3 * bytes * 0.5)).toBeLessThan(1e-12);
      const fast = trainTime(llama3, h100, { ...base, dp: 2, zero, globalBatch: 4, links: links(1e13) });
      expect(fast.breakdown.exposed_communication_s.dp).toBe(0);
    }
  });
  it('dp=16 crosses nodes: the all-reduce of 2 · 15/16 · M over 10 GB/s', () => {
    const t = trainTime(llama3, h100, { ...base, dp: 16 });
    expect(rel(t.communication_s.dp, (2 * (15 / 16) * bytes) / 1e10)).toBeLessThan(1e-12);
    expect(t.gpus).toBe(16);
  });
  it('GB200 racks hold 72 GPUs on NVLink (900 GB/s); a B200 node 8, beyond them the 50 GB/s NIC', () => {
    const gb200 = hardwareSpec(findDevice('gb200-nvl72'));
    const b200 = hardwareSpec(findDevice('b200'));
    const run = { ...base, dp: 16, links: undefined };
    // Default links have 3 µs (NVLink) and 8 µs (NIC) per ring step: 30 steps for 16 ranks.
    const ring = (B: number, a: number) => 30 * a + (2 * (15 / 16) * bytes) / B;
    expect(rel(trainTime(llama3, gb200, run).communication_s.dp, ring(900e9, 3e-6))).toBeLessThan(1e-12);
    expect(rel(trainTime(llama3, b200, run).communication_s.dp, ring(50e9, 8e-6))).toBeLessThan(1e-12);
  });
});

describe('adapters and QLoRA', () => {
  const A = 41_943_040; // rank 16 on every linear layer of Llama-3-8B
  it('LoRA: gradients, optimizer and DP traffic of the adapters only', () => {
    const t = trainTime(llama3, h100, { ...base, dp: 2, adapterParameters: A });
    expect(rel(t.breakdown.optimizer_s, (A * 30) / BW)).toBeLessThan(1e-12);
    expect(rel(t.communication_s.dp, (2 * A) / 1e11)).toBeLessThan(1e-12);
    expect(t.breakdown.dequant_s).toBe(0);
    // Frozen base: 4N + 6A per token.
    const c = (1024 * (4 * N + 6 * A + 3 * attnFwd(1024))) / (BF16 * E);
    expect(rel(t.breakdown.compute_s, c)).toBeLessThan(1e-12);
  });
  it('QLoRA dequantises the base for each pass, 2.5 B per parameter: 2 passes, 3 with full recompute', () => {
    const q = { ...base, adapterParameters: A, qlora: true, globalBatch: 2, microBatch: 1 };
    const t = trainTime(llama3, h100, q);
    expect(rel(t.breakdown.dequant_s, (2 * 2 * P * 2.5) / BW)).toBeLessThan(1e-12);
    const f = trainTime(llama3, h100, { ...q, recompute: 'full' });
    expect(rel(f.breakdown.dequant_s, (2 * 3 * P * 2.5) / BW)).toBeLessThan(1e-12);
    const opt = (A * 30) / BW;
    expect(rel(t.step_time_s, t.breakdown.compute_s + opt + (4 * P * 2.5) / BW)).toBeLessThan(1e-12);
    expect(
      rel(t.ideal.step_time_s - t.step_time_s + t.breakdown.compute_s, t.breakdown.compute_s * E),
    ).toBeLessThan(1e-9);
  });
});

describe('expert parallel (Mixtral-8x7B: 32 MoE layers, top-2, 45,097,156,608 expert parameters)', () => {
  const mixtral = modelSpec(findModel('mistralai/Mixtral-8x7B-v0.1'));
  const total = 46_702_792_704;
  const experts = 45_097_156_608;
  it('ep=2: 4 all-to-alls per MoE layer of 1024 · 2 · 4096 · 2 B, half sent; half exposed', () => {
    const t = trainTime(mixtral, h100, { ...base, dp: 2, ep: 2 });
    const raw = (32 * 4 * 0.5 * (1024 * 2 * 4096 * 2)) / 1e11;
    expect(rel(t.communication_s.ep, raw)).toBeLessThan(1e-12);
    expect(rel(t.breakdown.exposed_communication_s.ep, 0.5 * raw)).toBeLessThan(1e-12);
    // Each device keeps the dense part and half the experts.
    const local = total - experts + experts / 2;
    expect(rel(t.breakdown.optimizer_s, (local * 30) / BW)).toBeLessThan(1e-12);
    expect(rel(t.communication_s.dp, (2 * local) / 1e11)).toBeLessThan(1e-12);
  });
  it('ep=1: no all-to-all', () => {
    expect(trainTime(mixtral, h100, { ...base, dp: 2 }).communication_s.ep).toBe(0);
  });
});

describe('trainShape names each bad degree', () => {
  const shape = (o: Partial<TrainRun>) => trainShape(llama3, { ...base, ...o });
  it('devices dp · tp · pp · cp and micro-batches global / (micro · dp)', () => {
    expect(shape({ dp: 2, tp: 2, pp: 2, cp: 2, microBatch: 2, globalBatch: 12 })).toEqual({
      gpus: 16,
      microbatches: 3,
      global: 12,
    });
    expect(shape({ dp: 3, microBatch: 2 })).toEqual({ gpus: 3, microbatches: 1, global: 6 });
  });
  it('each degree must be a positive integer', () => {
    for (const k of ['microBatch', 'seq', 'dp', 'tp', 'pp', 'vpp', 'cp', 'ep', 'globalBatch'] as const)
      expect(() => shape({ [k]: 0 })).toThrow(/must be a positive integer/);
    expect(() => shape({ vpp: 1.5 })).toThrow(/^vpp must/);
    expect(() => shape({ cp: -1 })).toThrow(/^cp must/);
    expect(() => shape({ ep: 0 })).toThrow(/^ep must/);
    expect(() => shape({ dp: 0 })).toThrow(/^dp must/);
    expect(() => shape({ tp: 0 })).toThrow(/^tp must/);
    expect(() => shape({ pp: 0 })).toThrow(/^pp must/);
  });
  it('pp · vpp up to layers + 2 (34 for 32 layers)', () => {
    expect(shape({ pp: 2, vpp: 17 }).gpus).toBe(2);
    expect(() => shape({ pp: 2, vpp: 18 })).toThrow("pp × vpp = 36 exceeds the model's 32 layers");
    expect(() => shape({ pp: 35 })).toThrow(/pp × vpp = 35/);
  });
  it('vpp needs pp >= 2; cp divides seq; ep divides dp · cp · tp and needs experts; tp divides the heads', () => {
    expect(() => shape({ vpp: 2 })).toThrow('vpp (interleaved stages) needs pp >= 2');
    expect(shape({ vpp: 2, pp: 2 }).gpus).toBe(2);
    expect(() => shape({ cp: 3 })).toThrow('cp=3 must divide seq=1024');
    expect(() => shape({ dp: 2, ep: 4 })).toThrow('ep=4 must divide dp × cp × tp = 2');
    expect(() => shape({ dp: 2, ep: 2 })).toThrow(
      'ep=2 needs a mixture-of-experts model; this one has no experts',
    );
    const mixtral = modelSpec(findModel('mistralai/Mixtral-8x7B-v0.1'));
    expect(trainShape(mixtral, { ...base, tp: 2, cp: 2, ep: 4 }).gpus).toBe(4);
    expect(() => shape({ tp: 3 })).toThrow('tp=3 does not divide the 32 attention heads');
    expect(() => shape({ dp: 2, microBatch: 2, globalBatch: 6 })).toThrow(
      'global batch 6 is not a multiple of micro-batch × dp = 4 sequences',
    );
  });
});

describe('degrees combined', () => {
  const mixtral = () => modelSpec(findModel('mistralai/Mixtral-8x7B-v0.1'));
  it('cp=4: three K/V blocks per layer and pass (2 · 1024 tokens · 8 heads · 128 · 2 B each)', () => {
    const t = trainTime(llama3, h100, { ...base, seq: 4096, cp: 4 });
    expect(rel(t.communication_s.cp, (32 * 3 * 3 * (2 * 1024 * 8 * 128 * 2)) / 1e11)).toBeLessThan(1e-12);
  });
  it('tp=2 · cp=2, 2 sequences of 2048: all-reduces of 2 · 1024 tokens, K/V of 4 heads per device', () => {
    const t = trainTime(llama3, h100, { ...base, microBatch: 2, seq: 2048, tp: 2, cp: 2 });
    expect(rel(t.communication_s.tp, (32 * 4 * (2 * 1024 * 4096 * 2)) / 1e11)).toBeLessThan(1e-12);
    expect(rel(t.communication_s.cp, (32 * 3 * (2 * 2 * 1024 * 4 * 128 * 2)) / 1e11)).toBeLessThan(1e-12);
  });
  it('tp=2 · cp=2 · dp=4: the gradients (P / 2 · 2 B) all-reduced over 8 ranks spanning 16 devices', () => {
    const t = trainTime(llama3, h100, { ...base, seq: 2048, tp: 2, cp: 2, dp: 4 });
    expect(t.gpus).toBe(16);
    expect(rel(t.communication_s.dp, (2 * (7 / 8) * P) / 1e10)).toBeLessThan(1e-12);
  });
  it('LoRA at tp=2 · pp=2: each device updates a quarter of the adapters', () => {
    const A = 41_943_040;
    const t = trainTime(llama3, h100, { ...base, tp: 2, pp: 2, adapterParameters: A });
    expect(rel(t.breakdown.optimizer_s, ((A / 4) * 30) / BW)).toBeLessThan(1e-12);
  });
  it('Mixtral tp=2 · pp=2 · ep=2: a device holds 1/4 of the dense weights and 1/8 of the experts', () => {
    const t = trainTime(mixtral(), h100, { ...base, tp: 2, pp: 2, ep: 2 });
    const local = (46_702_792_704 - 45_097_156_608) / 4 + 45_097_156_608 / 8;
    expect(rel(t.breakdown.optimizer_s, (local * 30) / BW)).toBeLessThan(1e-12);
  });
  it('Mixtral tp=8 · ep=2: the all-to-all spans 16 devices, across nodes; 1/8 of the tokens each', () => {
    const t = trainTime(mixtral(), h100, { ...base, tp: 8, ep: 2 });
    expect(rel(t.communication_s.ep, (32 * 4 * 0.5 * ((1024 / 8) * 2 * 4096 * 2)) / 1e10)).toBeLessThan(
      1e-12,
    );
  });
  it('DeepSeek-V2-Lite ep=2 · tp=2: only its 26 MoE layers exchange, top-6 of 2048 per token', () => {
    const ds = referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json');
    const t = trainTime(ds, h100, { ...base, tp: 2, ep: 2, calibration: undefined });
    expect(rel(t.communication_s.ep, (26 * 4 * 0.5 * ((1024 / 2) * 6 * 2048 * 2)) / 1e11)).toBeLessThan(
      1e-12,
    );
    // one dense layer first, then MoE: a MoE model for the calibration
    expect(t.calibration_group).toBe('nvidia-hopper:bf16:moe');
  });
  it('every exposed collective adds to the step; per-GPU rates divide by the 8 devices', () => {
    const t = trainTime(mixtral(), h100, { ...base, tp: 2, cp: 2, ep: 2, dp: 2, links: links(1e10) });
    const x = t.breakdown.exposed_communication_s;
    for (const k of ['tp', 'cp', 'ep', 'dp'] as const) expect(x[k]).toBeGreaterThan(0);
    const sum = t.breakdown.compute_s + x.tp + x.cp + x.ep + x.dp + t.breakdown.optimizer_s;
    expect(rel(t.step_time_s, sum)).toBeLessThan(1e-12);
    expect(t.gpus).toBe(8);
    expect(rel(t.tokens_per_s_per_gpu, 2048 / t.step_time_s / 8)).toBeLessThan(1e-12);
    expect(rel(t.ideal.tokens_per_s_per_gpu, 2048 / t.ideal.step_time_s / 8)).toBeLessThan(1e-12);
    const sixN = t.flops_per_token.six_n;
    expect(rel(t.ideal.mfu, (2048 / t.ideal.step_time_s / 8) * (sixN / BF16))).toBeLessThan(1e-12);
  });
  it('an SSM (mamba-130m, no attention, no experts): no K/V to pass, a dense calibration, no EP', () => {
    const mamba = referenceSpec('state-spaces__mamba-130m-hf.json');
    const t = trainTime(mamba, h100, { ...base, cp: 2, calibration: undefined });
    expect(t.communication_s.cp).toBe(0);
    expect(t.calibration_group).toBe('nvidia-hopper:bf16:dense');
    expect(() => trainTime(mamba, h100, { ...base, dp: 2, ep: 2 })).toThrow(/needs a mixture-of-experts/);
  });
  it('only ids that start gb200/gb300 are NVL72 racks', () => {
    const other = { ...hardwareSpec(findDevice('b200')), id: 'x-gb200' };
    const t = trainTime(llama3, other, { ...base, dp: 16, links: undefined });
    expect(rel(t.communication_s.dp, 30 * 8e-6 + (2 * (15 / 16) * 2 * P) / 50e9)).toBeLessThan(1e-12);
  });
  it('names in the messages', () => {
    const shape = (o: Partial<TrainRun>) => trainShape(llama3, { ...base, ...o });
    expect(() => shape({ microBatch: 0 })).toThrow(/^micro_batch must/);
    expect(() => shape({ seq: 0 })).toThrow(/^seq must/);
    expect(() => shape({ globalBatch: 0 })).toThrow(/^global_batch must/);
    expect(() => shape({ cp: 2, tp: 2, ep: 3 })).toThrow('ep=3 must divide dp × cp × tp = 4');
  });
});
