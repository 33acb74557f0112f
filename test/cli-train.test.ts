/**
 * `infersim train --gpu` and `plan --train`: the JSON keys the issue lists, figures that follow from one another
 * (time to train = tokens ÷ tokens/s; cost = hours × GPUs × the given price), and clear errors for bad input.
 * Every published run of the calibration data resolves to a model, a catalog device and a measured figure.
 */
import { describe, expect, it } from 'vitest';
import { loadTrainRecords } from '../scripts/train-records.js';
import { runCli } from './cli-run.js';

const KEYS = [
  'fits',
  'gpus',
  'step_time_s',
  'tokens_per_s',
  'tokens_per_s_per_gpu',
  'mfu',
  'mfu_with_attention',
  'time_to_train_s',
  'usd',
  'exposed_communication_s',
  'total_bytes',
  'weights_bytes',
];

describe('train --gpu', () => {
  it('prints the memory keys and the time keys; time and cost follow from the rate and the price', async () => {
    const r = await runCli(
      'train',
      'Qwen/Qwen3-0.6B',
      '--gpu',
      'h100',
      '--dp',
      '2',
      '--zero',
      '3',
      '--global-batch',
      '8',
      '--tokens',
      '2B',
      '--price-per-gpu-hour',
      '2',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    for (const k of KEYS) expect(j).toHaveProperty(k);
    expect(j.gpus).toBe(2);
    expect(j.microbatches).toBe(4); // 8 sequences / (1 × 2)
    expect(j.time_to_train_s).toBeCloseTo(2e9 / j.tokens_per_s, 3);
    expect(j.usd).toBeCloseTo((j.time_to_train_s / 3600) * 2 * 2, 3);
  });
  it('names what is wrong', async () => {
    const noGpu = await runCli('train', 'Qwen/Qwen3-0.6B', '--tokens', '2B');
    expect(noGpu.code).not.toBe(0);
    expect(noGpu.err).toMatch(/need --gpu/);
    const tokens = await runCli('train', 'Qwen/Qwen3-0.6B', '--gpu', 'h100', '--tokens', 'lots');
    expect(tokens.code).not.toBe(0);
    expect(tokens.err).toMatch(/--tokens must be a positive count/);
    const ep = await runCli('train', 'Qwen/Qwen3-0.6B', '--gpu', 'h100', '--dp', '2', '--ep', '2');
    expect(ep.code).not.toBe(0);
    expect(ep.err).toMatch(/mixture-of-experts/);
  });
});

describe('devices the issue names', () => {
  it('RTX A6000 resolves by its printed name (48 GiB, 154.8 TFLOP/s dense BF16)', async () => {
    const r = await runCli('train', 'Qwen/Qwen3-0.6B', '--gpu', 'RTX A6000', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.fit.device).toBe('rtx-a6000');
    // ideal MFU = 6N tokens/s / peak: 154.8e12 is the peak it divides by
    expect(j.ideal.mfu).toBeCloseTo((j.ideal.tokens_per_s_per_gpu * j.flops_per_token.six_n) / 154.8e12, 9);
  });

  it('the 96 GB H100 (GH200) resolves: 96 GiB of HBM3, the H100 SXM5 dense BF16 peak 989.4 TFLOP/s', async () => {
    const r = await runCli('train', 'Qwen/Qwen3-0.6B', '--gpu', 'H100 96GB', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.fit.device).toBe('gh200-96gb');
    expect(j.ideal.mfu).toBeCloseTo((j.ideal.tokens_per_s_per_gpu * j.flops_per_token.six_n) / 989.4e12, 9);
  });
});

describe('plan --train', () => {
  it('returns layouts that fit on the given devices, fastest first', async () => {
    const r = await runCli(
      'plan',
      'Qwen/Qwen3-0.6B',
      '--train',
      '--gpu',
      'h100',
      '--gpus',
      '8',
      '--global-batch',
      '64',
      '--top',
      '3',
      '--json',
    );
    expect(r.code).toBe(0);
    const plans = JSON.parse(r.out).plans;
    expect(plans.length).toBe(3);
    for (const p of plans) {
      expect(p.fits).toBe(true);
      expect(p.dp * p.tp * p.pp * p.cp).toBe(8);
    }
    expect(plans[0].tokens_per_s).toBeGreaterThanOrEqual(plans[2].tokens_per_s);
  });
});

describe('calibration data', () => {
  it('every published run resolves: model, catalog device, measured tokens/s per GPU', () => {
    const rs = loadTrainRecords();
    expect(rs).toHaveLength(167);
    for (const r of rs) {
      expect(r.target).toBeGreaterThan(0);
      expect(r.gpu).toMatch(/^(h100-sxm-80gb|a100-sxm-(40|80)gb|b200|gb200|gb300)$/);
    }
  });
});
