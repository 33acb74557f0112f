/**
 * Engine speed on a GPT-2-small-shaped model with random weights (12 layers, 768 wide, 50,257 vocabulary, fp32):
 * prefill tokens/s and decode ms/token at batch 1 and 8, beside the memory-bandwidth bound of decode (weight
 * bytes read per step / measured copy bandwidth). Prints one JSON line.
 *
 *   npm run bench:engine            (ENGINE_BENCH_PROMPT, ENGINE_BENCH_DECODE, ENGINE_BENCH_THREADS to change)
 */
import os from 'node:os';
import { readModelConfig } from '../src/engine/config.js';
import { KvCache } from '../src/engine/kv_cache.js';
import { Model, type ForwardItem } from '../src/engine/model.js';
import { Profiler } from '../src/engine/profiler.js';
import { Rng } from '../src/engine/sampler.js';
import type { TensorData } from '../src/engine/safetensors.js';
import { bindWeights } from '../src/engine/weights.js';

const PROMPT = Number(process.env['ENGINE_BENCH_PROMPT'] ?? 128);
const DECODE = Number(process.env['ENGINE_BENCH_DECODE'] ?? 16);
const THREADS = Number(process.env['ENGINE_BENCH_THREADS'] ?? os.availableParallelism());
const BLOCK = 16;

const raw = {
  model_type: 'gpt2',
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  vocab_size: 50257,
  n_positions: 1024,
};
const config = readModelConfig(raw);

function randomCheckpoint(): Map<string, TensorData> {
  const rng = new Rng(1);
  const H = 768;
  const m = new Map<string, TensorData>();
  const add = (name: string, shape: number[], scale: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (rng.next() * 2 - 1) * scale;
    m.set(name, { shape, dtype: 'F32', data });
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
  return m;
}

/** Copy bandwidth (read + write bytes per second) over a buffer far larger than the caches. */
function copyBandwidth(): number {
  const a = new Float32Array(64 * 2 ** 20);
  const b = new Float32Array(a.length);
  a.fill(1);
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    b.set(a);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * a.byteLength) / (best / 1000);
}

async function run(model: Model, batch: number) {
  const blocksPerSeq = Math.ceil((PROMPT + DECODE) / BLOCK);
  const cache = new KvCache(config, batch * blocksPerSeq, BLOCK);
  const prof = new Profiler();
  const rng = new Rng(batch);
  const items: ForwardItem[] = Array.from({ length: batch }, (_, s) => ({
    tokens: Array.from({ length: PROMPT }, () => Math.floor(rng.next() * 50257)),
    start: 0,
    blockTable: Array.from({ length: blocksPerSeq }, (_, j) => s * blocksPerSeq + j),
  }));
  const t0 = performance.now();
  await model.forward(items, cache, null, prof);
  const prefillS = (performance.now() - t0) / 1000;
  const steps: number[] = [];
  for (let d = 0; d < DECODE; d++) {
    const step = items.map((it) => ({ tokens: [1 + d], start: PROMPT + d, blockTable: it.blockTable }));
    const s = performance.now();
    await model.forward(step, cache, null, prof);
    steps.push(performance.now() - s);
  }
  steps.sort((a, b) => a - b);
  const median = steps[Math.floor(steps.length / 2)]!;
  const ops = Object.fromEntries([...prof.totals].map(([op, s]) => [op, +(s.totalMs / s.count).toFixed(3)]));
  return {
    batch,
    prefill_tokens_per_s: +((batch * PROMPT) / prefillS).toFixed(1),
    prefill_ms: +(prefillS * 1000).toFixed(1),
    decode_ms_per_step: +median.toFixed(2),
    decode_ms_per_token: +(median / batch).toFixed(2),
    decode_tokens_per_s: +((1000 * batch) / median).toFixed(1),
    mean_op_ms: ops,
  };
}

const t0 = performance.now();
const weights = bindWeights(config, randomCheckpoint());
const model = await Model.create(config, weights, { threads: THREADS });
const loadS = (performance.now() - t0) / 1000;
await run(model, 1); // warm-up
const b1 = await run(model, 1);
const b8 = await run(model, 8);
const bw = copyBandwidth();
// Decode reads every layer weight and the LM head once per step (the embedding rows it gathers are negligible).
const readPerStep = model.weightBytes - 1024 * 768 * 4;
console.log(
  JSON.stringify({
    bench: 'engine',
    model: 'gpt2-small shape, random fp32 weights',
    parameters: model.weightBytes / 4,
    weight_bytes: model.weightBytes,
    prompt_tokens: PROMPT,
    decode_steps: DECODE,
    threads: THREADS,
    load_s: +loadS.toFixed(2),
    batch1: b1,
    batch8: b8,
    copy_bandwidth_gb_per_s: +(bw / 1e9).toFixed(2),
    decode_bound_ms_per_step: +((1000 * readPerStep) / (bw / 2)).toFixed(2),
    decode_vs_bound_batch1: +(b1.decode_ms_per_step / ((1000 * readPerStep) / (bw / 2))).toFixed(2),
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      node: process.version,
      platform: process.platform,
    },
  }),
);
await model.release();
