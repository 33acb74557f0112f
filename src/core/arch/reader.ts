/** Reads fields of a Hugging Face config.json, collecting every missing or malformed field for one clear error. */

export type RawConfig = Record<string, unknown>;

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly missing: readonly string[] = [],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function isObject(v: unknown): v is RawConfig {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class ConfigReader {
  readonly missing: string[] = [];
  readonly invalid: string[] = [];

  constructor(
    readonly raw: RawConfig,
    readonly prefix = '',
  ) {}

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  /** A required positive integer; the first of the names present wins (configs name the same thing differently). */
  int(...keys: string[]): number {
    for (const k of keys) {
      if (this.has(k)) return this.checkInt(k, this.raw[k]);
    }
    this.missing.push(this.prefix + keys.join(' | '));
    return 1;
  }

  /** An optional non-negative integer. */
  optInt(key: string | readonly string[], fallback: number): number;
  optInt(key: string | readonly string[], fallback: null): number | null;
  optInt(key: string | readonly string[], fallback: number | null): number | null {
    for (const k of typeof key === 'string' ? [key] : key) {
      if (this.has(k)) return this.checkInt(k, this.raw[k], true);
    }
    return fallback;
  }

  optNum(key: string, fallback: number): number {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.invalid.push(`${this.prefix}${key} must be a number`);
      return fallback;
    }
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') {
      this.invalid.push(`${this.prefix}${key} must be true or false`);
      return fallback;
    }
    return v;
  }

  str(key: string, fallback: string): string {
    const v = this.raw[key];
    return typeof v === 'string' ? v : fallback;
  }

  sub(key: string): ConfigReader | null {
    const v = this.raw[key];
    if (!isObject(v)) return null;
    const r = new ConfigReader(v, `${this.prefix}${key}.`);
    // Share the error lists so one error names every problem.
    r.missing.push = (...items: string[]) => this.missing.push(...items);
    r.invalid.push = (...items: string[]) => this.invalid.push(...items);
    return r;
  }

  array(key: string): unknown[] | null {
    const v = this.raw[key];
    return Array.isArray(v) ? v : null;
  }

  /** Throws one ConfigError naming every missing and malformed field. */
  done(modelType: string): void {
    if (this.missing.length === 0 && this.invalid.length === 0) return;
    const parts: string[] = [];
    if (this.missing.length) parts.push(`missing ${this.missing.join(', ')}`);
    if (this.invalid.length) parts.push(this.invalid.join('; '));
    throw new ConfigError(`config.json (model_type ${modelType}) cannot be read: ${parts.join('; ')}`, [
      ...this.missing,
    ]);
  }

  private checkInt(key: string, v: unknown, allowZero = false): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < (allowZero ? 0 : 1) || v > 1e12) {
      this.invalid.push(
        `${this.prefix}${key} must be a ${allowZero ? 'non-negative' : 'positive'} integer (got ${JSON.stringify(v)})`,
      );
      return 1;
    }
    return v;
  }
}
