/**
 * Load time and peak memory of a checkpoint, measured in a fresh process so its peak RSS is the load's alone:
 * `tsx bench/engine-load.ts DIR` prints one JSON line {load_s, rss_before_bytes, peak_rss_bytes, weight_bytes,
 * file_bytes}. The peak is the process's maximum resident set (getrusage), which counts onnxruntime's native memory.
 * `writeGpt2SmallCheckpoint` writes the GPT-2-small-shaped checkpoint bench:engine loads (random fp32 weights).
 */
import { copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src/engine/engine.js';
import { Rng } from '../src/engine/sampler.js';
import { writeSafetensors } from '../src/engine/safetensors.js';

export const GPT2_SMALL = {
  model_type: 'gpt2',
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  vocab_size: 50257,
  n_positions: 1024,
  tie_word_embeddings: true,
};

/** GPT-2-small's tensors (HF names, Conv1D layouts) with random values; tied head. */
export function gpt2SmallTensors(): Record<string, { shape: number[]; data: Float32Array }> {
  const rng = new Rng(1);
  const H = 768;
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  const add = (name: string, shape: number[], scale: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (rng.next() * 2 - 1) * scale;
    out[name] = { shape, data };
  };
  add('wte.weight', [50257, H], 0.02);
  add('wpe.weight', [1024, H], 0.01);
  add('ln_f.weight', [H], 1);
  add('ln_f.bias', [H], 0);
  for (let i = 0; i < 12; i++) {
    const p = `h.${i}.`;
    add(p + 'ln_1.weight', [H], 1);
    add(p + 'ln_1.bias', [H], 0);
    add(p + 'attn.c_attn.weight', [H, 3 * H], 0.02);
    add(p + 'attn.c_attn.bias', [3 * H], 0);
    add(p + 'attn.c_proj.weight', [H, H], 0.02);
    add(p + 'attn.c_proj.bias', [H], 0);
    add(p + 'ln_2.weight', [H], 1);
    add(p + 'ln_2.bias', [H], 0);
    add(p + 'mlp.c_fc.weight', [H, 4 * H], 0.02);
    add(p + 'mlp.c_fc.bias', [4 * H], 0);
    add(p + 'mlp.c_proj.weight', [4 * H, H], 0.02);
    add(p + 'mlp.c_proj.bias', [H], 0);
  }
  return out;
}

/** A checkpoint directory of GPT-2-small's shape (config.json, model.safetensors, the shipped model's tokenizer). */
export function writeGpt2SmallCheckpoint(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(GPT2_SMALL));
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(gpt2SmallTensors()));
  copyFileSync(
    fileURLToPath(new URL('../models/kjv-llama-tiny/tokenizer.json', import.meta.url)),
    join(dir, 'tokenizer.json'),
  );
}

async function measure(dir: string): Promise<void> {
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
  const e = await Engine.load(dir, { maxModelLen: 256, maxNumSeqs: 1 });
  const loadS = (performance.now() - t0) / 1000;
  const peak = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(
    JSON.stringify({
      load_s: +loadS.toFixed(2),
      rss_before_bytes: before,
      peak_rss_bytes: peak,
      rss_after_bytes: process.memoryUsage().rss,
      weight_bytes: e.model.weightBytes,
      file_bytes: statSync(join(dir, 'model.safetensors')).size,
    }) + '\n',
  );
  await e.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: tsx bench/engine-load.ts CHECKPOINT_DIR');
  await measure(dir);
}
