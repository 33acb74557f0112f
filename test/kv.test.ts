import { describe, expect, it } from 'vitest';
import { specFromConfig } from '../src/core/arch/index.js';
import { kvCache } from '../src/core/memory/kv.js';
import { referenceSpec } from './helpers.js';

const kv = (
  spec: ReturnType<typeof specFromConfig>,
  seq: number,
  o: { tp?: number; kvBytes?: number; batch?: number } = {},
) =>
  kvCache(spec, {
    batch: o.batch ?? 1,
    seq,
    kvBytes: o.kvBytes ?? 2,
    tp: o.tp ?? 1,
    blockSize: null,
    layerFilter: null,
    stateBytes: 2,
  });

describe('KV cache, each against a value derived by hand', () => {
  it('MHA: Llama-2-7B holds 32 layers x 2 x 32 heads x 128 x 2 B = 524,288 B per token', () => {
    const r = kv(referenceSpec('meta-llama__Llama-2-7b-hf.json'), 4096);
    expect(r.kvBytesPerToken).toBe(524288);
    expect(r.kvCacheBytes).toBe(524288 * 4096);
  });
  it('GQA: Llama-3.1-8B holds 32 x 2 x 8 x 128 x 2 = 131,072 B per token; 8K tokens = 1 GiB', () => {
    const r = kv(referenceSpec('meta-llama__Llama-3.1-8B.json'), 8192);
    expect(r.kvBytesPerToken).toBe(131072);
    expect(r.kvCacheBytes).toBe(1073741824);
  });
  it('GQA at fp8 halves it; batch multiplies it', () => {
    const r = kv(referenceSpec('meta-llama__Llama-3.1-8B.json'), 1000, { kvBytes: 1, batch: 3 });
    expect(r.kvCacheBytes).toBe(32 * 2 * 8 * 128 * 1 * 1000 * 3);
  });
  it('MQA: Falcon-7B (multi_query, 71 heads of 64) holds 32 x 2 x 1 x 64 x 2 = 8,192 B per token', () => {
    const falcon7b = {
      model_type: 'falcon',
      hidden_size: 4544,
      num_hidden_layers: 32,
      num_attention_heads: 71,
      multi_query: true,
      parallel_attn: true,
      bias: false,
      vocab_size: 65024,
    };
    expect(kv(specFromConfig(falcon7b), 10).kvBytesPerToken).toBe(8192);
  });
  it('MLA: DeepSeek-V2-Lite caches (512 + 64) x 2 B per layer: 27 x 1,152 = 31,104 B per token', () => {
    expect(kv(referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json'), 1).kvBytesPerToken).toBe(31104);
  });
  it('MLA: DeepSeek-V3 caches 61 x (512 + 64) x 2 = 70,272 B per token, not split by TP', () => {
    const s = referenceSpec('deepseek-ai__DeepSeek-V3.json');
    expect(kv(s, 1).kvBytesPerToken).toBe(70272);
    expect(kv(s, 1, { tp: 8 }).kvBytesPerToken).toBe(70272);
  });
  it('mixed sliding/global: Gemma-2-9B at 8K = 21 global x 8192 + 21 sliding x 4096 tokens, 8,192 B each', () => {
    // per layer per token: 2 x 8 kv heads x 256 head_dim x 2 B = 8,192 B
    const r = kv(referenceSpec('google__gemma-2-9b-it.json'), 8192);
    expect(r.kvCacheBytes).toBe(21 * 8192 * 8192 + 21 * 4096 * 8192);
  });
  it('gpt-oss-20b: 12 full layers at 4096 tokens + 12 sliding at 128, 2 x 8 x 64 x 2 = 2,048 B each', () => {
    const r = kv(referenceSpec('openai__gpt-oss-20b.json'), 4096);
    expect(r.kvCacheBytes).toBe(12 * 4096 * 2048 + 12 * 128 * 2048);
  });
  it('below the window, sliding layers hold every token', () => {
    const r = kv(referenceSpec('google__gemma-2-9b-it.json'), 100);
    expect(r.kvCacheBytes).toBe(42 * 100 * 8192);
  });
  it('SSM state: Mamba-130m keeps (1536 x 3 x 2 B conv + 1536 x 16 x 4 B ssm) x 24 layers per sequence, no KV', () => {
    const r = kv(referenceSpec('state-spaces__mamba-130m-hf.json'), 100000);
    expect(r.kvCacheBytes).toBe(0);
    expect(r.stateBytes).toBe((1536 * 3 * 2 + 1536 * 16 * 4) * 24);
  });
  it('cross-attention: T5-base decoder caches self and encoder tokens, 12 x 2 x 12 x 64 x 2 B each', () => {
    const t5base = {
      model_type: 't5',
      d_model: 768,
      d_kv: 64,
      d_ff: 3072,
      num_layers: 12,
      num_heads: 12,
      vocab_size: 32128,
    };
    const r = kv(specFromConfig(t5base), 512);
    expect(r.kvCacheBytes).toBe(2 * 512 * 12 * 2 * 12 * 64 * 2);
  });
  it('TP splits KV heads, and replicates one head per device when kv_heads < tp', () => {
    const s = referenceSpec('meta-llama__Llama-3.1-8B.json');
    expect(kv(s, 1, { tp: 4 }).kvBytesPerToken).toBe(32 * 2 * 2 * 128 * 2);
    expect(kv(s, 1, { tp: 16 }).kvBytesPerToken).toBe(32 * 2 * 1 * 128 * 2);
  });
  it('paged engines round each sequence up to whole blocks', () => {
    const s = referenceSpec('meta-llama__Llama-3.1-8B.json');
    const r = kvCache(s, {
      batch: 2,
      seq: 17,
      kvBytes: 2,
      tp: 1,
      blockSize: 16,
      layerFilter: null,
      stateBytes: 2,
    });
    expect(r.kvCacheBytes).toBe(2 * 32 * 131072);
  });
});
