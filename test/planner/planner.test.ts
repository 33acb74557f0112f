/** core/planner: the pre-filter's bounds by hand, pruning without simulation, ranking, Pareto front, nearest options. */
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../../src/catalog/index.js';
import { idealBounds } from '../../src/core/planner/bounds.js';
import { paretoFront, planServing, PlanInputError, type Candidate } from '../../src/core/planner/index.js';
import { layouts } from '../../src/core/planner/space.js';
import { dev } from './helpers.js';

const qwen8b = () => modelSpec(findModel('Qwen/Qwen3-8B'));

describe('ideal bounds (the pre-filter)', () => {
  it('Qwen3-8B bf16 on one L4: a decode step reads every non-embedding weight and the KV once', () => {
    // Per layer: attention 4096 × (4096 + 1024 + 1024 + 4096) = 41,943,040; MLP 3 × 4096 × 12288 = 150,994,944;
    // norms 2 × 4096 + 2 × 128 = 8,448 → 192,946,432; × 36 layers = 6,946,071,552; lm_head 151,936 × 4096 =
    // 622,329,856; final norm 4096 → 7,568,405,504 parameters × 2 bytes = 15,136,811,008 bytes.
    // KV of 1024 tokens: 36 layers × 2 (K, V) × 8 heads × 128 × 2 bytes × 1024 = 150,994,944 bytes.
    // At the L4's 300 GB/s: (15,136,811,008 + 150,994,944) / 300e9 = 50.959 ms.
    const b = idealBounds(qwen8b(), hardwareSpec(findDevice('l4-24gb')), {
      plan: { tp: 1, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 1 },
      precision: 'bf16',
      kvPrecision: 'bf16',
      isl: 1024,
    });
    const hand = (15_136_811_008 + 150_994_944) / 300e9;
    expect(b.tpotS).toBeGreaterThanOrEqual(hand);
    expect(b.tpotS).toBeLessThan(hand * 1.005);
    // Prefill of 1024 tokens at the L4's dense bf16 peak: at least 2 · 7.57e9 · 1024 FLOPs / peak.
    const peak = hardwareSpec(findDevice('l4-24gb')).denseFlops.bf16!;
    expect(b.ttftS).toBeGreaterThanOrEqual((2 * 7_568_405_504 * 1024) / peak);
  });

  it('a limit below the ideal TPOT rejects every configuration without simulating it', () => {
    const r = planServing({
      spec: qwen8b(),
      devices: [dev('l4-24gb')],
      users: 4,
      isl: 1024,
      osl: 128,
      limits: { tpotMs: 1 },
      engines: ['vllm'],
      maxGpus: 4,
    });
    expect(r.candidates).toEqual([]);
    expect(r.searched.simulations).toBe(0);
    expect(r.searched.prefiltered).toBe(r.searched.configurations);
    expect(r.rejected.map((x) => x.stage)).toEqual(['ideal-tpot', 'ideal-tpot']);
    // The reason names the best layout's bound: tp4 reads a quarter of the weights per GPU.
    expect(r.rejected[0]!.reason).toMatch(/TPOT over the limit even at datasheet speed .* with tp4\)/);
  });
});

