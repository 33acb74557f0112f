/**
 * The calculator checked against a real engine: for each test checkpoint, the bytes of weights the engine holds
 * and the bytes one token adds to its KV cache equal what core/memory predicts for the same config.json.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { specFromConfig } from '../../src/core/arch/index.js';
import { modelDtype } from '../../src/core/memory/inference.js';
import { kvCache } from '../../src/core/memory/kv.js';
import { weightLayout } from '../../src/core/memory/weights.js';
import { Engine } from '../../src/engine/engine.js';
import { memoryUsage, modelInfo } from '../../src/engine/introspect.js';
import { FIXTURES, KvCache, loadFixture, MODEL_DIR } from './helpers.js';

const NAMES = [
  'gpt2-tied',
  'gpt2-untied-fp16',
  'llama-gqa',
  'llama3-scaled-tied-bf16',
  'mistral-sharded',
  'qwen2-bias-tied',
  'qwen3-qknorm',
];

describe('engine memory equals core/memory to the byte', () => {
  for (const name of NAMES) {
    it(name, async () => {
      const { raw, config, weights, model } = await loadFixture(name);
      const spec = specFromConfig(raw);
      // The engine computes in fp32 whatever the file stored: compare with the fp32 layout.
      expect(weights.bytes).toBe(weightLayout(spec, 'fp32').total);
      const cache = new KvCache(config, 5, 4);
      const predicted = kvCache(spec, {
        batch: 1,
        seq: 20,
        kvBytes: 4,
        tp: 1,
        blockSize: 4,
        layerFilter: null,
        stateBytes: 4,
      });
      expect(cache.bytesPerToken).toBe(predicted.kvBytesPerToken);
      expect(cache.allocatedBytes).toBe(predicted.kvCacheBytes);
      await model.release();
    });
  }
});

describe('the default load path reports the precision the calculator must use', () => {
  // Engine.load with no options (what `serve` does), for a bf16, an fp16 and an fp32 checkpoint.
  for (const name of ['llama3-scaled-tied-bf16', 'gpt2-untied-fp16', 'qwen3-qknorm']) {
    it(name, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'infersim-xcheck-'));
      for (const f of readdirSync(join(FIXTURES, name))) symlinkSync(join(FIXTURES, name, f), join(dir, f));
      symlinkSync(join(MODEL_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
      const engine = await Engine.load(dir);
      try {
        const info = modelInfo(engine);
        const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
        expect(info.checkpoint_dtype).toBe(raw['torch_dtype']);
        expect(info.dtype).toBe('float32');
        const spec = specFromConfig(raw);
        // The calculator at the precision the engine reports equals what the engine holds, to the byte.
        expect(engine.model.weightBytes).toBe(weightLayout(spec, info.calculator_precision).total);
        expect(memoryUsage(engine).kv_bytes_per_token).toBe(
          kvCache(spec, {
            batch: 1,
            seq: 1,
            kvBytes: 4,
            tp: 1,
            blockSize: engine.cache.blockSize,
            layerFilter: null,
            stateBytes: 4,
          }).kvBytesPerToken,
        );
        // The calculator's default (the checkpoint's dtype) is what the file holds, not what the engine does.
        const stored = modelDtype(spec);
        const widths = { fp32: 4, fp16: 2, bf16: 2 } as const;
        expect(weightLayout(spec, stored).total).toBe((engine.model.weightBytes / 4) * widths[stored]);
      } finally {
        await engine.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
