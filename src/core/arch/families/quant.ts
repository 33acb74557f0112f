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
  if (method === 'bitsandbytes') {
    const fmt = q['load_in_4bit'] ? (q['bnb_4bit_quant_type'] === 'fp4' ? 'bnb_fp4' : 'nf4') : 'int8';
    return { method, format: fmt, excludedRoles: KEEP_16BIT, blockSize: null };
  }
  return { method, format: method, excludedRoles: KEEP_16BIT, blockSize: block };
}
