/**
 * `--gpu` on memory, train, perf and throughput: the fit verdict first, by how much, and suggestions that each fit
 * when run. Hand values (see test/fit.test.ts for the derivations):
 *   Llama-3.1-8B bf16 weights 2 x 8,030,261,248 = 16,060,522,496 B; KV 131,072 B/token; a T-token step's activation
 *   T x 102,400 B (residual + the MLP's gate/up/act; the largest transient).
 *   H100 SXM visible 85,520,809,984 B (catalog); x 0.9 -> 76,968,728,985 B.
 */
import { describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/index.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    const code = await main(argv);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function json(...argv: string[]): Promise<any> {
  const r = await run(...argv, '--json');
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out);
}

const M = 'meta-llama/Llama-3.1-8B';
const WEIGHTS = 16_060_522_496;
const AVAILABLE = 76_968_728_985;

interface Suggestion {
  change: string;
  fits: boolean;
  required_bytes: number;
  headroom_bytes: number;
}

/** Runs the command again with each suggestion's flags appended: it must fit with exactly the bytes promised. */
async function eachSuggestionFits(argv: string[], suggestions: Suggestion[]): Promise<void> {
  expect(suggestions.length).toBeGreaterThan(0);
  for (const s of suggestions) {
    expect(s.fits).toBe(true);
    const j = await json(...argv, ...s.change.split(' '));
    expect(j.fits, s.change).toBe(true);
    expect(j.fit.required_bytes, s.change).toBe(s.required_bytes);
  }
}

describe('memory --gpu', () => {
  it('fits: the verdict is the first line, with headroom in GB and %', async () => {
    const argv = ['memory', M, '--precision', 'bf16', '--seq', '8192', '--runtime', 'none', '--gpu', 'h100'];
    const j = await json(...argv);
    const required = WEIGHTS + 131_072 * 8192 + 8192 * 102_400; // 17,973,125,120
    expect(j.total_bytes).toBe(required);
    expect(j.fits).toBe(true);
    expect(j.fit).toMatchObject({
      fits: true,
      device: 'h100-sxm-80gb',
      runtime: 'none',
      visible_bytes: 85_520_809_984,
      gpu_memory_utilization: 0.9,
      available_bytes: AVAILABLE,
      required_bytes: required,
      headroom_bytes: AVAILABLE - required,
      suggestions: [],
    });
    expect(j.fit.headroom_fraction).toBeCloseTo(58_995_603_865 / AVAILABLE, 12);
    const t = await run(...argv);
    expect(t.out.split('\n')[0]).toBe(
      'fits on NVIDIA H100 SXM5 80GB: needs 17.97 GB per device; 76.97 GB available (85.52 GB visible x ' +
        'gpu_memory_utilization 0.9, runtime none); headroom 59.00 GB (76.6%)',
    );
  });

  it("8 x 128K tokens: vLLM's 'No available memory for the cache blocks', and what fits instead", async () => {
    const argv = ['memory', M, '--precision', 'bf16', '--batch', '8', '--seq', '131072', '--runtime', 'none'];
    const j = await json(...argv, '--gpu', 'h100');
    // The 1,048,576-token step's activations alone (107,374,182,400 B) exceed the budget.
    expect(j.activation_bytes).toBe(1_048_576 * 102_400);
    expect(j.fit.reason).toBe('no_kv_memory');
    expect(j.fit.message).toBe(
      'ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when ' +
        'initializing the engine.',
    );
    expect(j.fit.headroom_bytes).toBe(AVAILABLE - j.total_bytes);
    expect(j.fit.headroom_fraction).toBeLessThan(-1);
    const by = (flag: string) => j.fit.suggestions.find((s: Suggestion) => s.change.startsWith(flag));
    // TP 8: weights (16,060,522,496 - 532,480 B of norms) / 8 + norms; one KV head per rank (16,384 B/token);
    // residual 2·T·4096·2 + MLP 3·T·(14336/8)·2 with T = 1,048,576.
    const tp8 = (WEIGHTS - 532_480) / 8 + 532_480 + 16_384 * 8 * 131_072 + 1_048_576 * (16_384 + 10_752);
    expect(by('--tp')).toMatchObject({ change: '--tp 8', required_bytes: tp8 });
    expect(tp8).toBe(47_642_058_752);
    // Longest sequence: 16,060,522,496 + s x (8 x 131,072 + 8 x 102,400) <= 76,968,728,985 -> s = 32,610.
    expect(by('--seq')).toMatchObject({
      change: '--seq 32610',
      required_bytes: WEIGHTS + 32_610 * 1_867_776,
    });
    // Largest batch: one sequence of 131,072 tokens.
    expect(by('--batch')).toMatchObject({
      change: '--batch 1',
      required_bytes: WEIGHTS + 131_072 * 131_072 + 131_072 * 102_400,
    });
    await eachSuggestionFits([...argv, '--gpu', 'h100'], j.fit.suggestions);
    const t = await run(...argv, '--gpu', 'h100');
    const lines = t.out.split('\n');
    expect(lines[0]).toBe(`does not fit on NVIDIA H100 SXM5 80GB: ${j.fit.message}`);
    expect(lines[1]).toContain('short by ');
    expect(t.out.indexOf('--tp 8')).toBeLessThan(t.out.indexOf('KV cache per token'));
  });

  it('without --gpu there is no verdict; a bad utilization is a usage error', async () => {
    const j = await json('memory', M);
    expect(j.fit).toBeUndefined();
    const r = await run('memory', M, '--gpu', 'h100', '--gpu-memory-utilization', '1.2');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--gpu-memory-utilization must be in (0, 1]');
    const u = await run('memory', M, '--gpu', 'h1000');
    expect(u.code).toBe(2);
    expect(u.err).toContain("unknown hardware 'h1000'");
  });
});

