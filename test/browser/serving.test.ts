/**
 * The Serving view in headless Chromium: choose the engine, lengths and concurrencies, wait until every simulation
 * is drawn, and check each figure of the table against POST /api/serving/simulate asked the same question through
 * app.inject (the number and the text as displayed), the curves against the same answers (one point per
 * concurrency), a "how?" trace, the URL, a bad concurrency list, and that 'ready' waits for the newest settings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ensureWebBuilt, launchBrowser, startServer, type Launched, type Served } from './harness.js';

let server: Served;
let browser: Launched;
let page: Page;

const MODEL = 'Qwen/Qwen3-0.6B';
const GPU = 'h100-sxm-80gb';

type Kind = 'ms' | 'rate' | 'req';
/** The table's columns: the route's field and how the page writes it. */
const FIELDS: [string, Kind][] = [
  ['ttft_ms', 'ms'],
  ['ttft_ms_p90', 'ms'],
  ['ttft_ms_p99', 'ms'],
  ['queue_ms', 'ms'],
  ['prefill_ms', 'ms'],
  ['tpot_ms', 'ms'],
  ['tpot_ms_p90', 'ms'],
  ['tpot_ms_p99', 'ms'],
  ['itl_ms', 'ms'],
  ['e2e_ms', 'ms'],
  ['output_tokens_per_s', 'rate'],
  ['output_tokens_per_s_per_gpu', 'rate'],
  ['output_tokens_per_s_per_user', 'rate'],
  ['goodput_requests_per_s', 'req'],
];

/** Milliseconds: two decimals below 100, whole above; rates: one decimal below 100; requests/s: two decimals. */
function shown(v: number | null, kind: Kind): string {
  if (v === null) return '—';
  const whole = () => Math.round(v).toLocaleString('en-US');
  if (kind === 'ms') return v >= 100 ? whole() : v.toFixed(2);
  if (kind === 'rate') return v >= 100 ? whole() : v.toFixed(1);
  return v.toFixed(2);
}

type Answer = Record<string, number | null> & { gpus: number; trace: { figure: string; value: number }[] };

async function api(body: Record<string, unknown>): Promise<Answer> {
  const r = await server.app.inject({
    method: 'POST',
    url: '/api/serving/simulate?explain=true',
    payload: body,
  });
  expect(r.statusCode, r.body).toBe(200);
  return JSON.parse(r.body) as Answer;
}

/** The request the page should send for one concurrency, written out here (not taken from the page's code). */
function body(o: { engine: string; isl: number; osl: number; concurrency: number; slo_tpot_ms?: number }) {
  return { model: MODEL, gpu: GPU, tp: 1, ep: 1, attention_dp: 1, precision: 'auto', ...o };
}

async function ready(): Promise<void> {
  await page.waitForSelector('body[data-status="ready"]', { timeout: 60_000 });
}

async function setField(selector: string, v: string): Promise<void> {
  await page.fill(selector, v);
  await page.dispatchEvent(selector, 'change');
}

async function rows(): Promise<number[]> {
  return page.$$eval('#serving-table thead th[data-concurrency]', (ths) =>
    ths.map((t) => Number(t.getAttribute('data-concurrency'))),
  );
}

/** Every figure of one row: its data-value and its text. */
async function row(c: number): Promise<Record<string, { value: string; text: string }>> {
  return page.$$eval(
    `[data-testid^="serving-${c}-"]`,
    (els, prefix) =>
      Object.fromEntries(
        els.map((e) => [
          e.getAttribute('data-testid')!.slice(prefix.length),
          { value: e.getAttribute('data-value')!, text: e.textContent!.trim() },
        ]),
      ),
    `serving-${c}-`,
  );
}

async function plotted(id: string): Promise<{ label: string; data: unknown[] }[]> {
  return JSON.parse((await page.getAttribute(`#${id}`, 'data-points')) ?? '[]') as {
    label: string;
    data: unknown[];
  }[];
}

beforeAll(async () => {
  ensureWebBuilt();
  server = await startServer();
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
}, 30_000);

