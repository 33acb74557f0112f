/** A device as the core uses it: SI units, dense throughput only. The catalog's sourced data maps onto this. */
export type ComputeDtype = 'fp32' | 'tf32' | 'bf16' | 'fp16' | 'fp8' | 'int8' | 'fp4' | 'int4';

export const COMPUTE_DTYPES: readonly ComputeDtype[] = [
  'fp32',
  'tf32',
  'bf16',
  'fp16',
  'fp8',
  'int8',
  'fp4',
  'int4',
];

export interface HardwareSpec {
  id: string;
  name: string;
  vendor: string;
  kind: string;
  /** Microarchitecture as the vendor names it (Hopper, Blackwell, CDNA 3, ...). */
  architecture: string;
  /** Memory the device has, in bytes (an "80 GB" H100 has 80 GiB). */
  memoryBytes: number;
  /** Memory a process can use: the device's bytes less what the driver reserves. */
  visibleMemoryBytes: number;
  memoryBandwidthBytesPerS: number;
  /** Dense (never 2:4 sparse) peak per dtype, FLOP/s or OP/s. */
  denseFlops: Partial<Record<ComputeDtype, number>>;
  /** Per-GPU, per-direction bandwidth of the fast device-to-device link; null when none. */
  interconnectBytesPerS: number | null;
  tdpW: number | null;
}

/**
 * Memory the driver keeps for itself: vLLM reports total_gpu_memory 79.22 GiB on an 80 GiB H100
 * (vllm-project/vllm PR #10511), 0.78 GiB or 0.98% less. Used where a device has no measured figure.
 */
export const DRIVER_RESERVED_FRACTION = 1 - 79.22 / 80;

/** Which dtype's throughput a weight format computes at (weight-only int4/nf4 formats dequantise to 16 bit). */
export function computeDtypeFor(precision: string, hw: HardwareSpec): ComputeDtype | null {
  const p = precision.toLowerCase();
  const candidates: ComputeDtype[] =
    p === 'fp32'
      ? ['fp32']
      : p.startsWith('fp8')
        ? ['fp8']
        : p === 'int8'
          ? ['int8']
          : p === 'nvfp4' || p === 'mxfp4'
            ? ['fp4', 'fp8', 'bf16']
            : p === 'fp16'
              ? ['fp16', 'bf16']
              : ['bf16', 'fp16'];
  for (const c of candidates) if (hw.denseFlops[c]) return c;
  return null;
}

/** The efficiency class a device is calibrated in: vendor and generation. */
export function hardwareClass(hw: Pick<HardwareSpec, 'vendor' | 'architecture' | 'kind'>): string {
  const a = hw.architecture.toLowerCase();
  if (hw.vendor === 'NVIDIA') {
    if (a.startsWith('blackwell')) return 'nvidia-blackwell';
    if (a.startsWith('hopper')) return 'nvidia-hopper';
    if (a.startsWith('ampere') || a.startsWith('ada')) return 'nvidia-ampere';
    return 'nvidia-older';
  }
  if (hw.vendor === 'AMD' && hw.kind !== 'cpu') return 'amd-cdna';
  return 'other';
}
