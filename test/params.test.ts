import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, countParameters, specFromConfig } from '../src/core/arch/index.js';
import { catalog, findModel, modelSpec } from '../src/catalog/index.js';
import { REFERENCE, referenceConfig } from './helpers.js';

interface RefValue {
  quantity: string;
  value: number;
  confidence: string;
}
interface RefModel {
  hf_id: string;
  config_file: string | null;
  values: RefValue[];
}

/**
 * Checkpoint totals that include non-parameter buffers, with the buffers removed by hand:
 * Llama-2 checkpoints store rotary_emb.inv_freq ([head_dim/2] = 64 floats) in every layer.
 */
const BUFFER_ELEMENTS: Record<string, number> = {
  'meta-llama/Llama-2-13b-hf': 40 * 64,
  'meta-llama/Llama-2-70b-hf': 80 * 64,
};
/**
 * Checkpoint totals equal to the module count: the checkpoint stores no buffers (transformers >= 4.31 stopped saving
 * rotary inv_freq) and a tied head once (checked by hand in each config.json).
 */
const CHECKPOINT_IS_MODULE = new Set([
  'Qwen/Qwen2.5-7B',
  'meta-llama/Llama-3.1-405B',
  'meta-llama/Llama-4-Scout-17B-16E',
  'microsoft/phi-2',
  'microsoft/phi-4',
  'openai/gpt-oss-120b',
  'allenai/OLMo-2-1124-13B',
  'google/gemma-3-27b-it',
]);
/** OPT: keras-hub's count uses 2048 learned positions; transformers' OPT adds an offset of 2 (2 x 2048 more). */
const KERAS_OFFSET: Record<string, number> = { 'facebook/opt-1.3b': 2 * 2048 };

const ref = JSON.parse(readFileSync(join(REFERENCE, 'parameter-counts.json'), 'utf8')) as {
  models: RefModel[];
};

function expectedModuleCount(m: RefModel): number | null {
  const exact = m.values.filter((v) => v.confidence === 'exact-sourced');
  const module = exact.find((v) => v.quantity === 'module_parameter_count');
  // gemma-3-27b-it also lists counts for other vocabularies / the text model alone; its checkpoint total is the one.
  if (module && !CHECKPOINT_IS_MODULE.has(m.hf_id)) return module.value;
  const keras = exact.find((v) => v.quantity === 'keras_hub_preset_params');
  if (keras && KERAS_OFFSET[m.hf_id] !== undefined) return keras.value + KERAS_OFFSET[m.hf_id]!;
  const st = exact.find((v) => v.quantity === 'hf_safetensors_total');
  if (st && BUFFER_ELEMENTS[m.hf_id] !== undefined) return st.value - BUFFER_ELEMENTS[m.hf_id]!;
  if (st && CHECKPOINT_IS_MODULE.has(m.hf_id)) return st.value;
  return null;
}

describe('exact parameter counts against published figures (reference configs)', () => {
  const withConfig = ref.models.filter(
    (m) => m.config_file && existsSync(join(REFERENCE, 'models', m.config_file.replace('configs/', ''))),
  );
  it('every config file the reference names is there (a missing fixture fails, never skips)', () => {
    const named = ref.models.filter((m) => m.config_file);
    expect(withConfig.map((m) => m.hf_id)).toEqual(named.map((m) => m.hf_id));
  });
  it('the only exact figure left unchecked is named: falcon-180B (no config in the reference set or catalog)', () => {
    const exact = (m: RefModel) => m.values.some((v) => v.confidence === 'exact-sourced');
    const inCatalog = (m: RefModel) => !m.config_file && catalog().models.find(m.hf_id) !== undefined;
    const unchecked = ref.models.filter(
      (m) => exact(m) && (expectedModuleCount(m) === null || !(withConfig.includes(m) || inCatalog(m))),
    );
    expect(unchecked.map((m) => m.hf_id)).toEqual(['tiiuae/falcon-180B']);
  });
  it('covers every reference model that has a config and an exact figure', () => {
    const covered = withConfig.filter((m) => expectedModuleCount(m) !== null).map((m) => m.hf_id);
    expect(covered.length).toBeGreaterThanOrEqual(17);
  });
  for (const m of withConfig) {
    const expected = expectedModuleCount(m);
    if (expected === null) continue;
    it(`${m.hf_id} has ${expected} parameters`, () => {
      const spec = specFromConfig(referenceConfig(m.config_file!.replace('configs/', '')));
      expect(countParameters(spec).total).toBe(expected);
    });
  }
});

