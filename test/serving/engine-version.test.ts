import { describe, expect, it } from 'vitest';
import { runCli } from '../cli-run.js';

const args = (v: string) => [
  'simulate',
  'Qwen/Qwen3-8B',
  '--gpu',
  'h100',
  '--engine',
  'vllm',
  '--engine-version',
  v,
  '--isl',
  '256',
  '--osl',
  '32',
  '--concurrency',
  '2',
  '--no-ideal',
  '--json',
];

describe('simulate --engine-version sizes the KV cache with the memory profile of that release', () => {
  it('vLLM 0.21 subtracts the CUDA-graph estimate that 0.19 only prints: fewer KV tokens', async () => {
    const a = await runCli(...args('0.19.0'));
    const b = await runCli(...args('0.21.0'));
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    const ka = JSON.parse(a.out).kv_tokens_per_rank.agg as number;
    const kb = JSON.parse(b.out).kv_tokens_per_rank.agg as number;
    expect(kb).toBeLessThan(ka);
  });

  it('a release the profiles do not model is refused with exit 2, naming it', async () => {
    const r = await runCli(...args('0.1.0'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/0\.1\.0/);
  });
});
