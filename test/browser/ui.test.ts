/**
 * The web UI in real headless Chromium (Debian's /usr/bin/chromium through playwright-core): load the page, choose
 * a model and a GPU, see the memory chart and the API's numbers, switch parallelism, open an explain trace,
 * compare, training, and the engine panel. Numbers on the page are checked against the spec endpoints asked the
 * same question through app.inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ensureWebBuilt, launchBrowser, startServer, type Launched, type Served } from './harness.js';

let server: Served;
let browser: Launched;
let page: Page;

const MODEL = 'Qwen/Qwen3-0.6B';
const GPU = 'h100-sxm-80gb';

async function ready(p: Page = page): Promise<void> {
  await p.waitForSelector('body[data-status="ready"]', { timeout: 20_000 });
}

async function value(testid: string): Promise<number> {
  const v = await page.getAttribute(`[data-testid="${testid}"]`, 'data-value');
  return Number(v);
}

async function text(testid: string): Promise<string> {
  return (await page.textContent(`[data-testid="${testid}"]`))?.trim() ?? '';
}

async function setNumber(selector: string, v: number): Promise<void> {
  await page.fill(selector, String(v));
  await page.dispatchEvent(selector, 'change');
}

/**
 * The training panel's figures (component bytes and the peak) checked against POST /api/web/training for the same
 * settings (Qwen3-0.6B, bf16, one sequence of 2048 unless given); returns the API's components.
 */
async function trainingFigures(o: Record<string, unknown>): Promise<Record<string, number>> {
  const api = await inject<{ components_bytes: Record<string, number>; peak_bytes: number }>(
    'POST',
    '/api/web/training',
    { model_id: MODEL, precision: 'bf16', optimizer: 'AdamW', batch_size: 1, seq_len: 2048, ...o },
  );
  expect(api.status).toBe(200);
  const shown = await page.$$eval('[data-testid^="train-"]', (els) =>
    Object.fromEntries(
      els.map((e) => [e.getAttribute('data-testid')!.slice(6), Number(e.getAttribute('data-value'))]),
    ),
  );
  const expected = Object.fromEntries(
    Object.entries(api.body.components_bytes).filter(([, v]) => v > 0),
  ) as Record<string, number>;
  expect(shown).toEqual({ ...expected, peak: api.body.peak_bytes });
  return api.body.components_bytes;
}

async function inject<T>(
  method: 'GET' | 'POST',
  url: string,
  payload?: unknown,
): Promise<{ status: number; body: T }> {
  const r = await server.app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
  return { status: r.statusCode, body: (r.body ? JSON.parse(r.body) : null) as T };
}

/** /config/system-metrics for the page's default question (batch 4, 2,048 tokens) under the given layers. */
function systemPrefill(layers: Record<string, unknown>) {
  return inject<{ prefill: { memory_per_chip_bytes: number; chips_used: number } }>(
    'POST',
    '/config/system-metrics',
    { prefill_req: { model_id: MODEL, hardware_id: GPU, batch_size: 4, seq_len: 2048, layers } },
  );
}

beforeAll(async () => {
  ensureWebBuilt();
  server = await startServer({ engine: true });
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
}, 30_000);

