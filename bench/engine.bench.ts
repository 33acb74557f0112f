/**
 * Engine speed on a GPT-2-small-shaped model with random weights (12 layers, 768 wide, 50,257 vocabulary, fp32):
 * prefill tokens/s and decode ms/token at batch 1 and 8, beside the memory-bandwidth bound of decode (weight bytes
 * read per step / measured copy bandwidth), and beside the same model in PyTorch eager on the CPU
 * (scripts/engine/torch_bench.py, same shape and method) when /usr/bin/python3 can import torch (Debian's
 * python3-torch). Each batch size runs once to warm up (its prefill is reported as the cold one), then is measured:
 * the median of ENGINE_BENCH_REPEAT prefills, then the median of ENGINE_BENCH_DECODE decode steps.
 * Prints a side-by-side table on stderr and one JSON line on stdout.
 *
 *   npm run bench:engine
 *   ENGINE_BENCH_PROMPT, ENGINE_BENCH_DECODE, ENGINE_BENCH_THREADS (default: all cores) change the run, for both;
 *   ENGINE_BENCH_TORCH=0 skips PyTorch; ENGINE_BENCH_TORCH_OPENBLAS=keep leaves OPENBLAS_* as the environment has
 *   them (by default they are unset for PyTorch: see torchEnv).
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { readModelConfig } from '../src/engine/config.js';
import { KvCache } from '../src/engine/kv_cache.js';
import { Model, type ForwardItem } from '../src/engine/model.js';
import { Profiler } from '../src/engine/profiler.js';
import { Rng } from '../src/engine/sampler.js';
import type { TensorData } from '../src/engine/safetensors.js';
import { bindWeights } from '../src/engine/weights.js';
import { progress } from '../scripts/progress.js';

const PROMPT = Number(process.env['ENGINE_BENCH_PROMPT'] ?? 128);
const DECODE = Number(process.env['ENGINE_BENCH_DECODE'] ?? 16);
const THREADS = Number(process.env['ENGINE_BENCH_THREADS'] ?? os.availableParallelism());
/** Prefills per measured run (the median is reported): one ~0.3 s sample is at the mercy of whatever else runs. */
const REPEAT = Number(process.env['ENGINE_BENCH_REPEAT'] ?? 3);
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

/** Milliseconds per op in a profiler, divided by `per` (1 for a total, the step count for a mean per step). */
function opMs(prof: Profiler, per: number): Record<string, number> {
  return Object.fromEntries([...prof.totals].map(([op, s]) => [op, +(s.totalMs / per).toFixed(3)]));
}

async function run(model: Model, batch: number, repeat = REPEAT) {
  const blocksPerSeq = Math.ceil((PROMPT + DECODE) / BLOCK);
  const cache = new KvCache(config, batch * blocksPerSeq, BLOCK);
  const prefillProf = new Profiler();
  const decodeProf = new Profiler();
  const rng = new Rng(batch);
  const items: ForwardItem[] = Array.from({ length: batch }, (_, s) => ({
    tokens: Array.from({ length: PROMPT }, () => Math.floor(rng.next() * 50257)),
    start: 0,
    blockTable: Array.from({ length: blocksPerSeq }, (_, j) => s * blocksPerSeq + j),
  }));
  const prefills: number[] = [];
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    await model.forward(items, cache, null, prefillProf); // the same slots again: each repeat rewrites them
    prefills.push(performance.now() - t0);
  }
  prefills.sort((a, b) => a - b);
  const prefillS = prefills[Math.floor(prefills.length / 2)]! / 1000;
  const steps: number[] = [];
  for (let d = 0; d < DECODE; d++) {
    const step = items.map((it) => ({ tokens: [1 + d], start: PROMPT + d, blockTable: it.blockTable }));
    const s = performance.now();
    await model.forward(step, cache, null, decodeProf);
    steps.push(performance.now() - s);
  }
  steps.sort((a, b) => a - b);
  const median = steps[Math.floor(steps.length / 2)]!;
  return {
    batch,
    prefill_tokens_per_s: +((batch * PROMPT) / prefillS).toFixed(1),
    prefill_ms: +(prefillS * 1000).toFixed(1),
    decode_ms_per_step: +median.toFixed(2),
    decode_ms_per_token: +(median / batch).toFixed(2),
    decode_tokens_per_s: +((1000 * batch) / median).toFixed(1),
    /** Where the time goes: mean ms per op per prefill, and per decode step (all layers). */
    prefill_op_ms: opMs(prefillProf, repeat),
    decode_op_ms_per_step: opMs(decodeProf, DECODE),
  };
}

/**
 * The environment PyTorch runs in. Debian's torch calls the system BLAS (libblas.so.3: OpenBLAS once
 * libopenblas0-pthread is installed, netlib's reference BLAS otherwise). OPENBLAS_CORETYPE=Haswell pins OpenBLAS to
 * its AVX2 kernels; unset, it picks its own for the CPU (AVX-512 ones on this EPYC, about twice the GEMM speed
 * measured here), so by default they are unset (ENGINE_BENCH_TORCH_OPENBLAS=keep leaves them). Torch's OpenMP
 * threads spin while they wait, by default, and on two busy cores that starves OpenBLAS's own threads (batch-8
 * decode measured 6x slower): OMP_WAIT_POLICY=PASSIVE unless set, as the engine's onnxruntime threads sleep too.
 */
