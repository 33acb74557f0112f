/** The planner's adapters: `infersim plan` (JSON keys, table, exit codes) and POST /api/serving/plan (422s, OpenAPI). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from '../server/helpers.js';
import { runCli } from '../cli-run.js';

const run = runCli;

const WORKLOAD = [
  'Qwen/Qwen3-8B',
  '--users',
  '16',
  '--isl',
  '1024',
  '--osl',
  '128',
  '--tpot-ms',
  '40',
  '--ttft-ms',
  '2000',
];
const KEYS = [
  'gpu',
  'gpus',
  'tp',
  'pp',
  'ep',
  'attention_dp',
  'replicas',
  'engine',
  'precision',
  'ttft_ms',
  'tpot_ms',
  'output_tokens_per_s',
  'usd_per_hour',
  'usd_per_million_output_tokens',
  'price_source',
];

describe('infersim plan', () => {
  it('--json: recommended and candidates[] with every key; a given price is used as given', async () => {
    const r = await run(
      'plan',
      ...WORKLOAD,
      '--gpu',
      'h100,l4',
      '--engine',
      'vllm',
      '--max-gpus',
      '2',
      '--price-per-gpu-hour',
      '2',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.candidates.length).toBeGreaterThan(0);
    for (const c of j.candidates) for (const k of KEYS) expect(c).toHaveProperty(k);
    expect(j.recommended).toEqual(j.candidates[0]);
    expect(j.recommended.price_source).toMatchObject({ usd_per_gpu_hour: 2, policy: 'override' });
    expect(j.recommended.usd_per_hour).toBe(2 * j.recommended.gpus);
    expect(j.pareto.length).toBeGreaterThan(0);
  });

  it('--disagg also searches prefill:decode splits (P + D workers of the layout per replica)', async () => {
    const r = await run(
      'plan',
      ...WORKLOAD,
      '--gpu',
      'h100',
      '--engine',
      'vllm',
      '--max-gpus',
      '4',
      '--price-per-gpu-hour',
      '2',
      '--disagg',
      '--json',
    );
    expect(r.code).toBe(0);
    const d = JSON.parse(r.out).candidates.filter((c: { mode: string }) => c.mode === 'disagg');
    expect(d.length).toBeGreaterThan(0);
    for (const c of d) expect(c.gpus).toBe(c.replicas * (c.prefill_workers + c.decode_workers) * c.tp * c.pp);
  });

  it('the table marks the recommended row and names the price used', async () => {
    const r = await run(
      'plan',
      ...WORKLOAD,
      '--gpu',
      'h100',
      '--engine',
      'vllm',
      '--max-gpus',
      '1',
      '--price-policy',
      'min',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^recommended for Qwen\/Qwen3-8B: 1× h100-sxm-80gb/);
    expect(r.out).toMatch(/│ ► │ h100-sxm-80gb/);
    // RunPod Community Cloud is the cheapest H100 SXM in the catalog ($2.69, 2026-09-25).
    expect(r.out).toMatch(/price: h100-sxm-80gb: \$2\.69\/GPU-hour \(RunPod, .*min of \d+ provider/);
  });

  it('a device without a price is said plainly', async () => {
    const r = await run(
      'plan',
      ...WORKLOAD,
      '--gpu',
      'rtx-3090',
      '--engine',
      'vllm',
      '--max-gpus',
      '2',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.prices).toEqual([{ gpu: 'rtx-3090', price: null }]);
    for (const c of j.candidates) expect(c.usd_per_million_output_tokens).toBeNull();
  });

  it('without a workload: the single-sequence plan, its table marking the recommended row', async () => {
    const r = await run('plan', 'Qwen/Qwen3-8B', '--gpu', 'l4');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/│ ► │ 1 {2}│ 1 {2}│ 1 {2}│ 1 /);
  });

  it('bad input exits 2 with one line naming it', async () => {
    for (const [args, msg] of [
      [['--users', '4', '--rate', '2', '--isl', '8', '--osl', '8'], /--users or --rate, not both/],
      [['--users', '4'], /needs --isl N and --osl N/],
      [['--users', '4', '--isl', '8', '--osl', '8', '--engine', 'tgi'], /--engine must be among/],
      [
        ['--users', '4', '--isl', '8', '--osl', '8', '--percentile', '75'],
        /--percentile must be 50, 90 or 99/,
      ],
      [['--users', '4', '--isl', '8', '--osl', '8', '--gpu', 'h999'], /unknown hardware 'h999'/],
      [
        ['--users', '4', '--isl', '8', '--osl', '8', '--prices', '/nonexistent.json'],
        /cannot read prices file/,
      ],
      [['--tpot-ms', '20'], /needs a workload/],
      [
        ['--users', '4', '--isl', '8', '--osl', '8', '--limit-margin', '0.6'],
        /--limit-margin: margin must be a fraction from 0 to below 0.5 \(got 0.6\)/,
      ],
      [
        ['--users', '4', '--isl', '8', '--osl', '8', '--precision', 'bogus'],
        /precision: unknown weight precision 'bogus'/,
      ],
      [
        ['--users', '4', '--isl', '8', '--osl', '8', '--kv-precision', 'fp7'],
        /kv precision: unknown KV-cache dtype 'fp7'/,
      ],
    ] as const) {
      const r = await run('plan', 'Qwen/Qwen3-8B', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('POST /api/serving/plan', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp();
  });
  afterAll(() => t.close());
  const BODY = {
    model: 'Qwen/Qwen3-8B',
    users: 16,
    isl: 1024,
    osl: 128,
    tpot_ms: 40,
    gpu: ['h100'],
    engine: ['vllm'],
    max_gpus: 2,
  };

  it('answers the ranked candidates with cost, as the CLI does', async () => {
    const r = await t.call('POST', '/api/serving/plan', {
      ...BODY,
      prices: [
        { device: 'h100', provider: 'mine', usd_per_gpu_hour: 1.5, as_of: '2026-12', source_url: 'x' },
      ],
    });
    expect(r.status).toBe(200);
    for (const k of KEYS) expect(r.json.recommended).toHaveProperty(k);
    expect(r.json.recommended.price_source).toMatchObject({ provider: 'mine', usd_per_gpu_hour: 1.5 });
    expect(r.json.recommended.usd_per_hour).toBe(1.5 * r.json.recommended.gpus);
  });

  it('422 naming the field', async () => {
    const both = await t.call('POST', '/api/serving/plan', { ...BODY, rate: 2 });
    expect(both.status).toBe(422);
    expect(both.json.detail).toMatch(/users/);
    const bad = await t.call('POST', '/api/serving/plan', { ...BODY, percentile: 75 });
    expect(bad.status).toBe(422);
    expect(bad.json.detail).toMatch(/percentile/);
    const fmt = await t.call('POST', '/api/serving/plan', { ...BODY, precision: ['bogus'] });
    expect(fmt.status).toBe(422);
    expect(fmt.json.detail).toMatch(/precision: unknown weight precision 'bogus'/);
    const margin = await t.call('POST', '/api/serving/plan', { ...BODY, limit_margin: -0.1 });
    expect(margin.status).toBe(422);
    expect(margin.json.detail).toMatch(/limit_margin/);
    const gpu = await t.call('POST', '/api/serving/plan', { ...BODY, gpu: ['h999'] });
    expect(gpu.status).toBe(404);
  });

  it('is in the OpenAPI document', async () => {
    const r = await t.call('GET', '/openapi.json');
    expect(r.json.paths['/api/serving/plan'].post).toBeDefined();
  });

  it('a search past its deadline is a 504, and the server answers meanwhile (the search runs off the event loop)', async () => {
    // The openapi fuzz's request that held the server for minutes: 58k-token prompts at 1,692 requests/s, disagg.
    const old = process.env['INFERSIM_PLAN_TIMEOUT_S'];
    process.env['INFERSIM_PLAN_TIMEOUT_S'] = '3';
    try {
      const big = t.call('POST', '/api/serving/plan', {
        model: 'meta-llama/Llama-3.1-8B',
        rate: 1692,
        isl: 58036,
        osl: 17419,
        ttft_ms: 1000,
        disagg: true,
      });
      await new Promise((r) => setTimeout(r, 500));
      const t0 = performance.now();
      const health = await t.call('GET', '/health');
      expect(health.status).toBe(200);
      expect(performance.now() - t0).toBeLessThan(1000);
      const r = await big;
      expect(r.status).toBe(504);
      expect(r.json.detail).toMatch(/planning took longer than 3 s/);
    } finally {
      if (old === undefined) delete process.env['INFERSIM_PLAN_TIMEOUT_S'];
      else process.env['INFERSIM_PLAN_TIMEOUT_S'] = old;
    }
  }, 60_000);
});

describe('the search over worker threads', () => {
  it('gives the same answer as one thread', async () => {
    const { planInWorkers } = await import('../../src/workers/plan-workers.js');
    const { planDevices } = await import('../../src/catalog/prices/devices.js');
    const { findModel, modelSpec } = await import('../../src/catalog/index.js');
    const request = {
      spec: modelSpec(findModel('Qwen/Qwen3-8B')),
      devices: planDevices(['h100', 'l4']),
      users: 16,
      isl: 1024,
      osl: 128,
      limits: { tpotMs: 40 },
      engines: ['vllm' as const],
      maxGpus: 2,
    };
    let calls = 0;
    const one = await planInWorkers(request, 1);
    const two = await planInWorkers(request, 2, () => calls++);
    expect(two).toEqual(one);
    expect(one.candidates.length).toBeGreaterThan(0);
    expect(calls).toBeGreaterThan(0);
  }, 60_000);
});
