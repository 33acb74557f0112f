/**
 * Request generation for the /openapi.json-driven fuzz: from each operation's JSON schemas (body, path and query
 * parameters), valid values, boundary values (min/max, empty and full lengths) and malformed ones (wrong types,
 * missing required fields, out of range, NUL bytes, huge numbers, non-JSON). Deterministic from a seed.
 */
export type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number | boolean;
  exclusiveMaximum?: number | boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  additionalProperties?: boolean | Schema;
  nullable?: boolean;
  default?: unknown;
};

export type Mode = 'valid' | 'boundary' | 'malformed';

/** mulberry32: a small seeded generator, enough for reproducible fuzzing. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'llama',
  'meta-llama/Llama-3.1-8B',
  'gpt2',
  'H100',
  'A100-80GB',
  'In the beginning',
  'x',
  'fp16',
];
const NASTY: unknown[] = [
  null,
  '',
  'x\u0000y',
  '../../etc/passwd',
  '%00',
  '\u{1F600}'.repeat(50),
  -1,
  0,
  1e308,
  -1e308,
  2 ** 63,
  0.5,
  true,
  [],
  {},
  JSON.parse('{"__proto__": {"polluted": 1}}') as unknown,
  'a'.repeat(5000),
];

/** Schemas zod writes for numbers and lengths (it may say exclusiveMinimum as a number). */
function bounds(s: Schema): { lo: number; hi: number; int: boolean } {
  const int = s.type === 'integer';
  let lo = s.minimum ?? (typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : -1e6);
  let hi = s.maximum ?? (typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : 1e6);
  if (typeof s.exclusiveMinimum === 'number' || s.exclusiveMinimum === true) lo += int ? 1 : 1e-9;
  if (typeof s.exclusiveMaximum === 'number' || s.exclusiveMaximum === true) hi -= int ? 1 : 1e-9;
  return { lo, hi, int };
}

export class Gen {
  constructor(readonly r: () => number) {}
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }

  /** A value for `s`; `mode` decides how far from the rules it strays. Depth bounds recursion. */
  value(s: Schema | undefined, mode: Mode, depth = 0): unknown {
    if (!s || depth > 6) return mode === 'malformed' ? this.pick(NASTY) : 'x';
    if (mode === 'malformed' && this.chance(0.3)) return this.pick(NASTY);
    const alts = s.anyOf ?? s.oneOf;
    if (alts?.length) return this.value(this.pick(alts), mode, depth + 1);
    if (s.allOf?.length) return this.value(Object.assign({}, ...s.allOf) as Schema, mode, depth + 1);
    if (s.const !== undefined) return s.const;
    if (s.enum?.length) return mode === 'malformed' && this.chance(0.5) ? 'not-an-option' : this.pick(s.enum);
    const type = Array.isArray(s.type) ? this.pick(s.type) : s.type;
    switch (type) {
      case 'integer':
      case 'number':
        return this.number(s, mode);
      case 'string':
        return this.string(s, mode);
      case 'boolean':
        return mode === 'malformed' && this.chance(0.5) ? 'true' : this.chance(0.5);
      case 'array':
        return this.array(s, mode, depth);
      case 'object':
        return this.object(s, mode, depth);
      default:
        return mode === 'malformed' ? this.pick(NASTY) : this.pick(WORDS);
    }
  }

  number(s: Schema, mode: Mode): unknown {
    const { lo, hi, int } = bounds(s);
    if (mode === 'boundary')
      return this.pick([lo, hi, int ? lo + 1 : lo, int ? hi - 1 : hi].filter((v) => v >= lo));
    if (mode === 'malformed')
      return this.pick([lo - 1, hi + 1, int ? lo + 0.5 : '1', -1e300, 1e300, String(lo), 2 ** 53 + 1]);
    // Valid: small values more often (log-uniform over the range), so generation stays short.
    const span = Math.max(0, hi - lo);
    const v = lo + Math.min(span, Math.expm1(this.r() * Math.log1p(Math.min(span, 1e6))));
    return int ? Math.min(hi, Math.max(lo, Math.round(v))) : v;
  }

  string(s: Schema, mode: Mode): unknown {
    const min = s.minLength ?? 0;
    const max = Math.min(s.maxLength ?? 64, 4000);
    if (mode === 'boundary') return this.pick([min, max]) === min ? 'a'.repeat(min) : 'b'.repeat(max);
    if (mode === 'malformed')
      return this.pick([
        'x\u0000y',
        'a'.repeat((s.maxLength ?? 100_000) + 1),
        '',
        42,
        ['x'],
        '\u{1F600}'.repeat(Math.max(1, Math.min(max, 1000))),
      ]);
    const w = this.pick(WORDS);
    return w.length > max ? w.slice(0, max) : w.length < min ? w.padEnd(min, 'x') : w;
  }

  array(s: Schema, mode: Mode, depth: number): unknown {
    const min = s.minItems ?? 0;
    const max = Math.min(s.maxItems ?? 4, 64);
    let n: number;
    if (mode === 'boundary') n = this.pick([min, max]);
    else if (mode === 'malformed') n = this.pick([0, (s.maxItems ?? 64) + 1, min]);
    else n = min + Math.floor(this.r() * (Math.min(max, min + 3) - min + 1));
    // A malformed array holds mostly good items, so the error is about its length or one item.
    return Array.from({ length: Math.min(n, 200) }, (_, i) =>
      this.value(s.items, mode === 'malformed' && i > 0 ? 'valid' : mode, depth + 1),
    );
  }

  object(s: Schema, mode: Mode, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const req = new Set(s.required ?? []);
    const props = Object.entries(s.properties ?? {});
    // Malformed: one field broken (or a required one dropped), the others valid, so the error names it.
    const broken = mode === 'malformed' && props.length ? this.pick(props)[0] : null;
    for (const [k, p] of props) {
      if (k === broken) {
        if (req.has(k) && this.chance(0.3)) continue;
        out[k] = this.value(p, 'malformed', depth + 1);
      } else if (req.has(k) || this.chance(mode === 'boundary' ? 0.8 : 0.5)) {
        out[k] = this.value(p, mode === 'malformed' ? 'valid' : mode, depth + 1);
      }
    }
    if (mode === 'malformed' && (!props.length || this.chance(0.2)))
      out[this.pick(['extra', '__proto__', 'x\u0000'])] = this.pick(NASTY);
    if (!props.length && s.additionalProperties && typeof s.additionalProperties === 'object')
      out['k'] = this.value(s.additionalProperties, mode, depth + 1);
    return out;
  }
}

