import { describe, expect, it } from 'vitest';
import { runCli } from '../cli-run.js';

// The serving rows of measured.csv are all NVIDIA Hopper/Blackwell (README of shared/reference/serving), and the
// throughput rows of AMD carry no engine: a simulated vLLM deployment on an MI300X rests on no measured serving row.
async function confidence(gpu: string, precision: string) {
  const r = await runCli(
    'simulate',
    'Qwen/Qwen3-8B',
    '--gpu',
    gpu,
    '--engine',
    'vllm',
    '--precision',
    precision,
    '--isl',
    '256',
    '--osl',
    '32',
    '--concurrency',
    '2',
    '--no-ideal',
    '--json',
  );
  expect(r.code).toBe(0);
  return JSON.parse(r.out).confidence as { level: string; reason: string };
}

describe('simulate says where it extrapolates', () => {
  it('an H100 serving fp8 with vLLM is calibrated (measured.csv has such rows)', async () => {
    expect((await confidence('h100', 'fp8')).level).toBe('calibrated');
  });

  it('an MI300X with vLLM is extrapolated, and says why', async () => {
    const c = await confidence('mi300x', 'bf16');
    expect(c.level).toBe('extrapolated');
    expect(c.reason).toMatch(/amd-cdna/);
  });

  it('an A100 (no serving rows) is extrapolated', async () => {
    expect((await confidence('a100-sxm-80gb', 'bf16')).level).toBe('extrapolated');
  });
});
