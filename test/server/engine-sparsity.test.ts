/**
 * Sparsity masks belong to the client session that set them (issue 15, hardening): over a real loopback server with
 * the engine on its own thread, a mask set by session A changes A's generations and research forwards only;
 * session B's greedy tokens stay those it got with no mask anywhere, batched beside A or not; KV computed under A's
 * mask is never served from the prefix cache to an unmasked sequence or the reverse; clearing A's mask restores
 * A; and the server keeps a bounded number of sessions' masks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import type { RouteModule } from '../../src/server/context.js';
import { ENGINE_LIMITS } from '../../src/server/engine-admission.js';
import { WorkerEngine } from '../../src/server/engine-worker.js';
import { registerEngineRoutes } from '../../src/server/routes/engine.js';
import { MODEL_DIR } from '../engine/helpers.js';
import { serveApp, type Served } from './listen.js';

const OPTIONS = { blockSize: 16, maxModelLen: 512 };
const KEY = 'sparsity-key-0123456789';
const auth = { authorization: `Bearer ${KEY}` };
const A = { ...auth, 'x-session-id': 'sparsity-client-a' };
const B = { ...auth, 'x-session-id': 'sparsity-client-b' };
// 44 tokens: blocks 0 and 1 (32 tokens) are full and lie before the block of the last token, so a second run of
// this prompt under the same mask finds 2 × 16 = 32 tokens in the prefix cache (block_manager.ts).
const PROMPT =
  'In the beginning God created the heaven and the earth. And the earth was without form, and void; and ' +
  'darkness was upon the face of the deep.';
const REUSABLE = 32;
// Each query keeps only its strongest key: under it a head's attention row is one weight of exactly 1.
const TOP1 = { method: 'top_k', k: 1 };

let worker: WorkerEngine;
let s: Served;

beforeAll(async () => {
  worker = await WorkerEngine.start(MODEL_DIR, OPTIONS);
  const routes: RouteModule = (a) => registerEngineRoutes(a as never, worker);
  s = await serveApp({ store: null, hub: null, routes: [routes], guard: { apiKey: KEY } });
}, 60_000);
afterAll(async () => {
  s?.app.server.closeAllConnections();
  await s?.app.close();
  await worker?.close();
}, 30_000);

async function generate(h: Record<string, string>) {
  const r = await s.send(
    'POST',
    '/generate',
    { prompt: PROMPT, max_tokens: 12, temperature: 0, ignore_eos: true },
    h,
  );
  expect(r.status).toBe(200);
  return r.json as { token_ids: number[]; cached_prompt_tokens: number };
}

async function setMask(h: Record<string, string>, body: object) {
  const r = await s.send('POST', '/optimization/sparsity_mask', body, h);
  expect(r.status).toBe(200);
  return r.json as { applied: boolean };
}

/** Layer 0, head 0 of a short prompt: whether the session's mask applied, and each row's count of nonzero weights. */
async function attention(h: Record<string, string>) {
  const r = await s.send(
    'POST',
    '/debug/attention_scores',
    { prompt: 'And God said', layer_idx: 0, head_idx: 0, threshold: 0 },
    h,
  );
  expect(r.status).toBe(200);
  const m = r.json.attention_matrix as number[][];
  return {
    applied: r.json.sparsity_mask_applied as boolean,
    nonzero: m.map((row, t) => row.slice(0, t + 1).filter((p) => p > 0).length),
  };
}

describe('sparsity masks per session', () => {
  it("a mask set by one session leaves another's tokens, attention and prefix cache untouched", async () => {
    // No mask anywhere: the reference outputs (B first, so A's run after it reuses B's prompt blocks).
    const b0 = await generate(B);
    const a0 = await generate(A);
    expect(a0.token_ids).toEqual(b0.token_ids);
    expect(a0.cached_prompt_tokens).toBe(REUSABLE);

    expect((await setMask(A, TOP1)).applied).toBe(true);
    // A's first masked run computes its prompt afresh: the blocks B left were computed without A's mask.
    const a1 = await generate(A);
    expect(a1.cached_prompt_tokens).toBe(0);
    expect(a1.token_ids).not.toEqual(a0.token_ids);

    // A and B at once (one step may hold both; each runs under its own mask): B's tokens are its unmasked ones
    // and it reuses only unmasked blocks; A's repeat its masked ones from its own masked blocks.
    const [a2, b1] = await Promise.all([generate(A), generate(B)]);
    expect(b1.token_ids).toEqual(b0.token_ids);
    expect(b1.cached_prompt_tokens).toBe(REUSABLE);
    expect(a2.token_ids).toEqual(a1.token_ids);
    expect(a2.cached_prompt_tokens).toBe(REUSABLE);

    // Research forwards read the mask of the session asking: 3 tokens, so rows of 1, 2, 3 causal weights, all
    // positive without a mask (softmax), one each under top-1.
    expect(await attention(A)).toEqual({ applied: true, nonzero: [1, 1, 1] });
    expect(await attention(B)).toEqual({ applied: false, nonzero: [1, 2, 3] });

    // Clearing A's mask restores A's unmasked output; B's stays.
    expect((await setMask(A, { method: 'none' })).applied).toBe(false);
    expect((await generate(A)).token_ids).toEqual(a0.token_ids);
    expect((await attention(A)).applied).toBe(false);
    expect((await generate(B)).token_ids).toEqual(b0.token_ids);
  }, 60_000);

  it("keeps at most ENGINE_LIMITS.maskSessions sessions' masks, dropping the least recently used", async () => {
    const n = ENGINE_LIMITS.maskSessions;
    const session = (i: number) => ({ ...auth, 'x-session-id': `mask-cap-${String(i).padStart(4, '0')}` });
    for (let i = 0; i <= n; i++) await setMask(session(i), TOP1);
    // n + 1 sessions set one: the first is dropped, the last n kept.
    expect((await attention(session(0))).applied).toBe(false);
    expect((await attention(session(1))).applied).toBe(true);
    expect((await attention(session(n))).applied).toBe(true);
  }, 60_000);
});

describe('one step batching masked and unmasked sequences', () => {
  it('runs each under its own mask: the unmasked one matches its run alone', async () => {
    const e = await Engine.load(MODEL_DIR, { ...OPTIONS, threads: 1 });
    try {
      const p = { maxTokens: 12, temperature: 0, ignoreEos: true };
      const mask = { method: 'top_k' as const, k: 1, threshold: 0, ratio: 0, layers: null };
      const alone = await e.generate(PROMPT, p);
      const maskedAlone = await e.generate('And God said', p, null, mask);
      // (The step that finishes a request counts itself after its callers resume: let it, here and below.)
      await new Promise((r) => setImmediate(r));
      // Submitted together before the loop's first step: one step schedules both.
      const steps = e.steps;
      const [plain, masked] = await Promise.all([
        e.generate(PROMPT, p),
        e.generate('And God said', p, null, mask),
      ]);
      await new Promise((r) => setImmediate(r));
      // 12 tokens each, generated in lockstep: 12 steps (one prefill for both, 11 decodes), not 13 or more.
      expect(e.steps - steps).toBe(12);
      expect(plain.tokenIds).toEqual(alone.tokenIds);
      expect(masked.tokenIds).toEqual(maskedAlone.tokenIds);
    } finally {
      await e.close();
    }
  }, 60_000);
});
