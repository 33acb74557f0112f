/**
 * The calculator checked against a real engine: for each test checkpoint, the bytes of weights the engine holds
 * and the bytes one token adds to its KV cache equal what core/memory predicts for the same config.json.
 */
import { describe, expect, it } from 'vitest';
import { specFromConfig } from '../../src/core/arch/index.js';
import { kvCache } from '../../src/core/memory/kv.js';
import { weightLayout } from '../../src/core/memory/weights.js';
import { KvCache, loadFixture } from './helpers.js';

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
