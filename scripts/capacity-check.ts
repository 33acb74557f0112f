/**
 * Predicted vs measured vLLM capacity for every record of shared/reference/calibration/vllm-logs.json
 * (`npm run capacity:check`). Nothing here is fitted: the records only supply launch settings and the
 * measured figures to compare with.
 */
import { findDevice, findModel, hardwareSpec, modelSpec } from '../src/catalog/index.js';
import { engineKvCapacity } from '../src/core/memory/engines/index.js';
import { num, recordOptions, VLLM_LOGS } from '../test/vllm-logs.js';

const GiB = 2 ** 30;
const hw = hardwareSpec(findDevice('h100-sxm-80gb'));
const rows: string[][] = [];
const errors: number[] = [];
for (const r of VLLM_LOGS) {
  const c = engineKvCapacity(modelSpec(findModel(r.model)), hw, { engine: 'vllm', ...recordOptions(r) });
  const kv = c.kv_cache_bytes_available / GiB;
  const measured = num(r.values['available_kv_cache_memory']!);
  const err = kv / measured - 1;
  errors.push(err);
  rows.push([
    r.id,
    r.model,
    `${r.tp}/${r.pp}`,
    (c.weights_bytes / GiB).toFixed(2),
    num(r.values['model_loading_GiB']!).toFixed(2),
    kv.toFixed(2),
    measured.toFixed(2),
    `${(100 * err).toFixed(2)}%`,
    c.max_kv_tokens.toLocaleString('en-US'),
    num(r.values['gpu_kv_cache_size']!).toLocaleString('en-US'),
    `${c.max_concurrency.toFixed(2)}x`,
    `${num(r.values['max_concurrency']!).toFixed(2)}x`,
  ]);
}
const head = [
  'id',
  'model',
  'tp/pp',
  'weights',
  'meas',
  'KV GiB',
  'meas',
  'error',
  'KV tokens',
  'meas',
  'conc',
  'meas',
];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
console.log(line(head));
for (const r of rows) console.log(line(r));
const abs = errors.map(Math.abs).sort((a, b) => a - b);
const median = (abs[(abs.length - 1) >> 1]! + abs[abs.length >> 1]!) / 2;
console.log(
  `\nmedian |error| ${(100 * median).toFixed(2)}%, max |error| ${(100 * abs[abs.length - 1]!).toFixed(2)}%, ` +
    `largest over ${(100 * Math.max(...errors)).toFixed(2)}% (GiB as vLLM prints them; weights per rank)`,
);
