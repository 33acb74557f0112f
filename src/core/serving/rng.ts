/**
 * A small seeded PRNG (mulberry32, public domain, by Tommy Ettinger) and the length distributions the workloads
 * draw from. Deterministic: the same seed gives the same sequence on every platform (32-bit integer arithmetic).
 */

export type Rng = () => number;

/** Uniform in [0, 1), 2^32 states. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal by Box–Muller (one draw per call; the second value is dropped to keep the stream simple). */
export function normal(rng: Rng): number {
  const u = 1 - rng(); // (0, 1]: log(0) never happens
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Exponential with the given mean (inter-arrival gaps of a Poisson process). */
export function exponential(rng: Rng, mean: number): number {
  return -Math.log(1 - rng()) * mean;
}

/** A token-length distribution: fixed, uniform in [min, max], normal clipped to [min, max], or lognormal. */
export type LengthDist =
  | { kind: 'fixed'; value: number }
  | { kind: 'uniform'; min: number; max: number }
  | { kind: 'normal'; mean: number; std: number; min: number; max: number }
  | { kind: 'lognormal'; median: number; sigma: number; min: number; max: number };

/** One integer length ≥ 1 drawn from `d`. */
export function drawLength(d: LengthDist, rng: Rng): number {
  switch (d.kind) {
    case 'fixed':
      return d.value;
    case 'uniform':
      return d.min + Math.floor(rng() * (d.max - d.min + 1));
    case 'normal':
      return clampInt(d.mean + d.std * normal(rng), d.min, d.max);
    case 'lognormal':
      return clampInt(d.median * Math.exp(d.sigma * normal(rng)), d.min, d.max);
  }
}

function clampInt(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.max(1, Math.round(x))));
}

export function meanLength(d: LengthDist): number {
  switch (d.kind) {
    case 'fixed':
      return d.value;
    case 'uniform':
      return (d.min + d.max) / 2;
    case 'normal':
      return d.mean;
    case 'lognormal':
      return d.median * Math.exp((d.sigma * d.sigma) / 2);
  }
}

export function maxLength(d: LengthDist): number {
  return d.kind === 'fixed' ? d.value : d.max;
}
