/**
 * Screenshots of the main views of the web UI, taken from the real page in headless Chromium, into
 * docs/screenshots/ (the README shows them). Run: npx tsx scripts/screenshots.ts
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ensureWebBuilt, launchBrowser, ROOT, startServer } from '../test/browser/harness.js';

const OUT = join(ROOT, 'docs', 'screenshots');

async function ready(page: Page): Promise<void> {
  await page.waitForSelector('body[data-status="ready"]', { timeout: 30_000 });
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
    for (const [file, path] of shots) {
      await page.goto(server.url + path);
      await ready(page);
      await page.screenshot({ path: join(OUT, file), fullPage: true });
      console.log(`docs/screenshots/${file}`);
    }
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
  } finally {
    await laptop.close();
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
