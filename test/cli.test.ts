import { describe, expect, it } from 'vitest';
import { runCli } from './cli-run.js';
import { findDevice, hardwareSpec } from '../src/catalog/index.js';

const run = runCli;

describe('infersim CLI contract', () => {
  it('params --json gives total, active and breakdown', async () => {
    const r = await run('params', 'mistralai/Mixtral-8x7B-v0.1', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.total_parameters).toBe(46702792704);
    // 2 of 8 experts active: total - 6 x 3 x 4096 x 14336 x 32
    expect(j.active_parameters).toBe(46702792704 - 6 * 3 * 4096 * 14336 * 32);
    expect(j.breakdown.expert).toBe(8 * 3 * 4096 * 14336 * 32);
  });

  it('params reads a config.json path', async () => {
    const r = await run('params', '../shared/reference/models/openai-community__gpt2.json', '--json');
    expect(JSON.parse(r.out).total_parameters).toBe(124439808);
  });

  it('memory --json gives the per-device keys; KV of Llama-3.1-8B at 8K is 1 GiB', async () => {
    const r = await run(
      'memory',
      'meta-llama/Llama-3.1-8B',
      '--precision',
      'bf16',
      '--seq',
      '8192',
      '--json',
    );
    const j = JSON.parse(r.out);
    for (const k of [
      'weights_bytes',
      'kv_cache_bytes',
      'kv_cache_bytes_per_token',
      'activation_bytes',
      'state_bytes',
      'overhead_bytes',
      'total_bytes',
    ]) {
      expect(typeof j[k]).toBe('number');
    }
    expect(j.weights_bytes).toBe(2 * 8030261248);
    expect(j.kv_cache_bytes).toBe(2 ** 30);
    expect(j.total_bytes).toBe(
      j.weights_bytes +
        j.kv_cache_bytes +
        j.activation_bytes +
        j.state_bytes +
        j.image_bytes +
        j.overhead_bytes,
    );
  });

  it('memory with --tp 2 halves the KV cache per device and --explain carries a trace', async () => {
    const one = JSON.parse((await run('memory', 'llama2-7b', '--json')).out);
    const two = JSON.parse((await run('memory', 'llama2-7b', '--tp', '2', '--json', '--explain')).out);
    expect(two.kv_cache_bytes * 2).toBe(one.kv_cache_bytes);
    expect(two.trace.find((t: { figure: string }) => t.figure === 'kv_cache_bytes').formula).toMatch(
      /window/,
    );
  });

  it('capacity --json gives max_kv_tokens and kv_cache_bytes_available', async () => {
    const r = await run(
      'capacity',
      'meta-llama/Llama-3.1-8B',
      '--gpu',
      'h100',
      '--max-model-len',
      '8192',
      '--json',
    );
    const j = JSON.parse(r.out);
    expect(j.max_kv_tokens).toBeGreaterThan(0);
    expect(j.max_kv_tokens % 16).toBe(0);
    // vLLM cuts the available bytes into 16-token blocks of 16 x 131,072 B (32 layers x 2 x 8 KV heads x 128 x 2 B).
    expect(j.max_kv_tokens).toBe(Math.floor(j.kv_cache_bytes_available / (16 * 131072)) * 16);
  });

  it('models and hardware list entries with id and name', async () => {
    const m = JSON.parse((await run('models', '--json')).out);
    expect(m.length).toBeGreaterThanOrEqual(60);
    expect(m[0]).toHaveProperty('id');
    expect(m[0]).toHaveProperty('name');
    const h = JSON.parse((await run('hardware', '--json')).out);
    expect(h.length).toBeGreaterThanOrEqual(25);
    expect(h.find((x: { id: string }) => x.id === 'nvidia_nvl72_rack')).toBeTruthy();
  });

  it.each([
    [['memory', 'no-such-model']],
    [['memory', 'gpt2', '--tp', '5']],
    [['memory', 'gpt2', '--batch', '-1']],
    [['memory', 'gpt2', '--batch', 'abc']],
    [['memory', 'gpt2', '--precision', 'int3']],
    [['memory', 'gpt2', '--kv-precision', 'nope']],
    [['capacity', 'gpt2']],
    [['capacity', 'gpt2', '--gpu', 'h1000']],
    [['capacity', 'gpt2', '--gpu', 'h100', '--gpu-memory-utilization', '1.5']],
    [['params', '/no/such/config.json']],
    [['frobnicate']],
  ])('bad input %j exits 2 with a one-line message', async (argv) => {
    const r = await run(...argv);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n').length).toBeLessThanOrEqual(2);
    expect(r.err.length).toBeGreaterThan(0);
  });

  it('unknown models get suggestions', async () => {
    const r = await run('params', 'llama-2-7b-hff');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/did you mean .*'llama-2-7b-hf'/);
  });
});

