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
