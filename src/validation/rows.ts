/**
 * The measured throughput rows of ../shared/reference/calibration/throughput.json, each turned into the question
 * infersim answers for it (model, device, plan, precision, lengths) and the figure it predicts.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { catalog, findDevice, hardwareSpec, modelSpec } from '../catalog/index.js';
import type { ModelSpec } from '../core/arch/spec.js';
import type { HardwareSpec } from '../core/hardware/spec.js';
import type { Efficiency } from '../core/perf/efficiency.js';
import { perf } from '../core/perf/latency.js';
import { offlineThroughput } from '../core/perf/throughput.js';

/** INFERSIM_REFERENCE overrides it for runs from a copy of the repository (the mutation-testing sandbox). */
export const REFERENCE_DIR =
  process.env.INFERSIM_REFERENCE ?? fileURLToPath(new URL('../../../shared/reference/', import.meta.url));

export interface MeasuredRow {
  source_group: string;
  model: string;
  gpu: string;
  num_gpus: number;
  parallelism: string;
  precision: string;
  batch_size?: number;
  input_len: number;
  output_len?: number | null;
  metric: string;
  value: number;
}

export type RowGroup = 'throughput' | 'static_batch' | 'batch1_decode';

export interface Case {
  row: MeasuredRow;
  group: RowGroup;
  spec: ModelSpec;
  hw: HardwareSpec;
  predict: (eff?: Efficiency) => { estimate: number; ideal: number };
}

export function loadRows(dir = REFERENCE_DIR): MeasuredRow[] {
  return JSON.parse(readFileSync(`${dir}calibration/throughput.json`, 'utf8')).rows as MeasuredRow[];
}

function findSpec(name: string): ModelSpec {
  const c = catalog().models;
  const hit = c.find(name) ?? c.find(name.replace(/-Instruct$/, '')) ?? c.find(`${name}-Instruct`);
  if (!hit) throw new Error(`calibration row names a model not in the catalog: ${name}`);
  return modelSpec(hit);
}

function findHw(gpu: string): HardwareSpec {
  if (/MI250X.*GCD/i.test(gpu)) return hardwareSpec(findDevice('mi250x-gcd'));
  return hardwareSpec(findDevice(gpu.replace(/\(.*\)/, '').trim()));
}

/** Weight and KV formats of a row's precision label (FP8 checkpoints run with an FP8 KV cache in TensorRT-LLM). */
function formats(p: string): { precision: string; kv: string } {
  const l = p.toLowerCase();
  if (l === 'fp8') return { precision: 'fp8', kv: 'fp8' };
  if (l === 'fp4') return { precision: 'nvfp4', kv: 'fp8' };
  if (l === 'int8') return { precision: 'int8', kv: 'bf16' };
  if (l === 'int4-g32') return { precision: 'int4-g32', kv: 'bf16' };
  return { precision: l, kv: l };
}

function plan(row: MeasuredRow) {
  const tp = Number(/TP(\d+)/.exec(row.parallelism)?.[1] ?? 1);
  const pp = Number(/PP(\d+)/.exec(row.parallelism)?.[1] ?? 1);
  const ep = Number(/EP(\d+)/.exec(row.parallelism)?.[1] ?? 1);
  return { tp, pp, ep };
}

export function toCase(row: MeasuredRow): Case {
  const spec = findSpec(row.model);
  const hw = findHw(row.gpu);
  const f = formats(row.precision);
  const p = plan(row);
  if (row.metric === 'total_output_throughput_tokens_per_s') {
    return {
      row,
      group: 'throughput',
      spec,
      hw,
      predict: (eff) => {
        const r = offlineThroughput(spec, hw, {
          precision: f.precision,
          kvPrecision: f.kv,
          plan: p,
          inputLen: row.input_len,
          outputLen: row.output_len!,
          gpuMemoryUtilization: 0.9,
          efficiency: eff,
        });
        return { estimate: r.output_tokens_per_s, ideal: r.ideal.output_tokens_per_s };
      },
    };
  }
  const batch = row.batch_size ?? 1;
  /** The latency model on this row's model, device, formats, prompt and plan. */
  const run = (b: number, outputLen: number, eff: Efficiency | undefined) =>
    perf(spec, hw, {
      precision: f.precision,
      kvPrecision: f.kv,
      batch: b,
      inputLen: row.input_len,
      outputLen,
      plan: p,
      efficiency: eff,
    });
  if (row.output_len) {
    // Static batching (TensorRT-LLM v0.5 blog): one batch prefilled, then decoded to output_len.
    return {
      row,
      group: 'static_batch',
      spec,
      hw,
      predict: (eff) => {
        const r = run(batch, row.output_len!, eff);
        const per = row.metric.endsWith('per_gpu') ? row.num_gpus : 1;
        const est = (batch * row.output_len!) / (r.ttft_s + row.output_len! * r.tpot_s) / per;
        const ideal = (batch * row.output_len!) / (r.ideal.ttft_s + row.output_len! * r.ideal.tpot_s) / per;
        return { estimate: est, ideal };
      },
    };
  }
  // Batch-1 decode speed (gpt-fast generates 200 tokens after a 5-token prompt).
  return {
    row,
    group: 'batch1_decode',
    spec,
    hw,
    predict: (eff) => {
      const r = run(1, 200, eff);
      return { estimate: 1 / r.tpot_s, ideal: 1 / r.ideal.tpot_s };
    },
  };
}

export interface Scored {
  row: MeasuredRow;
  group: RowGroup;
  hwClass: string;
  measured: number;
  estimate: number;
  ideal: number;
  estimateError: number;
  idealError: number;
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
