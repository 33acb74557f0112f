/** Shared helpers for the engine tests: fixture paths, golden logits, a one-sequence forward through the engine. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readModelConfig } from '../../src/engine/config.js';
import { KvCache } from '../../src/engine/kv_cache.js';
import { Model } from '../../src/engine/model.js';
import { Profiler } from '../../src/engine/profiler.js';
import { readCheckpoint } from '../../src/engine/safetensors.js';
import { bindWeights } from '../../src/engine/weights.js';

/** The shipped tiny model (scripts/engine/train_tiny.py). */
export const MODEL_DIR = fileURLToPath(new URL('../../models/kjv-llama-tiny/', import.meta.url));

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export interface Golden {
  tokens: number[];
  logits: number[][];
}

export function golden(name: string): Golden {
  return JSON.parse(readFileSync(join(FIXTURES, name, 'golden.json'), 'utf8')) as Golden;
}

export async function loadFixture(name: string) {
  const dir = join(FIXTURES, name);
  const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const config = readModelConfig(raw);
  const weights = bindWeights(config, readCheckpoint(dir));
  const model = await Model.create(config, weights, { threads: 1 });
  return { dir, raw, config, weights, model };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Blocks 0..n-1 in order, for a single sequence in a fresh cache. */
export function identityTable(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

export { KvCache, Profiler };