describe('the server serves the built page', () => {
  it('serves index.html at / and its assets, with no reference off the machine', async () => {
    const res = await fetch(server.url + '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(ref).not.toMatch(/^(https?:)?\/\//);
    const js = refs.find((r) => r.endsWith('.js'))!;
    const asset = await fetch(server.url + js);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    // The error contract still holds around the static routes.
    const missing = await fetch(server.url + '/no-such-page');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toHaveProperty('detail');
    const post = await fetch(server.url + '/', { method: 'POST' });
    expect(post.status).toBe(405);
    await post.text();
  });
});

describe('inference view', () => {
  it('chooses a model and a GPU, draws the memory chart and shows the API numbers', async () => {
    await page.goto(server.url + '/');
    await ready();
    await page.fill('#model-search', MODEL);
    await page.press('#model-search', 'Enter');
    await ready();
    await page.selectOption('#hardware', GPU);
    await ready();
    await page.selectOption('#precision', 'fp16');
    await ready();
    await setNumber('#batch', 4);
    await ready();
    await setNumber('#input-len', 1048);
    await ready();
    await setNumber('#output-len', 1000);
    await ready();
    expect(await text('model-name')).toBe('Qwen3 0.6B');

    // The chart is drawn: a sized canvas with coloured pixels.
    const drawn = await page.$eval('#mem-chart', (c) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let coloured = 0;
      for (let i = 0; i < d.length; i += 4)
        if (d[i + 3]! > 0 && !(d[i]! > 240 && d[i + 1]! > 240 && d[i + 2]! > 240)) coloured++;
      return { w: canvas.width, h: canvas.height, coloured };
    });
    expect(drawn.w).toBeGreaterThan(100);
    expect(drawn.coloured).toBeGreaterThan(1000);

    // Memory: the same bytes as /api/models/calculate for the same question on one device.
    const calc = await inject<{
      memory_breakdown: { weight_memory_gb: number };
      memory_breakdown_bytes: Record<string, number>;
      total_memory_bytes: number;
    }>('POST', '/api/models/calculate', {
      model_id: MODEL,
      precision: 'fp16',
      batch_size: 4,
      seq_length: 2048,
      runtime: 'vllm-v1',
    });
    expect(calc.status).toBe(200);
    const b = calc.body.memory_breakdown_bytes;
    expect(await value('mem-weights_bytes')).toBe(b['weight_bytes']);
    expect(await value('mem-kv_cache_bytes')).toBe(b['kv_cache_bytes']);
    expect(await value('mem-activation_bytes')).toBe(b['activation_bytes']);
    expect(await value('mem-overhead_bytes')).toBe(b['extra_work_bytes']);
    expect(await value('mem-total_bytes')).toBe(calc.body.total_memory_bytes);
    expect(await text('mem-weights_bytes')).toBe(
      `${calc.body.memory_breakdown.weight_memory_gb.toFixed(2)} GB`,
    );

    // Speed: the same figures as /api/calculate (seq 2048 = 1048 prompt + 1000 generated, one H100), asked for the
    // calibrated efficiencies the page uses (efficiency_factor null; the spec's default is a flat 0.3).
    const api = await inject<{
      performance: {
        tokens_per_second: number;
        prefill_latency: number;
        token_latency: number;
        bound: { prefill: string; decode: string };
      };
      parallelism: { tensor_parallel_gpus: number; pipeline_parallel_gpus: number };
    }>('POST', '/api/calculate', {
      model_name: MODEL,
      gpu: GPU,
      batch_size: 4,
      seq_length: 2048,
      precision: 'fp16',
      efficiency_factor: null,
    });
    expect(api.status).toBe(200);
    expect(api.body.parallelism.tensor_parallel_gpus * api.body.parallelism.pipeline_parallel_gpus).toBe(1);
    expect(await value('speed-tps')).toBeCloseTo(api.body.performance.tokens_per_second, 6);
    expect(await value('speed-ttft')).toBeCloseTo(api.body.performance.prefill_latency, 9);
    expect(await value('speed-tpot')).toBeCloseTo(api.body.performance.token_latency, 9);
    await expect(page.textContent('#card-speed')).resolves.toContain(api.body.performance.bound.decode);

    // The fit table lists catalog GPUs with how many are needed.
    expect(await text(`need-${GPU}`)).toBe('1');
    expect(await page.locator('#fit-table tbody tr').count()).toBeGreaterThan(10);

    // The state is in the URL: a reload (or a shared link) shows the same view.
    const url = new URL(page.url());
    expect(url.searchParams.get('m')).toBe(MODEL);
    expect(url.searchParams.get('p')).toBe('fp16');
    await page.reload();
    await ready();
    expect(await text('model-name')).toBe('Qwen3 0.6B');
    expect(await value('mem-total_bytes')).toBe(calc.body.total_memory_bytes);
  });

  it('switching parallelism changes the memory per device (as /config/system-metrics says)', async () => {
    const before = await value('mem-weights_bytes');
    await page.selectOption('#tp', '2');
    await ready();
    expect(await text('plan')).toMatch(/TP 2 · PP 1 · EP 1 · CP 1 · DP 1 = 2 devices/);
    const after = await value('mem-weights_bytes');
    expect(after).toBeLessThan(before);
    expect(after).toBeGreaterThan(before / 2 - 1);
    const bars = await page.$eval('#mem-chart', (c) => (c as HTMLCanvasElement).getAttribute('aria-label'));
    expect(bars).toBeTruthy();
    const sys = await systemPrefill({ attention: { tensor_parallel: 2, dtype: 'fp16' } });
    expect(sys.status).toBe(200);
    expect(sys.body.prefill.chips_used).toBe(2);
    expect(await value('mem-total_bytes')).toBeCloseTo(sys.body.prefill.memory_per_chip_bytes, 0);
    expect(new URL(page.url()).searchParams.get('tp')).toBe('2');
  });

  it('context parallel, sequence parallel and DP replicas show the figures of POST /api/web/plan', async () => {
    // TP 2 from the check above; now CP 2, SP on and 2 replicas.
    const kvBefore = await value('mem-kv_cache_bytes');
    await page.selectOption('#cp', '2');
    await ready();
    await page.check('#sp');
    await ready();
    await page.selectOption('#dp-replicas', '2');
    await ready();
    expect(await text('plan')).toMatch(/TP 2 · PP 1 · EP 1 · CP 2 · DP 2 · SP = 8 devices/);
    expect(await page.getAttribute('#mem-chart', 'data-bars')).toBe('8');
    const q = new URL(page.url()).searchParams;
    expect([q.get('cp'), q.get('sp'), q.get('idp')]).toEqual(['2', '1', '2']);

    const api = await inject<{
      devices: number;
      memory_per_device: Record<string, number>;
      capacity: { max_kv_tokens: number; max_concurrency: number };
      performance: {
        estimate: Record<string, number>;
        ideal: Record<string, number>;
        aggregate_tokens_per_s: { estimate: number; ideal: number };
      };
    }>('POST', '/api/web/plan', {
      model_id: MODEL,
      hardware_id: GPU,
      precision: 'fp16',
      batch_size: 4,
      input_len: 1048,
      output_len: 1000,
      tp: 2,
      pp: 1,
      ep: 1,
      cp: 2,
      sp: true,
      dp: 2,
      gpu_memory_utilization: 0.9,
      runtime: 'vllm-v1',
    });
    expect(api.status).toBe(200);
    expect(api.body.devices).toBe(8);
    const m = api.body.memory_per_device;
    const shown = await page.$$eval('#card-memory [data-testid^="mem-"]', (els) =>
      Object.fromEntries(
        els.map((e) => [e.getAttribute('data-testid')!.slice(4), Number(e.getAttribute('data-value'))]),
      ),
    );
    for (const [k, v] of Object.entries(shown)) expect([k, v]).toEqual([k, m[k]]);
    expect(shown['kv_cache_bytes']).toBe(kvBefore / 2);
    expect(await value('max-kv-tokens')).toBe(api.body.capacity.max_kv_tokens);
    expect(await value('max-concurrency')).toBe(api.body.capacity.max_concurrency);
    const e = api.body.performance.estimate;
    const i = api.body.performance.ideal;
    for (const [key, field] of [
      ['ttft', 'ttft_s'],
      ['tpot', 'tpot_s'],
      ['tps', 'tokens_per_s'],
      ['e2e', 'e2e_s'],
    ] as const) {
      expect(await value(`speed-${key}`)).toBe(e[field]);
      expect(await value(`ideal-${key}`)).toBe(i[field]);
    }
    expect(await value('speed-agg-tps')).toBe(api.body.performance.aggregate_tokens_per_s.estimate);
    expect(await value('ideal-agg-tps')).toBe(api.body.performance.aggregate_tokens_per_s.ideal);
    expect(api.body.performance.aggregate_tokens_per_s.estimate).toBeCloseTo(2 * e['tokens_per_s']!, 6);

    // Memory per device as /config/system-metrics says for CP 2 and SP (it has no replicas: memory is per device).
    const sys = await systemPrefill({
      attention: { tensor_parallel: 2, context_parallel: 2, dtype: 'fp16' },
      norm: { sequence_parallel: 2 },
    });
    expect(sys.status).toBe(200);
    expect(sys.body.prefill.chips_used).toBe(4);
    expect(await value('mem-total_bytes')).toBeCloseTo(sys.body.prefill.memory_per_chip_bytes, 0);

    // A shared link shows the same plan.
    await page.reload();
    await ready();
    expect(await text('plan')).toMatch(/CP 2 · DP 2 · SP = 8 devices/);
    expect(await page.isChecked('#sp')).toBe(true);
    expect(await value('mem-total_bytes')).toBe(m['total_bytes']);
  });

  it('opens the explain trace of a number', async () => {
    const kv = await value('mem-kv_cache_bytes');
    await page.click('[data-testid="mem-kv_cache_bytes"] + button.how');
    await page.waitForSelector('dialog#explain[open]');
    const body = (await page.textContent('#explain-body')) ?? '';
    expect(body).toContain('kv_cache_bytes');
    expect(body).toContain(kv.toLocaleString('en-US'));
    expect(await page.locator('#explain-body .trace-entry code.formula').count()).toBeGreaterThan(0);
    await page.click('dialog#explain button.close');
    await page.waitForSelector('dialog#explain', { state: 'hidden' });

    await page.click('[data-testid="speed-ttft"] + button.how');
    await page.waitForSelector('dialog#explain[open]');
    expect(await page.textContent('#explain-body')).toContain('ttft_s (estimate)');
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog#explain', { state: 'hidden' });
    // The ideal figures have their own trace.
    await page.click('[data-testid="ideal-ttft"] + button.how');
    await page.waitForSelector('dialog#explain[open]');
    expect(await page.textContent('#explain-body')).toContain('ttft_s (ideal)');
    await page.keyboard.press('Escape');
    // Every number of the memory and speed cards carries a "how?".
    const bare = await page.$$eval(
      '#card-memory [data-testid][data-value], #card-speed [data-testid][data-value]',
      (els) =>
        els
          .filter((e) => !e.nextElementSibling?.matches('button.how'))
          .map((e) => e.getAttribute('data-testid')),
    );
    expect(bare).toEqual([]);
  });
});

