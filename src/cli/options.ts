/** Option parsers shared by the commands: each rejects bad input with a message naming the option. */
import { InvalidArgumentError, type Command } from 'commander';

export function int(name: string, min = 1, max = 1e9) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be an integer (got '${v}')`);
    const n = Number(v);
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
