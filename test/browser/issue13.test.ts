/**
 * Issue 13 in the browser. The inference view's "Memory vs sequence length" chart follows the parallel plan (issue 13: under TP 2 it plotted
 * one device holding the whole model). The curve the page draws is checked against POST /api/models/analyze asked
 * with the same plan, and at the form's own length against the per-device total of POST /api/web/plan; under TP 2
 * it must be below the one-device curve (each device holds half the sharded weights and KV heads).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ensureWebBuilt, launchBrowser, startServer, type Launched, type Served } from './harness.js';

let server: Served;
let browser: Launched;
let page: Page;

const MODEL = 'meta-llama/Llama-3.1-8B';
const GPU = 'l40s-48gb';
const Q = { batch: 2, input: 3000, output: 1000 };

beforeAll(async () => {
  ensureWebBuilt();
  server = await startServer({ engine: false });
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
}, 30_000);

async function inject<T>(url: string, payload: unknown): Promise<T> {
  const r = await server.app.inject({ method: 'POST', url, payload: payload as object });
  expect(r.statusCode, r.body).toBe(200);
  return JSON.parse(r.body) as T;
}

/** The curve as the page drew it: lengths and bytes per device. */
async function curve(tp: number): Promise<{ lengths: number[]; total: number[]; title: string }> {
  const q = `m=${encodeURIComponent(MODEL)}&hw=${GPU}&p=bf16&b=${Q.batch}&in=${Q.input}&out=${Q.output}&tp=${tp}`;
  await page.goto(`${server.url}/?${q}`);
  await page.waitForSelector('body[data-status="ready"]', { timeout: 30_000 });
  await page.waitForSelector('#seq-chart[data-total-bytes]', { timeout: 30_000 });
  const lengths = JSON.parse((await page.getAttribute('#seq-chart', 'data-lengths'))!) as number[];
  const total = JSON.parse((await page.getAttribute('#seq-chart', 'data-total-bytes'))!) as number[];
  const title = (await page.textContent('#card-seq h2')) ?? '';
  return { lengths, total, title };
}

describe('memory vs sequence length under TP 2', () => {
  it('plots per-device bytes equal to the API asked with the same plan', async () => {
    const two = await curve(2);
    expect(two.title).toMatch(/one device of TP 2/);
    expect(two.lengths).toContain(Q.input + Q.output);
    const api = await inject<{ analysis: Record<string, { total_memory_bytes: number }> }>(
      '/api/models/analyze',
      {
        model_id: MODEL,
        precision: 'bf16',
        batch_size: Q.batch,
        sequence_lengths: two.lengths,
        runtime: 'vllm-v1',
        tp: 2,
      },
    );
    expect(two.total).toEqual(two.lengths.map((l) => api.analysis[String(l)]!.total_memory_bytes));

    // At the form's own length the curve is the plan's per-device total.
    const plan = await inject<{ memory_per_device: { total_bytes: number } }>('/api/web/plan', {
      model_id: MODEL,
      hardware_id: GPU,
      precision: 'bf16',
      batch_size: Q.batch,
      input_len: Q.input,
      output_len: Q.output,
      tp: 2,
    });
    expect(two.total[two.lengths.indexOf(Q.input + Q.output)]).toBe(plan.memory_per_device.total_bytes);

    // And it is the per-device share: below one device holding everything, above half of it (replicated parts).
    const one = await curve(1);
    expect(one.title).not.toMatch(/TP/);
    two.lengths.forEach((l, i) => {
      const j = one.lengths.indexOf(l);
      expect(two.total[i]!).toBeLessThan(one.total[j]!);
      expect(two.total[i]!).toBeGreaterThan(one.total[j]! / 2);
    });
  }, 120_000);
});

describe('parallelism names and phone-sized tables', () => {
  it('TP, PP, EP, CP, DP and SP explain themselves on hover', async () => {
    await curve(2);
    const tips = await page.$$eval('.controls .tip', (els) =>
      Object.fromEntries(els.map((e) => [e.textContent, e.getAttribute('title') ?? ''])),
    );
    for (const name of ['TP', 'PP', 'EP', 'CP', 'DP', 'SP']) expect(tips[name], name).toMatch(/parallel/i);
    expect(await page.getAttribute('#tp', 'title')).toMatch(/^Tensor parallel/);
  }, 60_000);

  it('on a 390 px wide phone every table scrolls sideways inside its card instead of being cut', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await curve(1);
    const tables = await page.$$eval('.card table:not(.speed)', (els) =>
      els.map((t) => {
        const card = t.closest('.card')!.getBoundingClientRect();
        const r = t.getBoundingClientRect();
        return { overflow: getComputedStyle(t).overflowX, right: r.right, cardRight: card.right };
      }),
    );
    expect(tables.length).toBeGreaterThan(0);
    for (const t of tables) {
      expect(t.overflow).toBe('auto');
      expect(t.right).toBeLessThanOrEqual(t.cardRight + 1);
    }
  }, 60_000);
});
