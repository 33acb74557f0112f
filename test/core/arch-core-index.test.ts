/**
 * specFromConfig's dispatch on model_type: non-objects refused, known families read with their own adapter,
 * unknown or absent model_type read as llama with a warning. Counts are the published module totals
 * (reference parameter-counts.json: Llama-2-7b 6,738,415,616; gpt2 124,439,808).
 */
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  countParameters,
  SUPPORTED_MODEL_TYPES,
  specFromConfig,
} from '../../src/core/arch/index.js';
import { referenceConfig } from '../helpers.js';

const LLAMA2_7B = 6738415616;
const GPT2 = 124439808;

describe('specFromConfig: what is not a config object', () => {
  it.each([null, [], 'llama', 42, undefined])('%j is refused with a named error', (v) => {
    expect(() => specFromConfig(v)).toThrow(ConfigError);
    expect(() => specFromConfig(v)).toThrow('config.json must be a JSON object');
  });
});

describe('specFromConfig: dispatch on model_type', () => {
  it('a known llama family is read without a warning', () => {
    const s = specFromConfig(referenceConfig('meta-llama__Llama-2-7b-hf.json'));
    expect(s.modelType).toBe('llama');
    expect(s.warnings).toEqual([]);
    expect(countParameters(s).total).toBe(LLAMA2_7B);
  });
  it('a family outside the llama list goes to its own adapter (gpt2: Conv1D, learned positions, tied head)', () => {
    const s = specFromConfig(referenceConfig('openai-community__gpt2.json'));
    expect(s.modelType).toBe('gpt2');
    expect(s.warnings).toEqual([]);
    expect(countParameters(s).total).toBe(GPT2);
  });
  it('no model_type: read as llama, named "unknown", with the warning that says so', () => {
    const cfg = referenceConfig('meta-llama__Llama-2-7b-hf.json');
    delete cfg['model_type'];
    const s = specFromConfig(cfg);
    expect(s.modelType).toBe('unknown');
    expect(s.warnings).toEqual([
      'config.json has no model_type; read as a llama-like decoder (gated MLP, RMSNorm, no biases)',
    ]);
    expect(countParameters(s).total).toBe(LLAMA2_7B);
  });
  it('a model_type that is not a string counts as absent', () => {
    const s = specFromConfig({ ...referenceConfig('meta-llama__Llama-2-7b-hf.json'), model_type: 7 });
    expect(s.modelType).toBe('unknown');
    expect(s.warnings[0]).toMatch(/^config.json has no model_type/);
  });
  it('an unknown model_type is named in the warning', () => {
    const s = specFromConfig({
      ...referenceConfig('meta-llama__Llama-2-7b-hf.json'),
      model_type: 'newllama',
    });
    expect(s.modelType).toBe('newllama');
    expect(s.warnings).toEqual([
      "model_type 'newllama' is not known to infersim; read as a llama-like decoder (gated MLP, RMSNorm, no biases)",
    ]);
  });
  it('an unknown model_type still reports the missing fields, under its own name', () => {
    expect(() => specFromConfig({ model_type: 'newllama', hidden_size: 64 })).toThrow(
      /^config.json \(model_type newllama\) cannot be read: missing num_hidden_layers \| n_layer \| num_layers, /,
    );
    expect(() => specFromConfig({ hidden_size: 64 })).toThrow(
      /^config.json \(model_type unknown\) cannot be read/,
    );
  });
});

describe('SUPPORTED_MODEL_TYPES', () => {
  it('lists the llama-shaped and the other families, sorted', () => {
    for (const t of [
      'llama',
      'mistral',
      'gemma2',
      'gpt2',
      'bert',
      'mamba',
      'deepseek_v3',
      'qwen3_5_moe_text',
    ])
      expect(SUPPORTED_MODEL_TYPES).toContain(t);
    expect([...SUPPORTED_MODEL_TYPES]).toEqual([...SUPPORTED_MODEL_TYPES].sort());
    expect(SUPPORTED_MODEL_TYPES[0]).toBe('bert');
  });
});
