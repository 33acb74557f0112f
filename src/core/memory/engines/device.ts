/** Settings every engine profile resolves the same way: device total, parallel plan, dtypes, max_model_len. */
import type { ModelSpec } from '../../arch/spec.js';
import { DRIVER_RESERVED_FRACTION, type HardwareSpec } from '../../hardware/spec.js';
import { kvElementBytes, normaliseFormatId } from '../../numerics/formats.js';
import { validatePlan, type ParallelPlan } from '../../parallel/plan.js';
import { InputError, modelDtype } from '../inference.js';
import { activationBytes, type UncertainTerm } from './common.js';
import type { EngineOptions } from './types.js';

/**
 * Memory CUDA reports for the device (torch.cuda.mem_get_info total): never more than nvidia-smi's total, and
 * the driver's reserve as measured on an 80 GiB H100 (79.22 GiB, vLLM PR #10511) scaled to the device.
 */
export function cudaTotalBytes(hw: HardwareSpec): number {
  return Math.min(hw.visibleMemoryBytes, hw.memoryBytes * (1 - DRIVER_RESERVED_FRACTION));
}

export interface Resolved {
  plan: ParallelPlan;
  dtype: 'fp16' | 'bf16' | 'fp32';
  b: number;
  kvCacheDtype: string;
  kvBytes: number;
  maxModelLen: number;
  deviceTotal: number;
  precision: string;
}

export function resolveCommon(
  spec: ModelSpec,
  hw: HardwareSpec,
  o: EngineOptions,
  uncertain: UncertainTerm[],
): Resolved {
  const plan = o.plan ?? { tp: 1, pp: 1, ep: 1 };
  validatePlan(spec, plan);
  // 'auto' runs fp32 checkpoints in bf16 (vLLM and SGLang downcast float32 configs on GPUs with bf16).
  const dt = !o.dtype || o.dtype === 'auto' ? modelDtype(spec) : normaliseFormatId(o.dtype);
  if (dt !== 'fp16' && dt !== 'bf16' && dt !== 'fp32')
    throw new InputError(`dtype must be auto, bf16, fp16 or fp32 (got '${o.dtype}')`);
  const dtype = (!o.dtype || o.dtype === 'auto') && dt === 'fp32' ? 'bf16' : dt;
  const kvCacheDtype =
    !o.kvCacheDtype || o.kvCacheDtype === 'auto' ? dtype : normaliseFormatId(o.kvCacheDtype);
  const kvBytes = kvElementBytes(kvCacheDtype);
  if (kvBytes === null) throw new InputError(`unknown kv cache dtype '${o.kvCacheDtype}'`);
  const maxPos = spec.maxPositionEmbeddings;
  const maxModelLen = o.maxModelLen ?? maxPos ?? 4096;
  if (!Number.isInteger(maxModelLen) || maxModelLen < 1)
    throw new InputError(`max_model_len must be a positive integer (got ${maxModelLen})`);
  if (maxPos !== null && maxModelLen > maxPos)
    throw new InputError(
      `max_model_len ${maxModelLen} is longer than the model's max_position_embeddings ${maxPos}`,
    );
  if (o.deviceTotalBytes !== undefined && !(o.deviceTotalBytes > 0))
    throw new InputError(`device total memory must be positive (got ${o.deviceTotalBytes})`);
  if (o.deviceTotalBytes === undefined)
    uncertain.push({
      term: 'device_total',
      note: 'memory CUDA reports is taken as the datasheet bytes less the driver reserve measured on an H100; pass the total your engine logs',
    });
  return {
    plan,
    dtype,
    b: activationBytes(dtype),
    kvCacheDtype,
    kvBytes,
    maxModelLen,
    deviceTotal: o.deviceTotalBytes ?? cudaTotalBytes(hw),
    // An unquantised checkpoint is loaded in the compute dtype (--dtype float32 doubles a bf16 checkpoint).
    precision: (o.precision ?? 'auto') === 'auto' && !spec.checkpointQuant ? dtype : (o.precision ?? 'auto'),
  };
}

export function checkFraction(name: string, f: number): void {
  if (!(f > 0 && f <= 1)) throw new InputError(`${name} must be in (0, 1] (got ${f})`);
}

export function checkPositive(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 1))
    throw new InputError(`${name} must be a positive integer (got ${v})`);
}
