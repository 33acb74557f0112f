/** Links a device's collectives cross when no system is named: its own interconnect within a node of 8. */
import type { HardwareSpec } from '../hardware/spec.js';
import type { Links } from './step.js';

/** PCIe 4.0 x16 per direction (32 GB/s) for devices without a device-to-device link. */
const PCIE_BYTES_PER_S = 32e9;
/** Per-call latency of an NCCL collective step inside a node, and across nodes over InfiniBand (recalled, 3–8 µs). */
const INTRA_LATENCY_S = 3e-6;
const INTER_LATENCY_S = 8e-6;
/** One 400 Gb/s NIC per GPU. */
const INTER_BYTES_PER_S = 50e9;

export function defaultLinks(hw: HardwareSpec): Links {
  return {
    intra: {
      name: hw.interconnectBytesPerS ? 'device interconnect' : 'PCIe',
      bandwidthBytesPerS: hw.interconnectBytesPerS ?? PCIE_BYTES_PER_S,
      latencyS: INTRA_LATENCY_S,
    },
    inter: { name: 'InfiniBand 400G', bandwidthBytesPerS: INTER_BYTES_PER_S, latencyS: INTER_LATENCY_S },
    devicesPerNode: 8,
  };
}
