/** A measured hardware profile read from JSON, checked field by field, and turned into a device and efficiencies. */
import { describe, expect, it } from 'vitest';
import {
  checkProfile,
  parseProfile,
  profileEfficiency,
  profileHardware,
  type MeasuredProfile,
} from '../../src/core/perf/measured.js';
import { IDEAL } from '../../src/core/perf/efficiency.js';

const p: MeasuredProfile = {
  name: 'cpu: test',
  bytesPerS: 12e9,
  gemmFlopsPerS: 80e9,
  attentionFlopsPerS: 20e9,
  stepS: 1.5e-3,
  sequenceS: 2e-4,
  memoryBytes: 16 * 2 ** 30,
};

describe('parseProfile', () => {
  it('returns a complete profile as read', () => {
    expect(parseProfile({ ...p }, 'x.json')).toEqual(p);
    // fixed costs may be zero
    expect(parseProfile({ ...p, stepS: 0, sequenceS: 0 }).stepS).toBe(0);
  });
  it('rejects what is not an object, naming the source', () => {
    for (const raw of [null, [], 'p', 3])
      expect(() => parseProfile(raw, 'x.json')).toThrow('x.json: a hardware profile must be a JSON object');
    expect(() => parseProfile(null)).toThrow(/^profile: /);
  });
  it('names unknown keys and lists the known ones', () => {
    expect(() => parseProfile({ ...p, bytesPerSec: 1, foo: 2 }, 'x.json')).toThrow(
      'x.json: unknown key(s) bytesPerSec, foo; a profile has name, bytesPerS, gemmFlopsPerS, attentionFlopsPerS, stepS, sequenceS, memoryBytes',
    );
  });
  it('name must be a non-empty string; each number must be a number', () => {
    expect(() => parseProfile({ ...p, name: '' }, 'x')).toThrow('x: name must be a non-empty string');
    expect(() => parseProfile({ ...p, name: 3 }, 'x')).toThrow('x: name must be a non-empty string');
    const missing: Record<string, unknown> = { ...p };
    delete missing['memoryBytes'];
    expect(() => parseProfile(missing, 'x')).toThrow('x: memoryBytes must be a number (got undefined)');
    expect(() => parseProfile({ ...p, stepS: '1' }, 'x')).toThrow('x: stepS must be a number (got "1")');
  });
  it('values: rates and memory positive, fixed costs non-negative, all finite', () => {
    expect(() => parseProfile({ ...p, bytesPerS: 0 }, 'x')).toThrow(
      'x: measured profile: bytesPerS must be a positive number (got 0)',
    );
    expect(() => parseProfile({ ...p, stepS: -1 }, 'x')).toThrow(
      'x: measured profile: stepS must be a non-negative number (got -1)',
    );
    expect(() => parseProfile({ ...p, gemmFlopsPerS: Infinity }, 'x')).toThrow(
      /gemmFlopsPerS must be a positive/,
    );
    expect(() => parseProfile({ ...p, attentionFlopsPerS: NaN }, 'x')).toThrow(
      /attentionFlopsPerS must be a positive/,
    );
    expect(() => parseProfile({ ...p, sequenceS: -1e-9 }, 'x')).toThrow(/sequenceS must be a non-negative/);
    expect(() => parseProfile({ ...p, memoryBytes: 0 }, 'x')).toThrow(/memoryBytes must be a positive/);
    expect(() => checkProfile({ ...p, attentionFlopsPerS: -1 })).toThrow(
      'measured profile: attentionFlopsPerS must be a positive number (got -1)',
    );
  });
});

describe('the profile as a device and its efficiencies', () => {
  it('measured rates are the peaks; attention runs at 20 / 80 of the GEMM peak; no kernel or serving terms', () => {
    expect(profileHardware(p)).toEqual({
      id: 'measured-cpu',
      name: 'cpu: test',
      vendor: 'measured',
      kind: 'cpu',
      architecture: 'measured',
      memoryBytes: 16 * 2 ** 30,
      visibleMemoryBytes: 16 * 2 ** 30,
      memoryBandwidthBytesPerS: 12e9,
      denseFlops: { fp32: 80e9 },
      interconnectBytesPerS: null,
      tdpW: null,
    });
    expect(profileEfficiency(p)).toEqual({ ...IDEAL, attention: 0.25, stepS: 1.5e-3, sequenceS: 2e-4 });
    expect(() => profileHardware({ ...p, bytesPerS: -1 })).toThrow(/bytesPerS/);
    expect(() => profileEfficiency({ ...p, bytesPerS: -1 })).toThrow(/bytesPerS/);
  });
});
