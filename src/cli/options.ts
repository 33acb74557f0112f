/** Option parsers shared by the commands: each rejects bad input with a message naming the option. */
import { InvalidArgumentError, type Command } from 'commander';

/**
 * Suffixes as vLLM reads --max-model-len: lowercase decimal (k = 1e3, m = 1e6, g = 1e9), uppercase binary
 * (K = 2^10, M = 2^20, G = 2^30); so `--seq 8K` is 8192 and `--users 1.5k` is 1500.
 */
const SUFFIX: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 };

/** An integer written plainly or with a k/K/m/M/g/G suffix; null when it is not one. */
export function parseCount(v: string): number | null {
  const m = /^(-?\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]) * (m[2] ? SUFFIX[m[2]]! : 1);
  // 1.5K = 1536 is whole; 1.0001k is not a count.
  const r = Math.round(n);
  return Math.abs(n - r) < 1e-9 * Math.max(1, Math.abs(n)) ? r : null;
}

export function int(name: string, min = 1, max = 1e9) {
  return (v: string): number => {
    const n = parseCount(v);
    if (n === null)
      throw new InvalidArgumentError(
        `${name} must be an integer, optionally with a k/K/M suffix as in 8k (8000) or 8K (8192) (got '${v}')`,
      );
    if (n < min || n > max)
      throw new InvalidArgumentError(`${name} must be between ${min} and ${max} (got ${n})`);
    return n;
  };
}

export function fraction(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || n > 1)
      throw new InvalidArgumentError(`${name} must be in (0, 1] (got '${v}')`);
    return n;
  };
}

/** A number in [0, 1] (0 allowed, unlike `fraction`). */
export function unitInterval(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !(n >= 0 && n <= 1))
      throw new InvalidArgumentError(`${name} must be a number from 0 to 1 (got '${v}')`);
    return n;
  };
}

export function choice<T extends string>(name: string, values: readonly T[]) {
  return (v: string): T => {
    if (!values.includes(v as T))
      throw new InvalidArgumentError(`${name} must be one of ${values.join(', ')} (got '${v}')`);
    return v as T;
  };
}

/** Upper bounds that keep every computation finite and fast. */
export const LIMITS = { batch: 1_000_000, seq: 100_000_000, parallel: 4096 } as const;

/** --tp, --pp and --ep, shared by every command that takes a parallel plan. */
export function planOptions(c: Command): Command {
  return c
    .option('--tp <n>', 'tensor-parallel degree', int('--tp', 1, LIMITS.parallel), 1)
    .option('--pp <n>', 'pipeline-parallel degree', int('--pp', 1, LIMITS.parallel), 1)
    .option('--ep <n>', 'expert-parallel degree', int('--ep', 1, LIMITS.parallel), 1);
}

/** --gpu-memory-utilization: the engine's share of the device, for the fit verdict. */
export function utilizationOption(c: Command, def: number): Command {
  return c.option(
    '--gpu-memory-utilization <f>',
    `share of the device's visible memory the engine may use, for the fit verdict (default ${def}, vLLM's)`,
    fraction('--gpu-memory-utilization'),
    def,
  );
}