describe('train --gpu', () => {
  const argv = ['train', M, '--gpu', 'h100'];

  it('full fine-tuning does not fit one H100: PyTorch OOM first, then ZeRO-3, LoRA, QLoRA, TP — each fits', async () => {
    const j = await json(...argv);
    expect(j.fits).toBe(false);
    expect(j.fit.available_bytes).toBe(85_520_809_984);
    expect(j.fit.required_bytes).toBe(j.total_bytes);
    // 2 (weights) + 4 (master) + 2 (gradients) + 8 (Adam) bytes per parameter.
    expect(j.weights_bytes + j.master_weights_bytes + j.gradients_bytes + j.optimizer_states_bytes).toBe(
      16 * 8_030_261_248,
    );
    const changes = j.fit.suggestions.map((s: Suggestion) => s.change);
    expect(changes).toContain('--dp 2 --zero 3');
    expect(changes).toContain('--lora-rank 16 --lora-targets all-linear');
    expect(changes).toContain('--qlora --lora-rank 16 --lora-targets all-linear');
    expect(changes).toContain('--tp 2');
    await eachSuggestionFits(argv, j.fit.suggestions);
    const t = await run(...argv);
    expect(t.out.split('\n')[0]).toMatch(
      /^does not fit on NVIDIA H100 SXM5 80GB: torch\.OutOfMemoryError: CUDA out of memory: the training step peaks at/,
    );
  });

  it('405B: no single change is enough; ZeRO-3 over 128 ranks with full recomputation is, and it runs', async () => {
    const big = ['train', 'meta-llama/llama-3.1-405b', '--gpu', 'h100'];
    const j = await json(...big);
    expect(j.fits).toBe(false);
    expect(j.fit.suggestions.map((s: Suggestion) => s.change)).toEqual([
      '--dp 128 --zero 3 --recompute full',
    ]);
    await eachSuggestionFits(big, j.fit.suggestions);
  });

  it("LoRA's default targets are every linear layer: 41,943,040 adapter parameters at rank 16", async () => {
    // Per layer r·(in + out): q 16·8192, k and v 16·5120, o 16·8192, gate and up 16·18432, down 16·18432.
    const perLayer = 16 * (8192 + 5120 + 5120 + 8192 + 3 * 18_432);
    const j = await json(...argv, '--lora-rank', '16');
    expect(j.trainable_parameters).toBe(32 * perLayer);
    expect(32 * perLayer).toBe(41_943_040);
    expect(j.lora_adapter_bytes).toBe(2 * 41_943_040);
    expect(j.fits).toBe(true);
    expect(j.fit.headroom_bytes).toBe(85_520_809_984 - j.total_bytes);
  });
});

