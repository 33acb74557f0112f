/** The checkpoint quantisation a config declares (quantization_config), as a storage format for core/numerics. */
import { isObject, type ConfigReader } from '../reader.js';
import type { CheckpointQuant, TensorRole } from '../spec.js';

const KEEP_16BIT: readonly TensorRole[] = ['embedding', 'position', 'lm_head', 'norm', 'router'];

export function checkpointQuant(r: ConfigReader): CheckpointQuant | null {
  const q = r.raw['quantization_config'];
  if (!isObject(q)) return null;
  const method = typeof q['quant_method'] === 'string' ? q['quant_method'] : 'unknown';
  const block = Array.isArray(q['weight_block_size']) ? (q['weight_block_size'] as number[]) : null;
  if (method === 'mxfp4') {
    // gpt-oss: only the MoE expert weights are MXFP4; attention, router, embeddings and head stay bf16.
    return {
      method,
      format: 'mxfp4',
      excludedRoles: [...KEEP_16BIT, 'attention', 'shared_expert'],
      blockSize: null,
    };
  }
  if (method === 'fp8') {
    return { method, format: block ? 'fp8_block' : 'fp8', excludedRoles: KEEP_16BIT, blockSize: block };
  }
  if (method === 'gptq' || method === 'awq') {
    const bits = typeof q['bits'] === 'number' ? q['bits'] : 4;
    const group = typeof q['group_size'] === 'number' ? q['group_size'] : 128;
    return { method, format: `${method}-int${bits}-g${group}`, excludedRoles: KEEP_16BIT, blockSize: null };
  }
  if (method === 'compressed-tensors') return compressedTensors(q, method);
  if (method === 'modelopt') {
    // NVIDIA ModelOpt checkpoints name their algorithm: NVFP4 (16 fp4 + E4M3 scale) or FP8 (per-tensor scales).
    const algo = String(q['quant_algo'] ?? '').toUpperCase();
    const format =
      algo === 'NVFP4' ? 'nvfp4' : algo.startsWith('FP8') ? 'fp8' : `modelopt-${algo.toLowerCase()}`;
    return { method, format, excludedRoles: KEEP_16BIT, blockSize: null };
  }
  if (method === 'fbgemm_fp8') {
    // Meta's FP8 releases (Llama-3.1-405B-Instruct-FP8): fp8 rows with one scale each; attention stays 16-bit.
    return { method, format: 'fp8', excludedRoles: [...KEEP_16BIT, 'attention'], blockSize: null };
  }
  if (method === 'bitsandbytes') {
    const nf4 = q['bnb_4bit_use_double_quant'] ? 'nf4_dq' : 'nf4';
    const fmt = q['load_in_4bit'] ? (q['bnb_4bit_quant_type'] === 'fp4' ? 'bnb_fp4' : nf4) : 'int8';
    return { method, format: fmt, excludedRoles: KEEP_16BIT, blockSize: null };
  }
  return { method, format: method, excludedRoles: KEEP_16BIT, blockSize: block };
}

/**
 * llm-compressor's compressed-tensors: the weights scheme of the config group that targets the linear layers
 * (num_bits, type int|float, strategy, group_size, block_structure) names the storage format.
 */
function compressedTensors(q: Record<string, unknown>, method: string): CheckpointQuant {
  const groups = isObject(q['config_groups']) ? Object.values(q['config_groups']) : [];
  const w = groups.map((g) => (isObject(g) && isObject(g['weights']) ? g['weights'] : null)).find((x) => x);
  const bits = typeof w?.['num_bits'] === 'number' ? w['num_bits'] : null;
  const type = w?.['type'];
  const strategy = w?.['strategy'];
  const group = typeof w?.['group_size'] === 'number' ? w['group_size'] : null;
  const block = Array.isArray(w?.['block_structure']) ? (w['block_structure'] as number[]) : null;
  const fmt = String(q['format'] ?? '');
  let format = `compressed-tensors-${fmt || 'unknown'}`;
  if (type === 'float' && bits === 8) format = strategy === 'block' ? 'fp8_block' : 'fp8';
  else if (type === 'float' && bits === 4)
    format = fmt.startsWith('mxfp4') || group === 32 ? 'mxfp4' : 'nvfp4';
  else if (type === 'int' && bits === 8 && strategy === 'channel') format = 'int8';
  else if (type === 'int' && bits === 4 && w?.['symmetric'] !== false && group === 128) format = 'int4';
  return { method, format, excludedRoles: KEEP_16BIT, blockSize: strategy === 'block' ? block : null };
}
