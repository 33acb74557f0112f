/**
 * The config.json reader: which key wins, what counts as absent, which values are refused and the one error that
 * names every problem. Expectations follow from the reader's contract (positive integers up to 1e12, null = absent).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigReader, isObject } from '../../src/core/arch/reader.js';

describe('ConfigReader.has / int: the first present name wins, null counts as absent', () => {
  const r = new ConfigReader({ a: 4, b: null, c: 0, x: 7 });
  it('has: present (even 0) vs absent or null', () => {
    expect(r.has('a')).toBe(true);
    expect(r.has('c')).toBe(true);
    expect(r.has('b')).toBe(false);
    expect(r.has('zz')).toBe(false);
  });
  it('int: skips absent and null names, takes the first present one in argument order', () => {
    expect(r.int('zz', 'a')).toBe(4);
    expect(r.int('b', 'a')).toBe(4);
    expect(r.int('a', 'x')).toBe(4);
    expect(r.int('x', 'a')).toBe(7);
    expect(r.missing).toEqual([]);
    expect(r.invalid).toEqual([]);
  });
  it('int: a missing field is recorded under all its names and reads as 1', () => {
    const m = new ConfigReader({ b: null }, 'text_config.');
    expect(m.int('nope', 'b')).toBe(1);
    expect(m.missing).toEqual(['text_config.nope | b']);
  });
});

describe('ConfigReader: integer checks (positive for int, non-negative for optInt, at most 1e12)', () => {
  it('int refuses 0, negatives, fractions, strings and values over 1e12, naming the value', () => {
    const r = new ConfigReader({ z: 0, n: -3, f: 2.5, s: '8', big: 1e12 + 1, ok: 1e12, one: 1 });
    expect(r.int('ok')).toBe(1e12);
    expect(r.int('one')).toBe(1);
    expect(r.invalid).toEqual([]);
    for (const k of ['z', 'n', 'f', 's', 'big']) expect(r.int(k)).toBe(1);
    expect(r.invalid).toEqual([
      'z must be a positive integer (got 0)',
      'n must be a positive integer (got -3)',
      'f must be a positive integer (got 2.5)',
      's must be a positive integer (got "8")',
      'big must be a positive integer (got 1000000000001)',
    ]);
  });
  it('optInt accepts 0, takes the first present of several names, else the fallback (number or null)', () => {
    const r = new ConfigReader({ z: 0, a: 5, b: null, neg: -1 });
    expect(r.optInt('z', 9)).toBe(0);
    expect(r.optInt(['zz', 'b', 'a'], 9)).toBe(5);
    expect(r.optInt('zz', 9)).toBe(9);
    expect(r.optInt('b', null)).toBeNull();
    expect(r.invalid).toEqual([]);
    expect(r.optInt('neg', 9)).toBe(1);
    expect(r.invalid).toEqual(['neg must be a non-negative integer (got -1)']);
    expect(r.missing).toEqual([]);
  });
});

describe('ConfigReader: numbers, booleans, strings, arrays', () => {
  it('optNum: finite numbers only; absent or null gives the fallback', () => {
    const r = new ConfigReader({ x: 0.5, zero: 0, n: null, s: '1', nan: NaN, inf: Infinity });
    expect(r.optNum('x', 3)).toBe(0.5);
    expect(r.optNum('zero', 3)).toBe(0);
    expect(r.optNum('n', 3)).toBe(3);
    expect(r.optNum('absent', 3)).toBe(3);
    expect(r.invalid).toEqual([]);
    expect(r.optNum('s', 3)).toBe(3);
    expect(r.optNum('nan', 4)).toBe(4);
    expect(r.optNum('inf', 5)).toBe(5);
    expect(r.invalid).toEqual(['s must be a number', 'nan must be a number', 'inf must be a number']);
  });
  it('bool: true/false as given, fallback when absent or null, a string is refused', () => {
    const r = new ConfigReader({ t: true, f: false, n: null, s: 'true' }, 'p.');
    expect(r.bool('t', false)).toBe(true);
    expect(r.bool('f', true)).toBe(false);
    expect(r.bool('n', true)).toBe(true);
    expect(r.bool('n', false)).toBe(false);
    expect(r.bool('absent', true)).toBe(true);
    expect(r.invalid).toEqual([]);
    expect(r.bool('s', false)).toBe(false);
    expect(r.bool('s', true)).toBe(true);
    expect(r.invalid).toEqual(['p.s must be true or false', 'p.s must be true or false']);
  });
  it('str: a string as given (even empty), anything else the fallback', () => {
    const r = new ConfigReader({ s: 'gelu', e: '', n: 3 });
    expect(r.str('s', 'silu')).toBe('gelu');
    expect(r.str('e', 'silu')).toBe('');
    expect(r.str('n', 'silu')).toBe('silu');
    expect(r.str('absent', 'silu')).toBe('silu');
  });
  it('array: an array as given, anything else null', () => {
    const list = [1, 2];
    const r = new ConfigReader({ a: list, o: { 0: 1 }, s: 'ab' });
    expect(r.array('a')).toBe(list);
    expect(r.array('o')).toBeNull();
    expect(r.array('s')).toBeNull();
    expect(r.array('absent')).toBeNull();
  });
});

describe('ConfigReader.sub: nested objects with a prefix, sharing one error list', () => {
  it('only plain objects open; arrays, null and scalars do not', () => {
    const r = new ConfigReader({ a: [1], n: null, s: 'x', o: {} });
    expect(r.sub('a')).toBeNull();
    expect(r.sub('n')).toBeNull();
    expect(r.sub('s')).toBeNull();
    expect(r.sub('absent')).toBeNull();
    expect(r.sub('o')).not.toBeNull();
  });
  it('errors of a sub-reader (and of its own sub-readers) land in the parent with the dotted path', () => {
    const r = new ConfigReader({ text_config: { hidden_size: -1, vision: { depth: 'x' } } });
    const t = r.sub('text_config')!;
    expect(t.prefix).toBe('text_config.');
    expect(t.int('hidden_size')).toBe(1);
    expect(t.int('num_layers')).toBe(1);
    const v = t.sub('vision')!;
    expect(v.prefix).toBe('text_config.vision.');
    v.int('depth');
    v.bool('depth', false);
    expect(r.missing).toEqual(['text_config.num_layers']);
    expect(r.invalid).toEqual([
      'text_config.hidden_size must be a positive integer (got -1)',
      'text_config.vision.depth must be a positive integer (got "x")',
      'text_config.vision.depth must be true or false',
    ]);
    expect(() => r.done('m')).toThrow(
      'config.json (model_type m) cannot be read: missing text_config.num_layers; ' +
        'text_config.hidden_size must be a positive integer (got -1); ' +
        'text_config.vision.depth must be a positive integer (got "x"); text_config.vision.depth must be true or false',
    );
  });
});

describe('ConfigReader.done: one ConfigError naming every problem', () => {
  it('nothing wrong: no throw', () => {
    const r = new ConfigReader({ a: 1 });
    r.int('a');
    expect(() => r.done('llama')).not.toThrow();
  });
  it('only missing fields: listed with commas; the error carries them', () => {
    const r = new ConfigReader({});
    r.int('a');
    r.int('b', 'c');
    let err: unknown;
    try {
      r.done('llama');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(Error);
    const ce = err as ConfigError;
    expect(ce.name).toBe('ConfigError');
    expect(ce.message).toBe('config.json (model_type llama) cannot be read: missing a, b | c');
    expect(ce.missing).toEqual(['a', 'b | c']);
  });
  it('only malformed fields: joined with semicolons, nothing said missing', () => {
    const r = new ConfigReader({ a: 0, b: 'x' });
    r.int('a');
    r.bool('b', true);
    try {
      r.done('qwen2');
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).message).toBe(
        'config.json (model_type qwen2) cannot be read: a must be a positive integer (got 0); b must be true or false',
      );
      expect((e as ConfigError).missing).toEqual([]);
    }
  });
});

describe('ConfigError and isObject', () => {
  it('a ConfigError without a list of missing fields has an empty one', () => {
    const e = new ConfigError('bad');
    expect(e.missing).toEqual([]);
    expect(e.message).toBe('bad');
    expect(e.name).toBe('ConfigError');
  });
  it('isObject: plain objects only', () => {
    expect(isObject({})).toBe(true);
    expect(isObject({ a: 1 })).toBe(true);
    expect(isObject(null)).toBe(false);
    expect(isObject([])).toBe(false);
    expect(isObject('{}')).toBe(false);
    expect(isObject(3)).toBe(false);
    expect(isObject(undefined)).toBe(false);
  });
});
