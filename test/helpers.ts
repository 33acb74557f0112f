import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { specFromConfig } from '../src/core/arch/index.js';

/**
 * ../shared/reference beside the repository (CI clones with shared/ beside it); INFERSIM_REFERENCE overrides it for
 * runs from a copy of the repository (the mutation-testing sandbox).
 */
export const REFERENCE =
  process.env.INFERSIM_REFERENCE ?? fileURLToPath(new URL('../../shared/reference/', import.meta.url));

export function referenceConfig(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(REFERENCE, 'models', file), 'utf8'));
}

export function referenceSpec(file: string) {
  return specFromConfig(referenceConfig(file));
}

export const GiB = 2 ** 30;

/**
 * Inference-fit options of one bf16 sequence of `seq` tokens on one device: an engine's profile step (8,192 tokens,
 * one logits row), no runtime lines, utilisation 0.9; `extra` overrides any of them.
 */
export const fitServe = (seq: number, extra: object = {}) => ({
  precision: 'bf16',
  kvPrecision: 'bf16',
  batch: 1,
  seq,
  plan: { tp: 1, pp: 1, ep: 1 },
  stepTokens: 8192,
  logitsRows: 1,
  runtime: 'none' as const,
  gpuMemoryUtilization: 0.9,
  ...extra,
});
