/**
 * Simulated requests per CPU-second of the serving simulation (core/serving), goal 20,000: a closed loop of 64 users
 * at ISL 1024 / OSL 1024, Llama-3.1-70B FP8 on 4 × H200 (TP 4) under vLLM, 20,000 requests, inter-token latencies
 * collected, estimate only. Beside it, the same on SGLang and TensorRT-LLM and DeepSeek-V3 with attention DP 8.
 * CPU time (process.cpuUsage), not wall time: the figure is per core however busy the machine is.
 * Prints one JSON line.
 */
import os from 'node:os';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../src/catalog/index.js';
import { simulateServing, type EngineId, type ServingInput } from '../src/core/serving/index.js';

const llama = modelSpec(findModel('meta-llama/Llama-3.1-70B-Instruct'));
const dsv3 = modelSpec(findModel('deepseek-ai/DeepSeek-V3'));
const h200 = hardwareSpec(findDevice('h200'));
const N = 20_000;

function input(engine: EngineId, moe = false): ServingInput {
  return {
    spec: moe ? dsv3 : llama,
    hw: h200,
    precision: 'fp8',
    kvPrecision: 'fp8',
    engine,
    agg: {
      plan: moe
        ? { tp: 1, pp: 1, attentionDp: 8, moeTp: 1, moeEp: 8 }
        : { tp: 4, pp: 1, attentionDp: 1, moeTp: 4, moeEp: 1 },
      workers: 1,
    },
    workload: {
      kind: 'closed',
      users: 64,
      numRequests: N,
      input: { kind: 'fixed', value: 1024 },
      output: { kind: 'fixed', value: 1024 },
      seed: 1,
    },
    ideal: false,
  };
}

function perCpuSecond(i: ServingInput): { requests_per_cpu_s: number; cpu_s: number; tpot_ms: number } {
  simulateServing({ ...i, workload: { ...i.workload, numRequests: 640 } as ServingInput['workload'] }); // warm up
  const c0 = process.cpuUsage();
  const r = simulateServing(i);
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  return {
    requests_per_cpu_s: Math.round(N / cpu),
    cpu_s: Number(cpu.toFixed(3)),
    tpot_ms: r.estimate.tpot_s.p50 * 1e3,
  };
}

const main = perCpuSecond(input('vllm'));
const others = {
  sglang: perCpuSecond(input('sglang')).requests_per_cpu_s,
  trtllm: perCpuSecond(input('trtllm')).requests_per_cpu_s,
  deepseek_v3_attention_dp8_vllm: perCpuSecond(input('vllm', true)).requests_per_cpu_s,
};
console.log(
  JSON.stringify({
    bench: 'serving_simulated_requests_per_cpu_s',
    what: 'closed loop 64 users, ISL 1024 / OSL 1024, Llama-3.1-70B FP8, 4 x H200, vLLM, 20000 requests, ITL collected',
    value: main.requests_per_cpu_s,
    unit: 'requests/CPU-s',
    goal: 20000,
    cpu_s: main.cpu_s,
    others,
    cpu: os.cpus()[0]?.model,
    node: process.version,
    single_thread: true,
    checksum: main.tpot_ms > 0,
  }),
);
