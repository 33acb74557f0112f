/**
 * fp32 weights stored in a checkpoint reach onnxruntime as external data (read by onnxruntime from the file, not
 * copied into the model's bytes): the built model is small, and the session computes with the file's values.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/engine/onnx/graph.js';
import { openSafetensors, writeSafetensors } from '../../src/engine/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'infersim-ext-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const N = 64;
/** W[r][c] = r + c / 100: every entry distinct and exact in fp32 to the 1e-4 compared. */
const W = Float32Array.from({ length: N * N }, (_, i) => Math.floor(i / N) + (i % N) / 100);

function graphOver(folder: string | null, dtype: 'F32' | 'F16') {
  const file = join(dir, `w-${dtype}.safetensors`);
  // A leading tensor so the weight does not start at the data section's first byte (its offset is exercised).
  writeFileSync(
    file,
    writeSafetensors(
      { a: { shape: [3], data: Float32Array.from([1, 2, 3]) }, w: { shape: [N, N], data: W } },
      dtype,
    ),
  );
  const g = new GraphBuilder('ext', folder);
  const x = g.input('x', [1, N]);
  g.output(g.gemm(x, g.weight('w', openSafetensors(file).get('w')!, [N, N]), null, false), 'y', [1, N]);
  return g.build();
}

describe('external weights', () => {
  it('an fp32 weight in the folder is referenced, not embedded, and the session reads its values', async () => {
    const bytes = graphOver(dir, 'F32');
    expect(bytes.byteLength).toBeLessThan(1024); // the weight alone is 16,384 bytes
    const s = await ort.InferenceSession.create(bytes, {
      extra: { session: { model_external_initializers_file_folder_path: dir } },
    });
    // x = e₅ picks row 5 of W (Conv1D layout, y = x·W): 5, 5.01, …, 5.63.
    const x = new Float32Array(N);
    x[5] = 1;
    const y = (await s.run({ x: new ort.Tensor('float32', x, [1, N]) }))['y']!.data as Float32Array;
    for (let c = 0; c < N; c++) expect(y[c]).toBeCloseTo(5 + c / 100, 4);
    await s.release();
  });

  it('without a folder, or for an fp16 file (widened in JavaScript), the weight is embedded', () => {
    expect(graphOver(null, 'F32').byteLength).toBeGreaterThan(4 * N * N);
    expect(graphOver(dir, 'F16').byteLength).toBeGreaterThan(4 * N * N);
  });
});
