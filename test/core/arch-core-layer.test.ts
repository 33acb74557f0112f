/**
 * Helpers of the hand-written families (families/layer.ts) and the model_type registry: defaults as the helpers
 * document them, GPT-2 Conv1D names, the dtype as transformers writes it (torch_dtype, or dtype since v4.56).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { conv1d, dense, finish, group, mha, range } from '../../src/core/arch/families/layer.js';
import { OTHER_FAMILIES } from '../../src/core/arch/families/registry.js';
import { ConfigError, ConfigReader } from '../../src/core/arch/reader.js';
import { specFromConfig } from '../../src/core/arch/index.js';

describe('range, mha, dense, group, conv1d', () => {
  it('range: n indices from 0 or from an offset', () => {
    expect(range(3)).toEqual([0, 1, 2]);
    expect(range(2, 5)).toEqual([5, 6]);
    expect(range(0)).toEqual([]);
  });
  it('mha: causal global self-attention unless told otherwise', () => {
    expect(mha(4, 2, 16)).toEqual({
      kind: 'gqa',
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      vHeadDim: 16,
      window: null,
      chunk: null,
      mla: null,
      cross: false,
      causal: true,
    });
    expect(mha(4, 4, 8, { window: 128, cross: true, causal: false })).toMatchObject({
      kind: 'mha',
      window: 128,
      cross: true,
      causal: false,
    });
  });
  it('dense and group: unset parts are null; the count is the number of layers', () => {
    expect(dense(10, false, 'gelu')).toEqual({
      kind: 'dense',
      gated: false,
      activation: 'gelu',
      intermediateSize: 10,
    });
    const a = mha(2, 2, 4);
    const mlp = dense(10, true, 'silu');
    expect(group('encoder', 'encoder', [0, 1, 2], { attention: a, mlp }, [])).toEqual({
      name: 'encoder',
      stack: 'encoder',
      count: 3,
      layers: [0, 1, 2],
      attention: a,
      crossAttention: null,
      mlp,
      ssm: null,
      tensors: [],
    });
    const g = group('d', 'decoder', [4], { crossAttention: a }, []);
    expect([g.attention, g.crossAttention, g.mlp, g.ssm]).toEqual([null, a, null, null]);
  });
  it('conv1d: weight [in, out] as GPT-2 stores it, and a bias [out]', () => {
    expect(conv1d('attn.c_attn', 8, 24, 'attention')).toEqual([
      { name: 'attn.c_attn.weight', shape: [8, 24], role: 'attention' },
      { name: 'attn.c_attn.bias', shape: [24], role: 'attention' },
    ]);
  });
});

describe('finish', () => {
  const body = {
    hiddenSize: 8,
    vocabSize: 10,
    numLayers: 1,
    maxPositionEmbeddings: null,
    tiedEmbeddings: true,
    structure: 'decoder' as const,
    groups: [],
    globalTensors: [],
  };
  it('fills in model type, no vision, no warnings, no quantisation and the torch_dtype', () => {
    const s = finish(new ConfigReader({ torch_dtype: 'bfloat16' }), 'gpt2', body);
    expect(s).toEqual({
      ...body,
      modelType: 'gpt2',
      vision: null,
      warnings: [],
      checkpointQuant: null,
      torchDtype: 'bfloat16',
    });
  });
  it('dtype (transformers >= 4.56) when torch_dtype is absent; neither gives null', () => {
    expect(finish(new ConfigReader({ dtype: 'float16' }), 'gpt2', body).torchDtype).toBe('float16');
    expect(
      finish(new ConfigReader({ torch_dtype: 'float32', dtype: 'float16' }), 'gpt2', body).torchDtype,
    ).toBe('float32');
    expect(finish(new ConfigReader({}), 'gpt2', body).torchDtype).toBeNull();
  });
  it('the family may set vision and warnings', () => {
    const vision = { tokensPerImage: 576, imageSize: 336, patchSize: 14, hiddenSize: 1024 };
    const s = finish(new ConfigReader({}), 'llava', { ...body, vision, warnings: ['w'] });
    expect([s.vision, s.warnings]).toEqual([vision, ['w']]);
  });
  it('throws the reader error before building anything', () => {
    const r = new ConfigReader({});
    r.int('n_embd');
    expect(() => finish(r, 'gpt2', body)).toThrow(ConfigError);
    expect(() => finish(r, 'gpt2', body)).toThrow(
      'config.json (model_type gpt2) cannot be read: missing n_embd',
    );
  });
});

describe('registry', () => {
  it('aliases read with their family adapter (roberta as bert, deepseek_v2/v3 and kimi_k2 as deepseek)', () => {
    expect(OTHER_FAMILIES['roberta']).toBe(OTHER_FAMILIES['bert']);
    expect(OTHER_FAMILIES['kimi_k2']).toBe(OTHER_FAMILIES['deepseek_v3']);
  });
  it('llama4_text: Llama-4-Scout text config, 48 layers all MoE (interleave step 1), 16 experts, top-1', () => {
    const entry = JSON.parse(
      readFileSync(
        new URL('../../src/catalog/models/meta-llama__Llama-4-Scout-17B-16E.json', import.meta.url),
        'utf8',
      ),
    ) as { config: { text_config: Record<string, unknown> } };
    const text = entry.config.text_config;
    expect(text['model_type']).toBe('llama4_text');
    const s = specFromConfig(text);
    expect(s.modelType).toBe('llama4_text');
    expect(s.numLayers).toBe(48);
    expect(s.groups.reduce((n, g) => n + g.count, 0)).toBe(48);
    for (const g of s.groups) expect(g.mlp).toMatchObject({ kind: 'moe', numExperts: 16, topK: 1 });
  });
});
