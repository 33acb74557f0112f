/** Lazy safetensors reading: the same values as the in-memory parser, read only when asked, errors at open. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError, openSafetensors, writeSafetensors } from '../../src/engine/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'infersim-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openSafetensors', () => {
  // Values exact in fp16 and bf16 alike.
  const data = Float32Array.from([1.5, -0.25, 0, 2048, -3]);
  for (const dtype of ['F32', 'F16', 'BF16'] as const)
    it(`${dtype}: values read from the file on access, equal to what was written`, () => {
      const file = join(dir, `${dtype}.safetensors`);
      writeFileSync(
        file,
        writeSafetensors(
          { a: { shape: [5], data }, b: { shape: [1, 1], data: Float32Array.from([7]) } },
          dtype,
        ),
      );
      const t = openSafetensors(file);
      expect(t.get('a')!.dtype).toBe(dtype);
      expect(t.get('a')!.shape).toEqual([5]);
      expect([...t.get('a')!.data]).toEqual([1.5, -0.25, 0, 2048, -3]);
      expect([...t.get('b')!.data]).toEqual([7]);
      // Each access is a fresh array: nothing is kept by the reader.
      expect(t.get('a')!.data).not.toBe(t.get('a')!.data);
    });

  it('a file whose tensors lie past its end is refused when opened, not when read', () => {
    const full = writeSafetensors({ a: { shape: [4], data: new Float32Array(4) } });
    const file = join(dir, 'short.safetensors');
    writeFileSync(file, full.subarray(0, full.length - 4));
    expect(() => openSafetensors(file)).toThrow(/tensor a lies outside the file/);
    writeFileSync(file, new Uint8Array(3));
    expect(() => openSafetensors(file)).toThrow(CheckpointError);
  });
});