describe('planServing', () => {
  const res = planServing({
    spec: qwen8b(),
    devices: [dev('h100', 3), dev('l4-24gb', 0.8)],
    users: 16,
    isl: 1024,
    osl: 128,
    limits: { tpotMs: 40, ttftMs: 2000 },
    engines: ['vllm'],
    maxGpus: 4,
  });

  it('every candidate meets the limits, costs gpus × price, and is ranked by $/M output tokens', () => {
    expect(res.candidates.length).toBeGreaterThan(3);
    expect(res.recommended).toBe(res.candidates[0]);
    for (const c of res.candidates) {
      expect(c.tpot_ms).toBeLessThanOrEqual(40);
      expect(c.ttft_ms).toBeLessThanOrEqual(2000);
      expect(c.gpus).toBe(c.gpus_per_replica * c.replicas);
      expect(c.gpus).toBeLessThanOrEqual(4);
      expect(c.usd_per_hour).toBeCloseTo(c.gpus * (c.gpu === 'l4-24gb' ? 0.8 : 3), 12);
      expect(c.usd_per_million_output_tokens).toBeCloseTo(
        (c.usd_per_hour! * 1e6) / (c.output_tokens_per_s * 3600),
        9,
      );
      expect(c.output_tokens_per_s_per_user).toBeCloseTo(1000 / c.tpot_ms, 9);
    }
    const costs = res.candidates.map((c) => c.usd_per_million_output_tokens!);
    expect(costs).toEqual([...costs].sort((a, b) => a - b));
  });

  it('a margin counts a prediction up to limit · (1 + margin) as meeting it', () => {
    // The recommended configuration's predicted TPOT t over a limit of t / 1.04: over it, yet within 5%.
    const top = res.recommended!;
    const limit = top.tpot_ms / 1.04;
    const again = (margin: number) =>
      planServing({
        spec: qwen8b(),
        devices: [dev(top.gpu, 1)],
        users: 16,
        isl: 1024,
        osl: 128,
        limits: { tpotMs: limit, ttftMs: 2000, margin },
        engines: ['vllm'],
        precisions: [top.precision],
        maxGpus: 4,
      });
    const same = (c: Candidate) =>
      c.layout === top.layout && c.replicas === top.replicas && c.kv_precision === top.kv_precision;
    const kept = again(0.05).candidates.find(same);
    expect(kept?.tpot_ms).toBeCloseTo(top.tpot_ms, 9);
    expect(again(0).candidates.some(same)).toBe(false);
    expect(() => again(0.5)).toThrow(/margin must be a fraction from 0 to below 0.5 \(got 0.5\)/);
  });

  it('the Pareto front: no candidate is both cheaper and faster per user than one on it', () => {
    expect(res.pareto.length).toBeGreaterThan(0);
    expect(res.pareto[0]).toBe(res.candidates[0]);
    for (const p of res.pareto)
      for (const c of res.candidates)
        expect(
          c.usd_per_million_output_tokens! < p.usd_per_million_output_tokens! &&
            c.output_tokens_per_s_per_user > p.output_tokens_per_s_per_user,
        ).toBe(false);
  });

  it('paretoFront on hand-made points', () => {
    const c = (usd: number, perUser: number) =>
      ({ usd_per_million_output_tokens: usd, output_tokens_per_s_per_user: perUser }) as Candidate;
    const a = c(1, 10);
    const b = c(2, 5); // dominated by a
    const d = c(3, 30);
    const e = c(4, 20); // dominated by d
    expect(paretoFront([e, b, d, a])).toEqual([a, d]);
  });

  it('a model that fits nowhere says so and names the nearest option', () => {
    const r = planServing({
      spec: modelSpec(findModel('deepseek-ai/DeepSeek-V3')),
      devices: [dev('l4-24gb', 0.8)],
      users: 4,
      isl: 1024,
      osl: 128,
      limits: {},
      engines: ['vllm'],
      maxGpus: 2,
    });
    expect(r.recommended).toBeNull();
    expect(r.rejected.every((x) => x.stage === 'does-not-fit')).toBe(true);
    expect(r.searched.simulations).toBe(0);
    // 671B parameters, mostly fp8: more than 16 L4s of 24 GB; a power-of-two group of 64 is the first that holds it.
    expect(r.nearest).toEqual([
      expect.objectContaining({ change: 'more-gpus', description: expect.stringMatching(/^64× l4-24gb/) }),
    ]);
  });

  it('too big for the GPUs given: more GPUs or a lower precision, each checked to fit', () => {
    // Qwen3-32B in bf16 is 65.5 GB of weights (32.8e9 × 2), over one 48 GB L40S; two hold 32.8 GB each, and fp8
    // (32.8 GB) fits on one.
    const r = planServing({
      spec: modelSpec(findModel('Qwen/Qwen3-32B')),
      devices: [dev('l40s')],
      users: 4,
      isl: 1024,
      osl: 128,
      limits: {},
      engines: ['vllm'],
      precisions: ['bf16'],
      maxGpus: 1,
    });
    expect(r.recommended).toBeNull();
    expect(r.rejected).toEqual([expect.objectContaining({ stage: 'does-not-fit', precision: 'bf16' })]);
    expect(r.nearest).toEqual([
      { change: 'more-gpus', description: '2× l40s-48gb (tp2) hold the model and one 1152-token request' },
      { change: 'lower-precision', description: '--precision fp8 fits on 1× l40s-48gb (tp1)' },
    ]);
  });

  it('disaggregated: each replica is P prefill and D decode workers of one layout, simulated whole', () => {
    const r = planServing({
      spec: qwen8b(),
      devices: [dev('h100', 2)],
      users: 32,
      isl: 2048,
      osl: 128,
      limits: { tpotMs: 30 },
      engines: ['vllm'],
      precisions: ['fp8'],
      kvPrecisions: ['fp8'],
      maxGpus: 4,
      disagg: true,
    });
    const d = r.candidates.filter((c) => c.mode === 'disagg');
    expect(d.length).toBeGreaterThan(0);
    for (const c of d) {
      expect(c.gpus_per_replica).toBe((c.prefill_workers! + c.decode_workers!) * c.tp * c.pp);
      expect(c.gpus).toBe(c.gpus_per_replica * c.replicas);
      expect(c.layout).toMatch(/^\dP\+\dD tp\d/);
      expect(c.tpot_ms).toBeLessThanOrEqual(30);
    }
    expect(r.candidates.some((c) => c.mode === 'agg' && c.prefill_workers === null)).toBe(true);
  });

  it('a long context that does not fit points to shorter requests', () => {
    const r = planServing({
      spec: qwen8b(),
      devices: [dev('l4-24gb', 0.8)],
      users: 1,
      isl: 1_000_000,
      osl: 100,
      limits: {},
      engines: ['vllm'],
      precisions: ['bf16'],
      maxGpus: 1,
    });
    expect(r.recommended).toBeNull();
    expect(r.nearest.map((s) => s.change)).toContain('shorter-context');
  });

  it('a request rate: a stable open loop outputs rate × OSL tokens/s; limits apply at the percentile', () => {
    const r = planServing({
      spec: qwen8b(),
      devices: [dev('h100')],
      rate: 4,
      isl: 1024,
      osl: 128,
      limits: { tpotMs: 40, e2eMs: 10_000, percentile: 90 },
      engines: ['vllm'],
      precisions: ['bf16'],
      maxGpus: 2,
    });
    expect(r.candidates.length).toBeGreaterThan(0);
    for (const c of r.candidates) {
      // 4 requests/s × 128 tokens = 512 tokens/s, within the Poisson sample's spread of 400 requests.
      expect(c.output_tokens_per_s).toBeGreaterThan(512 * 0.95);
      expect(c.output_tokens_per_s).toBeLessThan(512 * 1.05);
      expect(c.e2e_ms).toBeLessThanOrEqual(10_000);
    }
  });

  it('bad requests name the problem', () => {
    const base = {
      spec: qwen8b(),
      devices: [dev('l4-24gb')],
      isl: 8,
      osl: 8,
      limits: {},
      engines: ['vllm' as const],
      maxGpus: 1,
    };
    expect(() => planServing({ ...base })).toThrow(PlanInputError);
    expect(() => planServing({ ...base, users: 2, rate: 1 })).toThrow(/users or rate/);
    expect(() => planServing({ ...base, users: 0 })).toThrow(/users must be a positive integer/);
    expect(() => planServing({ ...base, users: 1, devices: [] })).toThrow(/no devices/);
  });
});

describe('layouts', () => {
  it('dense: tensor parallel within a node, pipeline stages past it; MoE adds EP and attention DP + EP', () => {
    expect(layouts(qwen8b(), 16).map((l) => l.name)).toEqual(['tp1', 'tp2', 'tp4', 'tp8', 'tp8·pp2']);
    const moe = layouts(modelSpec(findModel('deepseek-ai/DeepSeek-V3')), 8).map((l) => l.name);
    expect(moe).toEqual([
      'tp1',
      'tp2',
      'tp2·ep2',
      'dp2·ep2',
      'tp4',
      'tp4·ep4',
      'dp4·ep4',
      'tp8',
      'tp8·ep8',
      'dp8·ep8',
    ]);
  });
});
