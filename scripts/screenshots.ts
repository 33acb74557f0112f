/**
 * Screenshots of the main views of the web UI, taken from the real page in headless Chromium, into
 * docs/screenshots/ (the README shows them). Run: npx tsx scripts/screenshots.ts [file.png ...] (only those named).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ensureWebBuilt, launchBrowser, ROOT, startServer } from '../test/browser/harness.js';

const OUT = join(ROOT, 'docs', 'screenshots');

async function ready(page: Page): Promise<void> {
  await page.waitForSelector('body[data-status="ready"]', { timeout: 30_000 });
}

/** Files named on the command line: only those are taken (all when none is named). */
const ONLY = process.argv.slice(2).filter((a) => a.endsWith('.png'));
const wanted = (file: string) => ONLY.length === 0 || ONLY.includes(file);

/** The inference view's charts under TP 2 (per-device memory bars and memory vs length), cropped to the charts. */
async function chartsTp(page: Page, url: string): Promise<void> {
  await page.goto(url + '/?m=meta-llama/Llama-3.1-8B&hw=l40s-48gb&p=bf16&tp=2&b=8&in=3000&out=1000');
  await ready(page);
  await page.waitForSelector('#seq-chart[data-total-bytes]');
  const box = async (sel: string) => (await page.locator(sel).boundingBox())!;
  const [a, b] = [await box('#card-memory'), await box('#card-seq')];
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  await page.screenshot({
    path: join(OUT, 'charts-tp.png'),
    fullPage: true,
    clip: {
      x,
      y,
      width: Math.max(a.x + a.width, b.x + b.width) - x,
      height: Math.max(a.y + a.height, b.y + b.height) - y,
    },
  });
  console.log('docs/screenshots/charts-tp.png');
}

async function main(): Promise<void> {
  ensureWebBuilt();
  mkdirSync(OUT, { recursive: true });
  const server = await startServer({ engine: true });
  const laptop = await launchBrowser({ width: 1440, height: 1000 });
  try {
    const page = await laptop.context.newPage();
    const shots: [string, string][] = [
      ['inference.png', '/?m=meta-llama/Llama-3.3-70B-Instruct&hw=dgx-h100&tp=4&b=16&in=2048&out=512'],
      [
        'compare.png',
        '/?tab=compare&m=Qwen/Qwen3-8B&cmp=Qwen/Qwen3-8B@bf16,Qwen/Qwen3-8B@fp8,meta-llama/Llama-3.1-8B@bf16,mistralai/Mistral-7B-v0.3@int4',
      ],
      ['training.png', '/?tab=training&m=meta-llama/Llama-3.1-8B&lora=16&hw=a100-sxm-80gb'],
      ['serving.png', '/?tab=serving&m=meta-llama/Llama-3.1-8B&hw=h100-sxm-80gb&eng=vllm&slo_tpot=40'],
    ];
    if (wanted('charts-tp.png')) await chartsTp(page, server.url);
    for (const [file, path] of shots) {
      if (!wanted(file)) continue;
      await page.goto(server.url + path);
      await ready(page);
      await page.screenshot({ path: join(OUT, file), fullPage: true });
      console.log(`docs/screenshots/${file}`);
    }
    if (wanted('explain.png') || wanted('engine.png')) {
      await page.goto(server.url + '/?m=meta-llama/Llama-3.1-8B');
      await ready(page);
      await page.locator('#card-speed button.how').first().click();
      await page.waitForSelector('dialog#explain[open]');
      await page.screenshot({ path: join(OUT, 'explain.png') });
      console.log('docs/screenshots/explain.png');
      await page.goto(server.url + '/?tab=engine');
      await page.waitForSelector(
        '#engine-state :is([data-testid="engine-loaded"], [data-testid="engine-not-loaded"])',
      );
      if (await page.locator('[data-testid="engine-loaded"]').count()) {
        await page.fill('#engine-prompt', 'And God said unto Moses');
        await page.fill('#engine-max-tokens', '32');
        await page.click('#engine-generate');
        await page.waitForSelector('#engine-output[data-done="1"]');
        await page.click('#attn-go');
        await page.waitForSelector('#attn-canvas[data-drawn="1"]');
        await page.waitForSelector('#latency-stats');
      }
      await page.screenshot({ path: join(OUT, 'engine.png'), fullPage: true });
      console.log('docs/screenshots/engine.png');
    }
  } finally {
    await laptop.close();
  }
  if (!wanted('phone.png')) {
    await server.close();
    return;
  }
  const phone = await launchBrowser({ width: 390, height: 844 });
  try {
    const page = await phone.context.newPage();
    await page.goto(server.url + '/?m=Qwen/Qwen3-8B&hw=rtx-4090');
    await ready(page);
    await page.screenshot({ path: join(OUT, 'phone.png'), fullPage: true });
    console.log('docs/screenshots/phone.png');
  } finally {
    await phone.close();
    await server.close();
  }
}

await main();
