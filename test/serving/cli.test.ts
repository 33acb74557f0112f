import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/index.js';
import { csvRecords } from '../../src/validation/csv.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await main(argv), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'infersim-serving-'));

describe('infersim simulate', () => {
  it('--json has the documented keys, estimate and ideal', async () => {
    const r = await run(
      'simulate',
      'Qwen/Qwen3-8B',
      '--gpu',
      'h100',
      '--engine',
      'sglang',
      '--isl',
      '512',
      '--osl',
      '64',
      '--concurrency',
      '4',
      '--num-requests',
      '20',
      '--slo-ttft-ms',
      '1000',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    for (const k of [
      'ttft_ms',
      'tpot_ms',
      'ttft_ms_p90',
      'ttft_ms_p99',
      'tpot_ms_p90',
      'tpot_ms_p99',
      'itl_ms',
      'e2e_ms',
      'output_tokens_per_s',
      'output_tokens_per_s_per_gpu',
      'output_tokens_per_s_per_user',
      'goodput_requests_per_s',
      'gpus',
    ])
      expect(typeof j[k]).toBe('number');
    expect(j.ideal.tpot_ms).toBeLessThanOrEqual(j.tpot_ms);
    expect(j.completed).toBe(20);
  });

  it('a table for people, and --explain', async () => {
    const r = await run(
      'simulate',
      'Qwen/Qwen3-8B',
      '--gpu',
      'h100',
      '--isl',
      '256',
      '--osl',
      '16',
      '--rate',
      '5',
      '--num-requests',
      '20',
      '--explain',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/TTFT ms/);
    expect(r.out).toMatch(/output tokens\/s per GPU/);
    expect(r.out).toMatch(/formula/);
  });

  it('replays a trace file', async () => {
    const f = join(dir, 'trace.txt');
    writeFileSync(f, '0 300 10\n0.05 400 12\n0.2 100 4\n');
    const r = await run('simulate', 'Qwen/Qwen3-8B', '--gpu', 'h100', '--trace', f, '--json', '--no-ideal');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).completed).toBe(3);
  });

  it('bad input: exit 2 with one line naming the problem', async () => {
    const cases: [string[], RegExp][] = [
      [['simulate', 'Qwen/Qwen3-8B', '--gpu', 'h100', '--isl', '10', '--osl', '5'], /--concurrency/],
      [
        ['simulate', 'Qwen/Qwen3-8B', '--gpu', 'h100', '--isl', '10', '--osl', '5', '--concurrency', '0'],
        /--concurrency/,
      ],
      [
        [
          'simulate',
          'Qwen/Qwen3-8B',
          '--gpu',
          'h100',
          '--engine',
          'tgi',
          '--isl',
          '1',
          '--osl',
          '1',
          '--rate',
          '1',
        ],
        /--engine/,
      ],
      [['simulate', 'Qwen/Qwen3-8B', '--isl', '10', '--osl', '5', '--rate', '1'], /--gpu/],
      [
        [
          'simulate',
          'Qwen/Qwen3-8B',
          '--gpu',
          'h100',
          '--tp',
          '2',
          '--ep',
          '4',
          '--isl',
          '1',
          '--osl',
          '1',
          '--rate',
          '1',
        ],
        /--ep/,
      ],
      [
        [
          'simulate',
          'Qwen/Qwen3-8B',
          '--gpu',
          'h100',
          '--input-dist',
          'uniform:5',
          '--osl',
          '1',
          '--rate',
          '1',
        ],
        /--input-dist/,
      ],
      [['simulate', '--rows', join(dir, 'missing.csv')], /cannot read/],
    ];
    for (const [argv, msg] of cases) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('infersim simulate --rows', () => {
  const measured = readFileSync(
    new URL('../../../shared/reference/serving/measured.csv', import.meta.url),
    'utf8',
  );
  const lines = measured.split('\n');
  const head = lines[0]!;
  const records = csvRecords(measured);
  const pick = (p: (r: Record<string, string>) => boolean) => lines[records.findIndex(p) + 1]!;
  const rowsFile = join(dir, 'rows.csv');
  const agg = pick((r) => r.model_path === 'Qwen/Qwen3-32B' && r.mode === 'agg' && r.backend === 'vllm');
  const disagg = pick((r) => r.model_path === 'deepseek-ai/DeepSeek-R1' && r.mode === 'disagg');
  const unknown = pick((r) => r.model_path === 'zhipuai/GLM-5');
  // the same row with a backend nobody simulates
  const badBackend = agg.replace(/^([^,]*),/, 'bad_backend_row,').replace(',vllm,', ',tgi,');
  writeFileSync(rowsFile, [head, agg, disagg, unknown, badBackend].join('\n'));

  it('--json: one prediction or one error per row, never a crash', async () => {
    const r = await run('simulate', '--rows', rowsFile, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toHaveLength(4);
    expect(j[0].ttft_ms).toBeGreaterThan(0);
    expect(j[0].tpot_ms).toBeGreaterThan(0);
    expect(j[1].tpot_ms).toBeGreaterThan(0);
    expect(j[2].error).toMatch(/GLM-5/);
    expect(j[3]).toEqual({ id: 'bad_backend_row', error: "backend 'tgi' is not supported" });
  });

  it('a table of predicted vs measured and the median error per group', async () => {
    const r = await run('simulate', '--rows', rowsFile);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/TTFT median \|err\|/);
    expect(r.out).toMatch(/vllm.*agg/);
  });
});