function torchEnv(): { env: NodeJS.ProcessEnv; setting: string } {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ENGINE_BENCH_PROMPT: String(PROMPT),
    ENGINE_BENCH_DECODE: String(DECODE),
    ENGINE_BENCH_THREADS: String(THREADS),
    ENGINE_BENCH_REPEAT: String(REPEAT),
  };
  env['OMP_WAIT_POLICY'] ??= 'PASSIVE';
  const omp = `OMP_WAIT_POLICY=${env['OMP_WAIT_POLICY']}`;
  if (process.env['ENGINE_BENCH_TORCH_OPENBLAS'] === 'keep')
    return { env, setting: `OPENBLAS_* as the environment has them, ${omp}` };
  delete env['OPENBLAS_CORETYPE'];
  delete env['OPENBLAS_L2_SIZE'];
  return { env, setting: `OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, ${omp}` };
}

type BatchFigures = Awaited<ReturnType<typeof run>>;
interface TorchFigures {
  available: boolean;
  reason?: string;
  batch1?: BatchFigures;
  batch8?: BatchFigures;
  [k: string]: unknown;
}

/** PyTorch eager on the same model, or why not. Never fails the bench. */
function torchBench(): TorchFigures {
  if (process.env['ENGINE_BENCH_TORCH'] === '0') return { available: false, reason: 'ENGINE_BENCH_TORCH=0' };
  const python = '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    return {
      available: false,
      reason: `${python} cannot import torch (apt-get install python3-torch libopenblas0-pthread): ${(probe.error?.message ?? probe.stderr).trim().split('\n').at(-1)}`,
    };
  const { env, setting } = torchEnv();
  const script = fileURLToPath(new URL('../scripts/engine/torch_bench.py', import.meta.url));
  const r = spawnSync(python, [script], { encoding: 'utf8', env, timeout: 30 * 60_000 });
  const line = r.stdout?.trim().split('\n').at(-1) ?? '';
  try {
    return { available: true, environment: setting, ...(JSON.parse(line) as object) };
  } catch {
    return {
      available: false,
      reason: `torch_bench.py failed: ${(r.error?.message ?? r.stderr).trim().slice(-500)}`,
    };
  }
}

// Stages: load, batch 1 (warm-up, run), batch 8 (warm-up, run), copy bandwidth, PyTorch.
const bar = progress('bench:engine', 7);
const t0 = performance.now();
const weights = bindWeights(config, randomCheckpoint());
const model = await Model.create(config, weights, { threads: THREADS });
const loadS = (performance.now() - t0) / 1000;
bar.tick('model loaded');
const measure = async (batch: number) => {
  const cold = await run(model, batch, 1); // warm-up: the first run of each shape grows onnxruntime's arenas
  bar.tick(`batch ${batch} warm-up`);
  const r = await run(model, batch);
  bar.tick(`batch ${batch} measured`);
  return { ...r, prefill_cold_ms: cold.prefill_ms };
};
const b1 = await measure(1);
const b8 = await measure(8);
await model.release();
const bw = copyBandwidth();
bar.tick('copy bandwidth');
// Decode reads every layer weight and the LM head once per step (the embedding rows it gathers are negligible).
const readPerStep = model.weightBytes - 1024 * 768 * 4;
// The bound: those bytes at the measured copy bandwidth (bytes read + written per second, as STREAM counts them).
const boundMs = (1000 * readPerStep) / bw;
const torch = torchBench();
bar.tick(torch.available ? 'PyTorch measured' : 'PyTorch not available');
bar.stop();

const row = (name: string, f: (b: BatchFigures) => number | string, t = torch) => [
  name,
  f(b1),
  f(b8),
  t.batch1 ? f(t.batch1) : '-',
  t.batch8 ? f(t.batch8) : '-',
];
const rows = [
  ['', 'infersim b=1', 'infersim b=8', 'torch b=1', 'torch b=8'],
  row('prefill tokens/s', (b) => b.prefill_tokens_per_s),
  row(
    'prefill ms (cold)',
    (b) => `${b.prefill_ms} (${(b as { prefill_cold_ms?: number }).prefill_cold_ms ?? '-'})`,
  ),
  row('decode ms/step', (b) => b.decode_ms_per_step),
  row('decode ms/token', (b) => b.decode_ms_per_token),
  ['decode bound ms/step', boundMs.toFixed(2), boundMs.toFixed(2), '', ''],
];
process.stderr.write(
  `${rows.map((r) => r.map((c, i) => String(c).padStart(i ? 19 : 22)).join('')).join('\n')}\n` +
    (torch.available
      ? `torch ${String(torch['torch'])}, ${String(torch['threads'])} threads, BLAS ${String(torch['blas'])}; ${String(torch['environment'])}\n`
      : `torch: not measured (${torch.reason})\n`),
);
console.log(
  JSON.stringify({
    bench: 'engine',
    model: 'gpt2-small shape, random fp32 weights',
    parameters: model.weightBytes / 4,
    weight_bytes: model.weightBytes,
    prompt_tokens: PROMPT,
    decode_steps: DECODE,
    prefill_repeats: REPEAT,
    threads: THREADS,
    load_s: +loadS.toFixed(2),
    batch1: b1,
    batch8: b8,
    copy_bandwidth_gb_per_s: +(bw / 1e9).toFixed(2),
    decode_bound_ms_per_step: +boundMs.toFixed(2),
    decode_vs_bound_batch1: +(b1.decode_ms_per_step / boundMs).toFixed(2),
    decode_vs_bound_batch8: +(b8.decode_ms_per_step / boundMs).toFixed(2),
    torch,
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      node: process.version,
      platform: process.platform,
    },
  }),
);