describe('exact parameter counts against published figures (catalog configs)', () => {
  const others = ref.models.filter((m) => !m.config_file && catalog().models.find(m.hf_id));
  it('covers the published models whose config only the catalog has', () => {
    expect(others.filter((m) => expectedModuleCount(m) !== null).length).toBeGreaterThanOrEqual(12);
  });
  for (const m of others) {
    const expected = expectedModuleCount(m);
    if (expected === null) continue;
    it(`${m.hf_id} has ${expected} parameters`, () => {
      expect(countParameters(modelSpec(findModel(m.hf_id))).total).toBe(expected);
    });
  }
  it('DeepSeek-MoE-16B: 16,375,728,128 total, 2,828,650,496 active, by hand (16.4B / 2.8B as published)', () => {
    const c = countParameters(modelSpec(findModel('deepseek-ai/deepseek-moe-16b-base')));
    // hidden 2048, 28 layers (layer 0 dense, 10944 wide), 64 routed + 2 shared experts of 1408, top-6, vocab
    // 102400 untied. Embedding + head 2 · 102400 · 2048; attention 4 · 2048² and 2 norms per layer; dense MLP
    // 3 · 2048 · 10944; per MoE layer 64 + 2 experts of 3 · 2048 · 1408 and a 64 · 2048 router; final norm.
    const expert = 3 * 2048 * 1408;
    const total =
      2 * 102400 * 2048 +
      28 * (4 * 2048 * 2048 + 2 * 2048) +
      3 * 2048 * 10944 +
      27 * (66 * expert + 64 * 2048) +
      2048;
    expect(c.total).toBe(total);
    // Active: 58 of the 64 routed experts idle in each of the 27 MoE layers.
    expect(c.active).toBe(total - 27 * 58 * expert);
    expect(Math.round(c.total / 1e8) / 10).toBe(16.4);
    expect(Math.round(c.active / 1e8) / 10).toBe(2.8);
  });
});

describe('breakdown and active parameters', () => {
  it('Mixtral-8x7B: active = total minus 6 of 8 experts', () => {
    const c = countParameters(specFromConfig(referenceConfig('mistralai__Mixtral-8x7B-v0.1.json')));
    // Each expert: 3 · 4096 · 14336 = 176,160,768 per layer; 32 layers; 6 of 8 inactive per token.
    const inactive = 6 * 3 * 4096 * 14336 * 32;
    expect(c.active).toBe(c.total - inactive);
    expect(c.breakdown.expert).toBe(8 * 3 * 4096 * 14336 * 32);
  });
  it('tied embeddings are counted once (Qwen3-0.6B: embedding 151936 x 1024, no lm_head)', () => {
    const c = countParameters(specFromConfig(referenceConfig('Qwen__Qwen3-0.6B.json')));
    expect(c.breakdown.embedding).toBe(151936 * 1024);
    expect(c.breakdown.lm_head).toBe(0);
  });
  it('breakdown sums to the total', () => {
    const c = countParameters(specFromConfig(referenceConfig('deepseek-ai__DeepSeek-V2-Lite.json')));
    expect(Object.values(c.breakdown).reduce((a, b) => a + b, 0)).toBe(c.total);
  });
});

describe('config reading', () => {
  it('head_dim comes from the config, not hidden/heads (Gemma-2-9B: 256, while 3584/16 = 224)', () => {
    const spec = specFromConfig(referenceConfig('google__gemma-2-9b-it.json'));
    expect(spec.groups[0]!.attention!.headDim).toBe(256);
  });
  it('Gemma-2 alternates sliding and global layers; Mistral v0.1 slides on every layer', () => {
    const g = specFromConfig(referenceConfig('google__gemma-2-9b-it.json'));
    expect(g.groups.map((x) => [x.attention!.window, x.count])).toEqual([
      [4096, 21],
      [null, 21],
    ]);
    const m = specFromConfig(referenceConfig('mistralai__Mistral-7B-v0.1.json'));
    expect(m.groups.map((x) => [x.attention!.window, x.count])).toEqual([[4096, 32]]);
  });
  it('DeepSeek-V2-Lite: first layer dense, 26 MoE layers with MLA', () => {
    const s = specFromConfig(referenceConfig('deepseek-ai__DeepSeek-V2-Lite.json'));
    expect(s.groups.map((g) => [g.mlp!.kind, g.count, g.attention!.kind])).toEqual([
      ['dense', 1, 'mla'],
      ['moe', 26, 'mla'],
    ]);
  });
  it('an unknown model_type with the usual fields is read as llama-like, with a warning', () => {
    const cfg = { ...referenceConfig('meta-llama__Llama-2-7b-hf.json'), model_type: 'my_new_llama' };
    const s = specFromConfig(cfg);
    expect(s.warnings[0]).toMatch(/my_new_llama/);
    expect(countParameters(s).total).toBe(6738415616);
  });
  it('a config that cannot be understood names every missing field', () => {
    expect(() => specFromConfig({ model_type: 'llama', hidden_size: 64 })).toThrow(ConfigError);
    try {
      specFromConfig({ model_type: 'llama', hidden_size: 64 });
    } catch (e) {
      expect((e as ConfigError).message).toMatch(/num_hidden_layers/);
      expect((e as ConfigError).message).toMatch(/num_attention_heads/);
      expect((e as ConfigError).message).toMatch(/vocab_size/);
    }
  });
  it('rejects malformed values with the field name', () => {
    const cfg = { ...referenceConfig('meta-llama__Llama-2-7b-hf.json'), num_attention_heads: -3 };
    expect(() => specFromConfig(cfg)).toThrow(/num_attention_heads must be a positive integer/);
    expect(() => specFromConfig([])).toThrow(ConfigError);
  });
});