describe('a pasted config.json', () => {
  it('is used inline when the server has no database to import into', async () => {
    const config = {
      model_type: 'llama',
      hidden_size: 1024,
      intermediate_size: 2816,
      num_hidden_layers: 8,
      num_attention_heads: 16,
      num_key_value_heads: 4,
      vocab_size: 32000,
      max_position_embeddings: 4096,
      torch_dtype: 'bfloat16',
    };
    await page.goto(server.url + `/?hw=${GPU}`);
    await ready();
    await page.click('text=Paste a config.json');
    await page.fill('#config-name', 'my-tiny-llama');
    await page.fill('#config-text', JSON.stringify(config));
    await page.click('#config-use');
    await ready();
    expect(await text('model-name')).toBe('pasted config');
    expect(new URL(page.url()).searchParams.get('m')).toBe('pasted:my-tiny-llama');
    const inline = await inject<{ memory_per_device: { weights_bytes: number } }>('POST', '/api/web/plan', {
      config,
      hardware_id: GPU,
      batch_size: 8,
    });
    expect(inline.status).toBe(200);
    expect(await value('mem-weights_bytes')).toBe(inline.body.memory_per_device.weights_bytes);
  });
});

describe('compare and training views', () => {
  it('compares several configurations on one chart', async () => {
    await page.goto(server.url + `/?tab=compare&m=${MODEL}&hw=${GPU}`);
    await ready();
    await page.click('#compare-add-current');
    await ready();
    await page.fill('#compare-search', 'meta-llama/Llama-3.1-8B');
    await page.selectOption('#compare-precision', 'fp8');
    await page.click('#compare-add');
    await ready();
    expect(await page.locator('#compare-table tbody tr').count()).toBe(2);
    const datasets = await page.$eval('#compare-mem-chart', (c) => (c as HTMLCanvasElement).width);
    expect(datasets).toBeGreaterThan(100);
    expect(new URL(page.url()).searchParams.get('cmp')).toBe(`${MODEL}@bf16,meta-llama/Llama-3.1-8B@fp8`);
  });

  it('shows training memory by component equal to /api/memory/training', async () => {
    await page.goto(server.url + `/?tab=training&m=${MODEL}&hw=${GPU}`);
    await ready();
    await page.selectOption('#train-zero', '1');
    await ready();
    await setNumber('#train-dp', 4);
    await ready();
    const api = await inject<{ memory_requirements_bytes: Record<string, number> }>(
      'POST',
      '/api/memory/training',
      {
        model_name: MODEL,
        precision: 'bf16',
        zero_stage: 1,
        data_parallel: 4,
      },
    );
    expect(api.status).toBe(200);
    const m = api.body.memory_requirements_bytes;
    expect(await value('train-peak')).toBe(m['training_memory']);
    expect(await value('train-optimizer_states')).toBe(m['optimizer_states']);
    expect(await value('train-gradients')).toBe(m['gradients']);

    // LoRA, typed as a user does (no explicit change event): once the page says ready, every figure is the one
    // POST /api/web/training (the panel's endpoint) gives for the new settings; far less optimizer state.
    await page.click('#train-lora');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('16');
    await ready();
    const lora = await trainingFigures({ zero_stage: 1, data_parallel: 4, lora_rank: 16 });
    expect(lora['optimizer_states']).toBeLessThan(m['optimizer_states']! / 10);
    expect(lora['lora_adapter']).toBeGreaterThan(0);
    expect(await page.inputValue('#train-lora')).toBe('16');
    // Then the optimizer and the ZeRO stage, one right after the other (no wait between them).
    await page.selectOption('#train-optimizer', 'lion');
    await page.selectOption('#train-zero', '2');
    await ready();
    const lion = await trainingFigures({ optimizer: 'lion', zero_stage: 2, data_parallel: 4, lora_rank: 16 });
    expect(lion['optimizer_states']).toBeLessThan(lora['optimizer_states']!);
    // And back to full fine-tuning with a spinner step: the LoRA adapter goes away.
    await setNumber('#train-lora', 0);
    await ready();
    const full = await trainingFigures({ optimizer: 'lion', zero_stage: 2, data_parallel: 4 });
    expect(full['lora_adapter'] ?? 0).toBe(0);
    const q = new URL(page.url()).searchParams;
    expect([q.get('opt'), q.get('zero'), q.get('dp'), q.get('lora')]).toEqual(['lion', '2', '4', null]);
  });
});

