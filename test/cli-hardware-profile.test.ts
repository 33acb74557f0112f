/**
 * `infersim simulate --hardware-profile FILE`: a hand-made profile whose rates are unbounded, so every step costs
 * its fixed terms only (stepS + sequences · sequenceS), and the served figures follow by hand.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-run.js';

const dir = mkdtempSync(join(tmpdir(), 'infersim-hwprof-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PROFILE = {
  name: 'cpu: hand-made',
  bytesPerS: 1e30,
  gemmFlopsPerS: 1e30,
  attentionFlopsPerS: 1e30,
  stepS: 0.002,
  sequenceS: 0.0005,
  memoryBytes: 1e10,
};

function profileFile(p: object, name = 'p.json'): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(p));
  return f;
}

/** The reference engine's policy: whole prompts prefilled first, no mixed steps, 16-token blocks. */
const simulate = (file: string, users: number, ...extra: string[]) =>
  runCli(
    'simulate',
    'models/kjv-llama-tiny/config.json',
    '--hardware-profile',
    file,
    '--engine',
    'sglang',
    '--concurrency',
    String(users),
    '--isl',
    '16',
    '--osl',
    '9',
    '--num-requests',
    String(4 * users),
    '--max-batch',
    String(users),
    '--block-size',
    '16',
    '--no-chunked-prefill',
    '--no-prefix-caching',
    '--reservation',
    'current',
    '--kv-tokens',
    '4096',
    '--no-ideal',
    '--json',
    ...extra,
  );

describe('simulate --hardware-profile', () => {
  it('one user: every step is 2 ms + 0.5 ms; 9 tokens in 9 steps', async () => {
    const r = await simulate(profileFile(PROFILE), 1);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.gpu).toBe('measured-cpu');
    expect(j.ttft_ms).toBeCloseTo(2.5, 9);
    expect(j.tpot_ms).toBeCloseTo(2.5, 9);
    expect(j.e2e_ms).toBeCloseTo(9 * 2.5, 9);
    expect(j.output_tokens_per_s).toBeCloseTo(9 / (9 * 2.5e-3), 6); // 400
    expect(j.confidence.level).toBe('measured');
  });

  it('two users in lockstep: both prompts in one step, then decodes of two, each 2 ms + 2 · 0.5 ms', async () => {
    const j = JSON.parse((await simulate(profileFile(PROFILE), 2, '--wave-share', '1')).out);
    expect(j.ttft_ms).toBeCloseTo(3, 9);
    expect(j.tpot_ms).toBeCloseTo(3, 9);
    expect(j.output_tokens_per_s).toBeCloseTo((2 * 9) / (9 * 3e-3), 6); // 666.7
  });

  it('a wave share outside 0..1 is refused, naming the flag', async () => {
    const r = await simulate(profileFile(PROFILE), 2, '--wave-share', '1.5');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--wave-share must be a number from 0 to 1/);
  });

  it('refuses a bad profile, naming the key, and a profile beside --gpu or another precision', async () => {
    const missing: Partial<typeof PROFILE> = { ...PROFILE };
    delete missing.stepS;
    let r = await simulate(profileFile(missing, 'missing.json'), 1);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/stepS must be a number/);
    r = await simulate(profileFile({ ...PROFILE, stepMs: 2 }, 'typo.json'), 1);
    expect(r.err).toMatch(/unknown key\(s\) stepMs/);
    r = await simulate(profileFile({ ...PROFILE, bytesPerS: -1 }, 'neg.json'), 1);
    expect(r.err).toMatch(/bytesPerS must be a positive number/);
    r = await simulate(join(dir, 'absent.json'), 1);
    expect(r.err).toMatch(/cannot read hardware profile/);
    r = await simulate(profileFile(PROFILE), 1, '--gpu', 'h100-sxm');
    expect(r.err).toMatch(/not both/);
    r = await simulate(profileFile(PROFILE), 1, '--precision', 'bf16');
    expect(r.err).toMatch(/fp32 only/);
  });
});
