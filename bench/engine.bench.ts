/**
 * Engine speed on a GPT-2-small-shaped model with random weights (12 layers, 768 wide, 50,257 vocabulary, fp32):
 * prefill tokens/s and decode ms/token at batch 1 and 8, beside the memory-bandwidth bound of decode (weight bytes
 * read per step / measured copy bandwidth), and beside the same model in PyTorch eager on the CPU
 * (scripts/engine/torch_bench.py, same shape and method) when /usr/bin/python3 can import torch (Debian's
 * python3-torch). Each batch size runs once to warm up (its prefill is reported as the cold one), then is measured:
 * the median of ENGINE_BENCH_REPEAT prefills, then the median of ENGINE_BENCH_DECODE decode steps.
 * First, in a fresh process, the load of the same shape from a model.safetensors file: time and peak memory.
 * Prints a side-by-side table on stderr and one JSON line on stdout.
 *
 *   npm run bench:engine
 *   ENGINE_BENCH_PROMPT, ENGINE_BENCH_DECODE, ENGINE_BENCH_THREADS (default: all cores) change the run, for both;
 *   ENGINE_BENCH_TORCH=0 skips PyTorch; ENGINE_BENCH_TORCH_OPENBLAS=keep leaves OPENBLAS_* as the environment has
 *   them (by default they are unset for PyTorch: see torchEnv); ENGINE_BENCH_LOAD=0 skips the checkpoint load,
 *   ENGINE_BENCH_CHECKPOINT=DIR loads DIR instead of a written one.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readModelConfig } from '../src/engine/config.js';
import { KvCache } from '../src/engine/kv_cache.js';
import { Model, type ForwardItem } from '../src/engine/model.js';
import { Profiler } from '../src/engine/profiler.js';
import { Rng } from '../src/engine/sampler.js';
import type { TensorData } from '../src/engine/safetensors.js';
import { bindWeights } from '../src/engine/weights.js';
import { progress } from '../scripts/progress.js';
import { gpt2SmallTensors, writeGpt2SmallCheckpoint } from './engine-load.js';

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

/** bench/engine-load.ts's GPT-2-small tensors, as an in-memory checkpoint. */
function randomCheckpoint(): Map<string, TensorData> {
  return new Map(
    Object.entries(gpt2SmallTensors()).map(([k, t]) => [
      k,
      { shape: t.shape, dtype: 'F32' as const, data: t.data },
    ]),
  );
}

/**
 * Loading the same shape from a model.safetensors file (written to a temporary directory, or
 * ENGINE_BENCH_CHECKPOINT), in a fresh process so its peak resident memory is the load's: load time, and peak RSS
 * beside the weight bytes, both as the whole process and as the growth over the process before loading.
 */
function checkpointLoad(): Record<string, unknown> {
  if (process.env['ENGINE_BENCH_LOAD'] === '0') return { measured: false, reason: 'ENGINE_BENCH_LOAD=0' };
  const given = process.env['ENGINE_BENCH_CHECKPOINT'];
  const dir = given ?? mkdtempSync(join(os.tmpdir(), 'infersim-bench-'));
  try {
    if (!given) {
      process.stderr.write('writing a GPT-2-small checkpoint (498 MB) to load…\n');
      writeGpt2SmallCheckpoint(dir);
    }
    process.stderr.write('loading it in a fresh process…\n');
    const script = fileURLToPath(new URL('./engine-load.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, dir], { encoding: 'utf8' });
    if (r.status !== 0) return { measured: false, reason: r.stderr.trim().slice(-500) };
    const m = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    const w = m['weight_bytes']!;
    return {
      ...m,
      peak_over_weights: +(m['peak_rss_bytes']! / w).toFixed(2),
      peak_growth_over_weights: +((m['peak_rss_bytes']! - m['rss_before_bytes']!) / w).toFixed(2),
    };
  } finally {
    if (!given) rmSync(dir, { recursive: true, force: true });
  }
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

// Stages: checkpoint load, model build, batch 1 (warm-up, run), batch 8 (warm-up, run), copy bandwidth, PyTorch.
const bar = progress('bench:engine', 8);
const load = checkpointLoad();
bar.tick('checkpoint load measured');
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
const loadLine =
  load['load_s'] === undefined
    ? `checkpoint load: not measured (${String(load['reason'])})\n`
    : `checkpoint load (model.safetensors, ${(Number(load['weight_bytes']) / 1e6).toFixed(0)} MB of weights): ` +
      `${String(load['load_s'])} s, peak RSS ${(Number(load['peak_rss_bytes']) / 1e6).toFixed(0)} MB = ` +
      `${String(load['peak_over_weights'])}x the weights (${String(load['peak_growth_over_weights'])}x over the ` +
      `process before loading)\n`;
process.stderr.write(
  `${rows.map((r) => r.map((c, i) => String(c).padStart(i ? 19 : 22)).join('')).join('\n')}\n` +
    (torch.available
      ? `torch ${String(torch['torch'])}, ${String(torch['threads'])} threads, BLAS ${String(torch['blas'])}; ${String(torch['environment'])}\n`
      : `torch: not measured (${torch.reason})\n`) +
    loadLine,
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
    checkpoint_load: load,
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