describe('training time card', () => {
  it('shows the fit badge, step time and tokens/s per GPU equal to /api/training/estimate', async () => {
    await page.goto(server.url + `/?tab=training&m=${MODEL}&hw=${GPU}`);
    await ready();
    await page.waitForSelector('[data-testid="tt-step"]');
    const api = await inject<{
      step_time_s: number;
      tokens_per_s_per_gpu: number;
      fits: boolean;
      usd: number;
    }>('POST', '/api/training/estimate', {
      model: MODEL,
      gpu: GPU,
      precision: 'bf16',
      optimizer: 'AdamW',
      micro_batch: 1,
      seq: 2048,
      tokens: 1e9,
    });
    expect(api.status).toBe(200);
    expect(await value('tt-step')).toBe(api.body.step_time_s);
    expect(await value('tt-tps')).toBe(api.body.tokens_per_s_per_gpu);
    expect(await text('tt-fits')).toBe(api.body.fits ? 'fits' : 'does not fit');
    expect(await page.locator('#training-step-chart').count()).toBe(1);
  });
});

describe('engine panel', () => {
  it('streams text equal to the API greedy completion', async () => {
    const probe = await server.app.inject({
      method: 'POST',
      url: '/generate',
      payload: { prompt: 'Hello', max_tokens: 2 },
    });
    await page.goto(server.url + '/?tab=engine');
    await page.waitForSelector(
      '#engine-state :is([data-testid="engine-loaded"], [data-testid="engine-not-loaded"])',
    );
    // The engine and its tiny model ship with the repository: not loading it is a failure, never a skip.
    expect(probe.statusCode, `POST /generate: ${server.engineMissing ?? probe.body}`).toBe(200);
    expect(await page.textContent('#engine-state')).toContain('engine loaded');
    const prompt = 'And God said';
    const greedy = await inject<{ choices: { text: string }[]; usage: { completion_tokens: number } }>(
      'POST',
      '/v1/completions',
      { prompt, max_tokens: 24, temperature: 0 },
    );
    expect(greedy.status).toBe(200);
    const expected = greedy.body.choices[0]!.text;
    expect(expected.length).toBeGreaterThan(0);
    await page.fill('#engine-prompt', prompt);
    await page.fill('#engine-max-tokens', '24');
    await page.fill('#engine-temperature', '0');
    // Stream (/v1/completions, server-sent events, the default): the text grows on the page as the tokens come,
    // and ends as the API's greedy completion of the same prompt.
    expect(await page.inputValue('#engine-mode')).toBe('stream');
    await page.$eval('#engine-output', (o) => {
      const seen: number[] = [];
      (window as unknown as { seen: number[] }).seen = seen;
      new MutationObserver(() => seen.push(o.textContent?.length ?? 0)).observe(o, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    await page.click('#engine-generate');
    await page.waitForSelector('#engine-output[data-done]', { timeout: 60_000 });
    expect(await page.getAttribute('#engine-output', 'data-done')).toBe('1');
    expect(await page.textContent('#engine-output')).toBe(expected);
    const chunks = Number(await page.getAttribute('#engine-output', 'data-chunks'));
    const reads = Number(await page.getAttribute('#engine-output', 'data-reads'));
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    expect(chunks).toBeGreaterThan(1);
    expect(reads).toBeGreaterThan(1);
    // Partial text was on the page before the whole of it.
    expect(seen.filter((n) => n > 0 && n < expected.length).length).toBeGreaterThan(0);
    expect(await page.textContent('#card-engine-generate .status')).toMatch(/streamed/);
    // Complete (/generate): the same greedy text at once.
    await page.selectOption('#engine-mode', 'generate');
    await page.click('#engine-generate');
    await page.waitForSelector('#engine-output[data-done]', { timeout: 60_000 });
    expect(await page.textContent('#engine-output')).toBe(expected);
    // Chat stream (/v1/chat/completions): the deltas are appended as they come.
    await page.selectOption('#engine-mode', 'chat');
    await page.click('#engine-generate');
    await page.waitForSelector('#engine-output[data-done]', { timeout: 60_000 });
    // The page shows what the API's greedy chat completion of the same message says; an empty answer is shown as
    // an empty stream, and only when the API's answer is empty too.
    const chat = await inject<{ choices: { message: { content: string } }[] }>(
      'POST',
      '/v1/chat/completions',
      {
        messages: [{ role: 'user', content: prompt }],
        max_tokens: 24,
        temperature: 0,
      },
    );
    expect(chat.status).toBe(200);
    const chatText = chat.body.choices[0]!.message.content;
    const note = (await page.textContent('#card-engine-generate .status')) ?? '';
    expect(await page.textContent('#engine-output')).toBe(chatText);
    expect(note).toMatch(chatText ? /streamed/ : /without text/);
    // Attention heat map of layer 0, head 0; the cache and latency statistics.
    await page.click('#attn-go');
    await page.waitForSelector('#attn-canvas[data-drawn="1"]', { timeout: 30_000 });
    expect(await page.textContent('#attn-info')).toMatch(/\d+ tokens/);
    await page.waitForSelector('#cache-stats');
    await page.waitForSelector('#latency-stats');
  }, 120_000);
});

describe('a phone screen', () => {
  it('shows every view without sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const views = [
      `/?m=Qwen/Qwen3-8B&hw=rtx-4090&tp=2&cp=2&sp=1&idp=2`,
      `/?tab=compare&m=${MODEL}&hw=${GPU}&cmp=${MODEL}@bf16,${MODEL}@fp8`,
      `/?tab=training&m=${MODEL}&hw=${GPU}&lora=16`,
    ];
    for (const path of views) {
      await page.goto(server.url + path);
      await ready();
      const wide = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        view: window.innerWidth,
        // The outermost elements that reach past the right edge (for the failure message).
        past: [...document.querySelectorAll<HTMLElement>('body *')]
          .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
          .filter(
            (e) => !e.parentElement || e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1,
          )
          .slice(0, 5)
          .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`),
      }));
      expect({ path, ...wide, fits: wide.scroll <= wide.view }).toMatchObject({ path, fits: true });
    }
    // The training view hides the sidebar's inference-only settings.
    expect(await page.isVisible('#batch')).toBe(false);
    expect(await page.isVisible('#hardware')).toBe(true);
  });
});
