/**
 * Which link each collective crosses, and what it costs in the ideal bound (full bandwidth, no latency), by hand.
 * H100 SXM: NVLink 450 GB/s per direction within a node of 8; across nodes one 400 Gb/s NIC (50 GB/s) per GPU.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../../src/catalog/index.js';
import { defaultLinks } from '../../src/core/perf/links.js';
import { perf, type PerfResult } from '../../src/core/perf/latency.js';
import { replicaRates } from '../../src/core/perf/replicas.js';
import { referenceSpec } from '../helpers.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
const decode = (spec = llama2, tp = 1, pp = 1, ep = 1) =>
  perf(spec, h100, { precision: 'bf16', batch: 1, inputLen: 16, outputLen: 2, plan: { tp, pp, ep } }).ideal
    .communication_s.decode;
// One decode token's activations: 4096 · 2 B.
const M = 8192;

describe('default links', () => {
  it('the device interconnect within a node of 8, else PCIe 4.0 x16 (32 GB/s); InfiniBand 400G across nodes', () => {
    const l = defaultLinks(h100);
    expect(l.intra).toEqual({ name: 'device interconnect', bandwidthBytesPerS: 450e9, latencyS: 3e-6 });
    expect(l.inter).toEqual({ name: 'InfiniBand 400G', bandwidthBytesPerS: 50e9, latencyS: 8e-6 });
    expect(l.devicesPerNode).toBe(8);
    const bare = defaultLinks({ ...h100, interconnectBytesPerS: null });
    expect(bare.intra).toEqual({ name: 'PCIe', bandwidthBytesPerS: 32e9, latencyS: 3e-6 });
  });
});

describe('collectives of a decode step, ideal', () => {
  it('tp=16 spans two nodes: 64 ring all-reduces over the 50 GB/s NIC, 2 · 15/16 · M each', () => {
    expect(decode(llama2, 16)).toBeCloseTo((64 * 2 * (15 / 16) * M) / 50e9, 15);
  });
  it('tp=8 stays in the node: 64 all-reduces over NVLink, 2 · 7/8 · M each (the ring)', () => {
    expect(decode(llama2, 8)).toBeCloseTo((64 * 2 * (7 / 8) * M) / 450e9, 15);
  });
  it('pp=2 sends the activations once between the stages', () => {
    expect(decode(llama2, 1, 2)).toBeCloseTo(M / 450e9, 15);
  });
  it('Mixtral ep=2: per MoE layer dispatch and combine of the top-2 copies, 1/2 of 2 · M each', () => {
    const mixtral = modelSpec(findModel('mistralai/Mixtral-8x7B-v0.1'));
    expect(decode(mixtral, 1, 1, 2)).toBeCloseTo((32 * 2 * 0.5 * 2 * M) / 450e9, 15);
  });
});

describe('data-parallel replicas', () => {
  it('dp replicas serve dp times the tokens of one, estimate and ideal', () => {
    const one = { tokens_per_s: 120, ideal: { tokens_per_s: 200 } } as PerfResult;
    const r = replicaRates(one, 4, true);
    expect([r.estimate, r.ideal]).toEqual([480, 800]);
    expect(r.trace.map((t) => t.value)).toEqual([480, 800]);
    expect(replicaRates(one, 4).trace).toEqual([]);
  });
});