describe('perf and throughput --gpu: an impossible setup is never printed as if it ran', () => {
  const big = 'meta-llama/Llama-3.1-70B-Instruct';

  it('perf: 70B in bf16 on one H100 — the weights (2 x 70,553,706,496 B) do not load', async () => {
    const argv = ['perf', big, '--gpu', 'h100', '--input-len', '1024', '--output-len', '256'];
    const j = await json(...argv);
    expect(j.fits).toBe(false);
    expect(j.fit.reason).toBe('weights');
    expect(j.fit.message).toMatch(
      /^torch\.OutOfMemoryError: CUDA out of memory: the weights \(131\.42 GiB\)/,
    );
    // Latency figures only under if_it_fit.
    expect(j.ttft_s).toBeUndefined();
    expect(j.tokens_per_s).toBeUndefined();
    expect(j.if_it_fit.ttft_s).toBeGreaterThan(0);
    expect(j.if_it_fit.memory_per_device_bytes).toBe(j.fit.required_bytes);
    const changes = j.fit.suggestions.map((s: Suggestion) => s.change);
    expect(changes).toContain('--tp 2');
    expect(changes).toContain('--precision fp8'); // the highest-quality lower format that fits
    await eachSuggestionFits(argv, j.fit.suggestions);
    const t = await run(...argv);
    const lines = t.out.split('\n');
    expect(lines[0]).toBe(`does not fit on NVIDIA H100 SXM5 80GB: ${j.fit.message}`);
    expect(t.out).toContain('if it fit (it does not), the estimate would be:');
    expect(t.out.indexOf('if it fit')).toBeLessThan(t.out.indexOf('TTFT'));
  });

  it('perf: 8B fits; the memory per device is the one `memory` gives for the same setup', async () => {
    const j = await json(
      'perf',
      M,
      '--gpu',
      'h100',
      '--batch',
      '4',
      '--input-len',
      '1000',
      '--output-len',
      '500',
    );
    expect(j.fits).toBe(true);
    expect(j.ttft_s).toBeGreaterThan(0);
    const m = await json('memory', M, '--gpu', 'h100', '--batch', '4', '--seq', '1500');
    expect(j.memory_per_device_bytes).toBe(m.total_bytes);
    expect(j.fit.required_bytes).toBe(m.fit.required_bytes);
    expect(j.fit.headroom_bytes).toBe(m.fit.headroom_bytes);
  });

  it("throughput: 499K + 1K tokens on one H100 — vLLM's KV-cache error, no throughput figures", async () => {
    const argv = ['throughput', M, '--gpu', 'h100', '--input-len', '499000', '--output-len', '1000'];
    const j = await json(...argv);
    expect(j.fits).toBe(false);
    expect(j.fit.reason).toBe('kv_cache');
    // 500,000 tokens (a whole number of 16-token blocks) x 131,072 B = 65,536,000,000 B = 61.04 GiB.
    expect(j.fit.message).toMatch(
      /^ValueError: To serve at least one request with the models's max seq len \(500000\), \(61\.04 GiB KV cache is needed, which is larger than the available KV cache memory \(\d+\.\d\d GiB\)\. Based on the available memory, the estimated maximum model length is \d+\. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine\.$/,
    );
    expect(j.output_tokens_per_s).toBeUndefined();
    expect(j.if_it_fit).toBeUndefined();
    const len = j.fit.suggestions.find((s: Suggestion) => s.change.startsWith('--input-len'));
    const maxLen = Number(/maximum model length is (\d+)/.exec(j.fit.message)![1]);
    expect(len.change).toBe(`--input-len ${maxLen - 1000}`);
    await eachSuggestionFits(argv, j.fit.suggestions);
    const t = await run(...argv);
    expect(t.out.split('\n')[0]).toBe(`does not fit on NVIDIA H100 SXM5 80GB: ${j.fit.message}`);
    expect(t.out).not.toContain('output tokens/s');
  });
});

describe('hardware table', () => {
  it('memory in GB (10^9 B) like every result table, with the visible bytes the verdicts use', async () => {
    const r = await run('hardware');
    expect(r.out).toContain('memory (GB)');
    expect(r.out).toContain('visible (GB)');
    expect(r.out).not.toContain('GiB');
    const row = r.out.split('\n').find((l) => l.includes(' h100-sxm-80gb '))!;
    // 85,899,345,920 B (80 GiB) and 85,520,809,984 B visible.
    expect(row).toMatch(/85\.90\s+│\s+85\.52/);
  });
});
