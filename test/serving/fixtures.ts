/**
 * The simulator's smallest deployment, shared by the serving tests: Llama-3.1-8B in BF16 on one H100 with vLLM,
 * no ideal bound. `over` replaces any field (the workload always).
 */
import { findDevice, findModel, hardwareSpec, modelSpec } from '../../src/catalog/index.js';
import type { ServingInput } from '../../src/core/serving/index.js';

export const llama8b = modelSpec(findModel('meta-llama/Llama-3.1-8B'));
export const h100 = hardwareSpec(findDevice('h100'));
export const plan1 = { tp: 1, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 1 };

export function oneH100(workload: ServingInput['workload'], over: Partial<ServingInput> = {}): ServingInput {
  return {
    spec: llama8b,
    hw: h100,
    precision: 'bf16',
    kvPrecision: 'bf16',
    engine: 'vllm',
    agg: { plan: plan1, workers: 1 },
    workload,
    ideal: false,
    ...over,
  };
}
