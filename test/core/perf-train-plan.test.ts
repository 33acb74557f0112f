/**
 * The training planner's search, counted by hand. GPT-2 (12 layers, 12 heads) on 2 H100s, global batch 8, seq
 * 1024, full training: TP 1 or 2 (12 heads), PP up to 2, no CP below 8192 tokens; micro-batch 1/2/4/8, ZeRO-1 or
 * FSDP (ZeRO-1 under PP), three recompute modes. All of them fit in 80 GB.
 *   tp1 pp1 dp2: micro-batch 1, 2, 4 (8 · 2 ranks > 8 sequences) · 2 ZeRO · 3 = 18
 *   tp1 pp2 dp1: vpp 1, 2, 4 · 4 micro-batches · ZeRO-1 · 3 = 36
 *   tp2 pp1 dp1: 4 micro-batches · 2 ZeRO · 3 = 24            → 78
 * At seq 8192 CP 2 joins on tp1 pp1 (dp 1): 4 · 2 · 3 = 24 more → 102.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { planTraining } from '../../src/core/perf/train-plan.js';
import { referenceSpec } from '../helpers.js';
import { trainPlanOptions } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const gpt2 = () => referenceSpec('openai-community__gpt2.json');
const o = trainPlanOptions();
const all = { hw: h100, usdPerGpuHour: null };

describe('the layouts searched', () => {
  it('78 distinct layouts of GPT-2 on 2 GPUs; 102 at seq 8192 with CP', () => {
    const c = planTraining(gpt2(), [all], o, 1000);
    expect(c).toHaveLength(78);
    const key = (x: (typeof c)[number]) => [x.options.tp, x.options.pp, x.options.cp, x.options.dp].join(',');
    const count = (k: string) => c.filter((x) => key(x) === k).length;
    expect([count('1,1,1,2'), count('1,2,1,1'), count('2,1,1,1')]).toEqual([18, 36, 24]);
    expect(c.every((x) => x.gpu === 'h100-sxm-80gb')).toBe(true);
    // FSDP is replaced by ZeRO-1 under PP
    expect(c.filter((x) => x.options.pp === 2).every((x) => x.options.zero === 1)).toBe(true);
    expect(c.filter((x) => x.options.zero === 'fsdp')).toHaveLength(9 + 12);
    const long = planTraining(gpt2(), [all], { ...o, seq: 8192 }, 1000);
    expect(long).toHaveLength(102);
    expect(long.filter((x) => x.options.cp === 2)).toHaveLength(24);
  });
  it('LoRA trains with ZeRO-0 only: 57 layouts', () => {
    const c = planTraining(gpt2(), [all], { ...o, lora: { rank: 8, targets: ['c_attn'] } }, 1000);
    // one ZeRO choice: tp1 pp1 3 · 3 = 9, tp1 pp2 3 · 4 · 3 = 36, tp2 pp1 4 · 3 = 12
    expect(c).toHaveLength(57);
    expect(c.every((x) => x.options.zero === 0)).toBe(true);
  });
  it('an NVL72 rack allows TP 16 (Llama-3.2-1B: 32 heads): 4 micro-batches · 2 ZeRO · 3 recompute', () => {
    const l1 = () => referenceSpec('meta-llama__Llama-3.2-1B-Instruct.json');
    const gb200 = hardwareSpec(findDevice('gb200-nvl72'));
    const plan = { ...o, gpus: 16, globalBatch: 16 };
    const tp16 = (hw: typeof gb200) =>
      planTraining(l1(), [{ hw, usdPerGpuHour: null }], plan, 100000).filter((x) => x.options.tp === 16);
    expect(tp16(gb200)).toHaveLength(24);
    expect(tp16({ ...gb200, id: 'x-gb200' })).toHaveLength(0);
  });
});

describe('ranking', () => {
  it('fastest: by tokens/s, best first; top 5 by default', () => {
    const c = planTraining(gpt2(), [all], o);
    expect(c).toHaveLength(5);
    const all78 = planTraining(gpt2(), [all], o, 1000).map((x) => x.estimate.time.tokens_per_s);
    expect(c.map((x) => x.estimate.time.tokens_per_s)).toEqual([...all78].sort((a, b) => b - a).slice(0, 5));
  });
  it('cheapest: by USD for the budget when priced, else by GPU-seconds per token', () => {
    const priced = planTraining(
      gpt2(),
      [{ hw: h100, usdPerGpuHour: 2 }],
      { ...o, objective: 'cheapest', tokens: 1e9 },
      1000,
    );
    const usd = priced.map((x) => x.estimate.usd!);
    expect(usd).toEqual([...usd].sort((a, b) => a - b));
    const unpriced = planTraining(gpt2(), [all], { ...o, objective: 'cheapest' }, 1000);
    const gpuS = unpriced.map(
      (x) => (x.estimate.time.step_time_s * x.estimate.time.gpus) / x.estimate.time.tokens_per_step,
    );
    expect(gpuS).toEqual([...gpuS].sort((a, b) => a - b));
    expect(gpuS[0]).toBeLessThan(gpuS[gpuS.length - 1]!);
  });
  it('several device kinds are searched together', () => {
    const a100 = hardwareSpec(findDevice('a100-sxm-80gb'));
    const c = planTraining(gpt2(), [all, { hw: a100, usdPerGpuHour: null }], o, 1000);
    expect(c.filter((x) => x.gpu === 'a100-sxm-80gb')).toHaveLength(78);
    expect(c).toHaveLength(156);
  });
});

describe('errors', () => {
  it('names the bad input; says when nothing fits', () => {
    expect(() => planTraining(gpt2(), [all], { ...o, gpus: 0 })).toThrow(/^gpus must be a positive integer/);
    expect(() => planTraining(gpt2(), [all], { ...o, globalBatch: 0 })).toThrow(/^global_batch must/);
    expect(() => planTraining(gpt2(), [], o)).toThrow('no device to plan for');
    // 1 GiB of device memory holds no layout of GPT-2's training state
    const tiny = { ...h100, visibleMemoryBytes: 2 ** 30 };
    expect(() => planTraining(gpt2(), [{ hw: tiny, usdPerGpuHour: null }], o)).toThrow(
      'no layout of 2 device(s) fits the model at seq 1024: try more devices, LoRA/QLoRA or a shorter sequence',
    );
  });
});