describe('infersim perf, throughput and plan', () => {
  it('perf --json has the contract keys, with ideal never slower than the estimate', async () => {
    const r = await run(
      'perf',
      'meta-llama/Llama-3.1-8B',
      '--gpu',
      'h100',
      '--batch',
      '4',
      '--input-len',
      '512',
      '--output-len',
      '128',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    for (const k of [
      'ttft_s',
      'tpot_s',
      'tokens_per_s',
      'bound',
      'ideal',
      'communication_s',
      'memory_per_device_bytes',
    ])
      expect(j).toHaveProperty(k);
    expect(j.ideal.ttft_s).toBeLessThanOrEqual(j.ttft_s);
    expect(j.tokens_per_s).toBeCloseTo(4 / j.tpot_s, 6);
    // Ideal decode step, memory-bound: every weight but the embedding table, 2 B x (8,030,261,248 − 128,256 x 4096),
    // plus the KV of 4 sequences at the mean context 512 + 64, 131,072 B per token, read once at 3.35 TB/s.
    const bytes = 2 * (8030261248 - 128256 * 4096) + 4 * 576 * 131072;
    const bound = bytes / hardwareSpec(findDevice('h100')).memoryBandwidthBytesPerS;
    expect(j.ideal.tpot_s / bound).toBeGreaterThanOrEqual(1);
    expect(j.ideal.tpot_s / bound).toBeLessThan(1.02);
  });
  it('throughput --json gives output_tokens_per_s, max_concurrency and ideal', async () => {
    const r = await run(
      'throughput',
      'meta-llama/Llama-3.1-8B',
      '--gpu',
      'h100',
      '--input-len',
      '128',
      '--output-len',
      '128',
      '--json',
    );
    const j = JSON.parse(r.out);
    expect(j.output_tokens_per_s).toBeGreaterThan(0);
    expect(j.max_concurrency).toBeGreaterThan(0);
    expect(j.ideal.output_tokens_per_s).toBeGreaterThanOrEqual(j.output_tokens_per_s);
  });
  it('plan --json recommends a plan and lists alternatives', async () => {
    const r = await run(
      'plan',
      'meta-llama/Llama-3.1-8B',
      '--gpu',
      'l4',
      '--seq',
      '4096',
      '--max-gpus',
      '4',
      '--json',
    );
    const j = JSON.parse(r.out);
    // 16.06 GB of bf16 weights fit one 24 GiB L4 with room for a 4096-token sequence.
    expect(j.recommended.devices).toBe(1);
    expect(Array.isArray(j.alternatives)).toBe(true);
  });
  it('throughput without --input-len exits 2', async () => {
    expect((await run('throughput', 'gpt2', '--gpu', 'h100', '--output-len', '5')).code).toBe(2);
  });
});

describe('infersim train', () => {
  it('--json gives total_bytes and per-component bytes; AdamW mixed precision by hand', async () => {
    const r = await run(
      'train',
      'llama2-7b',
      '--optimizer',
      'AdamW',
      '--precision',
      'bf16',
      '--batch',
      '1',
      '--seq',
      '512',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    const P = 6738415616;
    expect(j.weights_bytes).toBe(2 * P);
    expect(j.master_weights_bytes).toBe(4 * P);
    expect(j.gradients_bytes).toBe(2 * P);
    expect(j.optimizer_states_bytes).toBe(8 * P);
    expect(j.total_bytes).toBe(j.peak_bytes);
    expect(j.total_bytes).toBeGreaterThan(16 * P);
  });
  it('LoRA rank 8 on q and v trains 32 · 2 · 8 · (4096 + 4096) parameters', async () => {
    const j = JSON.parse(
      (await run('train', 'llama2-7b', '--lora-rank', '8', '--lora-targets', 'q_proj,v_proj', '--json')).out,
    );
    expect(j.trainable_parameters).toBe(32 * 2 * 8 * (4096 + 4096));
  });
  it('an unknown optimizer exits 2 naming the accepted ones', async () => {
    const r = await run('train', 'gpt2', '--optimizer', 'adamq');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/adamw/);
  });
});