describe('serving view', () => {
  const CONC = [1, 4, 16];
  const settings = { engine: 'sglang', isl: 512, osl: 64 };

  it('simulates each concurrency and shows the API figures, as displayed', async () => {
    await page.goto(`${server.url}/?m=${MODEL}&hw=${GPU}`);
    await ready();
    await page.click('button[data-tab="serving"]');
    await ready();
    await page.selectOption('#serving-engine', settings.engine);
    await setField('#serving-isl', String(settings.isl));
    await setField('#serving-osl', String(settings.osl));
    await setField('#serving-conc', CONC.join(', '));
    await ready();
    expect(await page.getAttribute('[data-testid="serving-progress"]', 'data-pending')).toBe('0');
    expect(await page.textContent('[data-testid="serving-progress"]')).toBe('3 of 3 concurrencies simulated');
    expect(await rows()).toEqual(CONC);
    const url = new URL(page.url());
    expect(url.searchParams.get('tab')).toBe('serving');
    expect(url.searchParams.get('eng')).toBe('sglang');
    expect(url.searchParams.get('conc')).toBe('1,4,16');
    expect(url.searchParams.get('isl')).toBe('512');

    const answers = new Map<number, Answer>();
    for (const c of CONC) answers.set(c, await api(body({ ...settings, concurrency: c })));
    // One concurrency, every figure: the number the API gave, written as the page writes it.
    const a = answers.get(4)!;
    const cells = await row(4);
    expect(Object.keys(cells).sort()).toEqual(FIELDS.map(([k]) => k).sort());
    for (const [k, kind] of FIELDS) {
      const v = a[k] ?? null;
      expect(cells[k]!.value, k).toBe(v === null ? 'null' : String(v));
      expect(cells[k]!.text, k).toBe(shown(v, kind));
    }
    expect(Number(await page.getAttribute('[data-testid="serving-gpus"]', 'data-value'))).toBe(a.gpus);

    // The curves: one point per concurrency, at the API's numbers.
    const pareto = await plotted('serving-pareto-chart');
    expect(pareto[0]!.data).toEqual(
      CONC.map((c) => ({
        x: answers.get(c)!.output_tokens_per_s_per_user,
        y: answers.get(c)!.output_tokens_per_s_per_gpu,
      })),
    );
    for (const [id, keys] of [
      ['serving-ttft-chart', ['ttft_ms', 'ttft_ms_p90', 'ttft_ms_p99']],
      ['serving-tpot-chart', ['tpot_ms', 'tpot_ms_p90', 'tpot_ms_p99']],
    ] as const) {
      const sets = await plotted(id);
      expect(sets.map((s) => s.data)).toEqual(keys.map((k) => CONC.map((c) => answers.get(c)![k])));
    }
    // The curve is drawn: coloured pixels on the canvas.
    const drawn = await page.$eval('#serving-pareto-chart', (c) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3]! > 0) n++;
      return n;
    });
    expect(drawn).toBeGreaterThan(500);
  }, 180_000);

  it('opens the "how?" of a figure with its definition, value and the server trace', async () => {
    await page.locator('[data-testid="serving-4-ttft_ms_p90"] + button.how').click();
    await page.waitForSelector('dialog#explain[open]');
    expect(await page.textContent('#explain-title')).toBe('How? TTFT p90 at 4 users');
    const a = await api(body({ ...settings, concurrency: 4 }));
    const first = (await page.textContent('#explain-body .trace-entry .figure'))!;
    expect(first).toContain('ttft_ms_p90');
    expect(first).toContain(String(+a['ttft_ms_p90']!.toPrecision(6)));
    const figures = await page.$$eval('#explain-body .trace-entry strong', (e) =>
      e.map((x) => x.textContent),
    );
    // The server's own entries for TTFT follow the page's definition.
    const serverTtft = a.trace.filter((t) => /^ttft/.test(t.figure)).map((t) => t.figure);
    expect(serverTtft.length).toBeGreaterThan(0);
    for (const f of serverTtft) expect(figures).toContain(f);
    expect(await page.textContent('#explain-body .source')).toContain('"concurrency":4');
    await page.keyboard.press('Escape');
    // Every chart has its "how?" too.
    for (const id of ['card-serving-ttft', 'card-serving-tpot', 'card-serving-pareto'])
      expect(await page.locator(`#${id} h2 button.how`).count()).toBe(1);
  }, 60_000);

  it("says 'ready' only when the newest settings are all drawn", async () => {
    // Two changes in a row: the first sweep is cut short; the page shows the second's figures only.
    await setField('#serving-conc', '2, 8');
    // Mid-sweep when the page is quick enough to be caught there; either way the second change must win.
    await page
      .waitForSelector('[data-testid="serving-progress"][data-pending="1"]', { timeout: 2_000 })
      .catch(() => undefined);
    await setField('#serving-slo-tpot', '5');
    await ready();
    expect(await rows()).toEqual([2, 8]);
    for (const c of [2, 8]) {
      const a = await api(body({ ...settings, concurrency: c, slo_tpot_ms: 5 }));
      const cells = await row(c);
      expect(cells['goodput_requests_per_s']!.value).toBe(String(a.goodput_requests_per_s));
      expect(cells['tpot_ms']!.text).toBe(shown(a.tpot_ms ?? null, 'ms'));
    }
    expect((await plotted('serving-pareto-chart'))[0]!.data).toHaveLength(2);
    expect(new URL(page.url()).searchParams.get('slo_tpot')).toBe('5');
  }, 120_000);

  it('names a bad concurrency list and keeps the last good one', async () => {
    await setField('#serving-conc', '2, lots');
    expect(await page.textContent('#serving-conc-msg')).toContain("'lots' is not a concurrency");
    expect(new URL(page.url()).searchParams.get('conc')).toBe('2,8');
  }, 30_000);

  it('restores the view from its URL', async () => {
    await page.goto(`${server.url}/?tab=serving&m=${MODEL}&hw=${GPU}&eng=trtllm&isl=256&osl=32&conc=8`);
    await ready();
    expect(await page.inputValue('#serving-conc')).toBe('8');
    expect(await page.inputValue('#serving-engine')).toBe('trtllm');
    const a = await api(body({ engine: 'trtllm', isl: 256, osl: 32, concurrency: 8 }));
    expect((await row(8))['ttft_ms']!.value).toBe(String(a.ttft_ms));
  }, 120_000);
});