export interface Operation {
  method: string;
  path: string;
  body?: Schema;
  params: { name: string; in: string; required?: boolean; schema?: Schema }[];
}

/** Every operation of an OpenAPI 3 document. */
export function operations(doc: {
  paths: Record<string, Record<string, Record<string, unknown>>>;
}): Operation[] {
  const out: Operation[] = [];
  for (const [path, ops] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(ops)) {
      const rb = op['requestBody'] as { content?: Record<string, { schema?: Schema }> } | undefined;
      out.push({
        method: method.toUpperCase(),
        path,
        body: rb?.content?.['application/json']?.schema,
        params: (op['parameters'] as Operation['params'] | undefined) ?? [],
      });
    }
  return out;
}

/** One request for `op`: URL with path and query parameters filled, and a JSON payload (or raw text). */
export function request(
  g: Gen,
  op: Operation,
  mode: Mode,
): { method: string; url: string; payload?: string; headers: Record<string, string> } {
  let url = op.path;
  const query: string[] = [];
  for (const p of op.params) {
    const v =
      p.in === 'path'
        ? g.value(p.schema ?? { type: 'string' }, mode === 'malformed' ? 'malformed' : 'valid')
        : null;
    if (p.in === 'path') {
      const text = typeof v === 'string' && v !== '' ? v : g.pick(WORDS);
      // {*} takes a path with slashes; {id} one segment.
      url = url.replace(`{${p.name}}`, p.name === '*' ? encodeURI(text) : encodeURIComponent(text));
    } else if (p.in === 'query' && (p.required || g.chance(0.6))) {
      const q = g.value(p.schema, mode);
      query.push(
        `${encodeURIComponent(p.name)}=${encodeURIComponent(typeof q === 'string' ? q : JSON.stringify(q))}`,
      );
    }
  }
  if (query.length) url += `?${query.join('&')}`;
  const headers: Record<string, string> = {};
  if (!['POST', 'PUT', 'PATCH'].includes(op.method)) return { method: op.method, url, headers };
  headers['content-type'] = 'application/json';
  if (mode === 'malformed' && g.chance(0.15))
    return {
      method: op.method,
      url,
      headers,
      payload: g.pick(['{', '[1,2', '"text"', '42', 'null', '[]', '{"a":' + '['.repeat(100)]),
    };
  return { method: op.method, url, headers, payload: JSON.stringify(g.value(op.body, mode)) };
}
