/**
 * Request validation for the engine's HTTP routes: read a JSON body field by field, each rule named in the error
 * ("max_tokens must be an integer from 1 to 1024"), so a bad request is a 422 that says what to fix.
 */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Upper bounds of the engine's HTTP inputs. */
export const LIMITS = {
  promptChars: 32_000,
  maxTokens: 1024,
  batch: 32,
  stopStrings: 4,
  stopChars: 64,
  listLength: 4096,
  messages: 64,
} as const;

export class Fields {
  private readonly body: Record<string, unknown>;

  constructor(body: unknown, allowEmpty = true) {
    if (body === undefined || body === null) {
      if (!allowEmpty) throw new FieldError('body', 'request body must be a JSON object');
      this.body = {};
    } else if (typeof body !== 'object' || Array.isArray(body)) {
      throw new FieldError('body', 'request body must be a JSON object');
    } else this.body = body as Record<string, unknown>;
  }

  has(f: string): boolean {
    return this.body[f] !== undefined && this.body[f] !== null;
  }

  raw(f: string): unknown {
    return this.body[f];
  }

  string(f: string, o: { max?: number; allowEmpty?: boolean } = {}): string {
    const v = this.body[f];
    if (typeof v !== 'string') throw new FieldError(f, `${f} is required and must be a string`);
    const max = o.max ?? LIMITS.promptChars;
    if (v.length > max) throw new FieldError(f, `${f} must be at most ${max} characters`);
    if (!o.allowEmpty && v.length === 0) throw new FieldError(f, `${f} must not be empty`);
    return v;
  }

  optString(f: string, fallback: string, max = 256): string {
    return this.has(f) ? this.string(f, { max, allowEmpty: false }) : fallback;
  }

  int(f: string, min: number, max: number, fallback?: number): number {
    if (!this.has(f)) {
      if (fallback === undefined) throw new FieldError(f, `${f} is required`);
      return fallback;
    }
    const v = this.body[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw new FieldError(f, `${f} must be an integer from ${min} to ${max}`);
    return v;
  }

  optInt(f: string, min: number, max: number): number | null {
    return this.has(f) ? this.int(f, min, max) : null;
  }

  number(f: string, min: number, max: number, fallback: number): number {
    if (!this.has(f)) return fallback;
    const v = this.body[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
      throw new FieldError(f, `${f} must be a number from ${min} to ${max}`);
    return v;
  }

  bool(f: string, fallback: boolean): boolean {
    if (!this.has(f)) return fallback;
    const v = this.body[f];
    if (typeof v !== 'boolean') throw new FieldError(f, `${f} must be true or false`);
    return v;
  }

  oneOf<T extends string>(f: string, values: readonly T[], fallback?: T): T {
    if (!this.has(f)) {
      if (fallback === undefined) throw new FieldError(f, `${f} is required (one of ${values.join(', ')})`);
      return fallback;
    }
    const v = this.body[f];
    if (typeof v !== 'string' || !values.includes(v as T))
      throw new FieldError(f, `${f} must be one of ${values.join(', ')}`);
    return v as T;
  }

  array(f: string, min: number, max: number): unknown[] {
    const v = this.body[f];
    if (!Array.isArray(v)) throw new FieldError(f, `${f} is required and must be an array`);
    if (v.length < min || v.length > max) throw new FieldError(f, `${f} must have ${min} to ${max} items`);
    return v;
  }

  intArray(f: string, min: number, max: number, lo: number, hi: number): number[] {
    const v = this.array(f, min, max);
    v.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < lo || x > hi)
        throw new FieldError(`${f}[${i}]`, `${f}[${i}] must be an integer from ${lo} to ${hi}`);
    });
    return v as number[];
  }

  stringArray(f: string, min: number, max: number, maxChars: number): string[] {
    const v = this.array(f, min, max);
    v.forEach((x, i) => {
      if (typeof x !== 'string') throw new FieldError(`${f}[${i}]`, `${f}[${i}] must be a string`);
      if (x.length > maxChars)
        throw new FieldError(`${f}[${i}]`, `${f}[${i}] must be at most ${maxChars} characters`);
    });
    return v as string[];
  }

  /** OpenAI-style stop: a string or a list of strings. */
  stop(f = 'stop'): string[] {
    if (!this.has(f)) return [];
    const v = this.body[f];
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length > LIMITS.stopStrings)
      throw new FieldError(f, `${f} must be a string or a list of at most ${LIMITS.stopStrings} strings`);
    for (const s of list)
      if (typeof s !== 'string' || s.length === 0 || s.length > LIMITS.stopChars)
        throw new FieldError(f, `each ${f} string must have 1 to ${LIMITS.stopChars} characters`);
    return list as string[];
  }
}
