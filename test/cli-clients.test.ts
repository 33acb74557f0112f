/** What new users stumbled on in the CLI (issue 13): each checked against figures derived independently. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { duration, traceTree } from '../src/cli/output.js';
import { parseCount } from '../src/cli/options.js';
import { runCli as run } from './cli-run.js';

/** Llama-2-7B by hand: embeddings and head 2·V·h, per layer 4h² + 3·h·I + 2h, final norm. */
const LLAMA2_7B = 2 * 32000 * 4096 + 32 * (4 * 4096 ** 2 + 3 * 4096 * 11008 + 2 * 4096) + 4096;

describe('counts take k/K/M suffixes (as vLLM reads --max-model-len)', () => {
  it('8k is 8,000, 8K is 8,192, 1M is 2^20, 1.5k is 1,500; 1.0001k is refused', () => {
    expect(parseCount('8k')).toBe(8000);
    expect(parseCount('8K')).toBe(8192);
    expect(parseCount('1M')).toBe(1_048_576);
    expect(parseCount('1.5k')).toBe(1500);
    expect(parseCount('1.0001k')).toBeNull();
    expect(parseCount('eight')).toBeNull();
  });
  it('memory --seq 8K holds 8,192 tokens of KV', async () => {
    const r = await run('memory', 'llama2-7b', '--seq', '8K', '--precision', 'fp16', '--json');
    expect(r.code).toBe(0);
    // 2 (K, V) · 32 layers · 32 heads · 128 · 2 bytes per token.
    expect(JSON.parse(r.out).kv_cache_bytes).toBe(2 * 32 * 32 * 128 * 2 * 8192);
  });
});

describe('--precision all', () => {
  it('params prints the weights in every common format: fp32 is 4 bytes a parameter, bf16 2', async () => {
    const r = await run('params', 'llama2-7b', '--precision', 'all', '--json');
    const w = Object.fromEntries(
      JSON.parse(r.out).weights.map((x: { precision: string; weights_bytes: number }) => [
        x.precision,
        x.weights_bytes,
      ]),
    );
    expect(w['fp32']).toBe(4 * LLAMA2_7B);
    expect(w['bf16']).toBe(2 * LLAMA2_7B);
    expect(Object.keys(w)).toEqual(['fp32', 'bf16', 'fp16', 'fp8', 'int8', 'int4', 'nf4', 'mxfp4']);
    const table = await run('params', 'llama2-7b', '--precision', 'all');
    expect(table.out).toMatch(/int4/);
  });
  it('memory prints one row per format, and fits per row with --gpu', async () => {
    const r = await run('memory', 'llama2-7b', '--precision', 'all', '--gpu', 't4-16gb', '--json');
    const rows = JSON.parse(r.out).rows as { precision: string; weights_bytes: number; fits: boolean }[];
    expect(rows.find((x) => x.precision === 'fp32')!.weights_bytes).toBe(4 * LLAMA2_7B);
    expect(rows.find((x) => x.precision === 'fp32')!.fits).toBe(false); // 27 GB of weights on a 16 GB card
    expect(rows.find((x) => x.precision === 'int4')!.fits).toBe(true);
  });
});

describe('precision typos get suggestions', () => {
  it('fp61 suggests fp16 first', async () => {
    const r = await run('memory', 'llama2-7b', '--precision', 'fp61');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown weight precision 'fp61'; did you mean 'fp16'/);
  });
});

describe('durations for people', () => {
  it('221,500 ms reads 221.5 s; 13.94 ms stays ms; 412 µs', () => {
    expect(duration(221.5)).toBe('221.5 s');
    expect(duration(0.01394)).toBe('13.9 ms');
    expect(duration(0.000412)).toBe('412 µs');
    expect(duration(7200)).toBe('2.0 h');
  });
});

describe('--explain is a tree within the terminal width', () => {
  it('no line is wider than the width asked, and every figure is a branch', () => {
    const trace = [
      {
        figure: 'kv_cache_bytes',
        value: 268435456,
        unit: 'bytes',
        formula: 'sum over groups of bytes/token · batch · min(seq, window) '.repeat(6),
        inputs: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`input_${i}`, i * 1000])),
      },
      { figure: 'total_bytes', value: 1.5, unit: 'GB', formula: 'sum', inputs: {} },
    ];
    const text = traceTree(trace, 60);
    for (const line of text.trimEnd().split('\n')) expect([...line].length).toBeLessThanOrEqual(60);
    expect(text).toMatch(/^├─ kv_cache_bytes = 268,435,456 bytes/m);
    expect(text).toMatch(/^└─ total_bytes = 1\.50000 GB/m);
  });
});

describe('an unknown model_type warns on every command', () => {
  it('memory and perf print the warning on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'infersim-'));
    const path = join(dir, 'config.json');
    writeFileSync(
      path,
      JSON.stringify({
        model_type: 'novel_arch',
        hidden_size: 1024,
        num_hidden_layers: 4,
        num_attention_heads: 8,
        intermediate_size: 2816,
        vocab_size: 32000,
      }),
    );
    for (const args of [
      ['memory', path],
      ['perf', path, '--gpu', 'h100-sxm-80gb'],
    ]) {
      const r = await run(...args);
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/warning: model_type 'novel_arch' is not known/);
    }
  });
});

describe('plan marks the recommended row of its table', () => {
  it('the row equal to `recommended` carries ► and its durations read in units', async () => {
    const args = ['plan', 'facebook/opt-125m', '--users', '4', '--isl', '128', '--osl', '64'];
    const opts = ['--gpu', 'l4-24gb', '--engine', 'vllm', '--max-gpus', '1', '--workers', '1'];
    const json = JSON.parse((await run(...args, ...opts, '--json')).out);
    const rec = json.recommended;
    const table = (await run(...args, ...opts)).out;
    const marked = table.split('\n').filter((l) => l.includes('►') && l.includes('│'));
    expect(marked).toHaveLength(1);
    const precision =
      rec.kv_precision === rec.precision ? rec.precision : `${rec.precision} / kv ${rec.kv_precision}`;
    expect(marked[0]).toContain(` ${precision} `);
    expect(marked[0]).toMatch(/\d ms │|\d\.\d s │|\d µs │/);
    expect(table).not.toMatch(/e\+\d/);
  }, 120_000);
});
