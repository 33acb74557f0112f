/**
 * quantization_config as the checkpoint tools write it (ModelOpt, compressed-tensors, fp8, GPTQ/AWQ, bitsandbytes,
 * gpt-oss mxfp4, fbgemm) read into a storage format, and the exclusion lists matched against checkpoint module names
 * (`model.layers.N.…`) the way the tools match them: fnmatch globs (ModelOpt), `re:` anchored at the start
 * (compressed-tensors), plain names as a module, its suffix or its parent.
 */
import { describe, expect, it } from 'vitest';
import {
  excludedFromQuant,
  moduleFormat,
  specFromConfig,
  type ModelSpec,
} from '../../src/core/arch/index.js';

const LLAMA = {
  model_type: 'llama',
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  vocab_size: 10,
};

const quant = (q: Record<string, unknown>) =>
  specFromConfig({ ...LLAMA, quantization_config: q }).checkpointQuant!;
const KEEP = ['embedding', 'position', 'lm_head', 'norm', 'router'];

describe('checkpointQuant formats', () => {
  it('none, unknown and simple methods', () => {
    expect(specFromConfig(LLAMA).checkpointQuant).toBeNull();
    expect(specFromConfig({ ...LLAMA, quantization_config: 'fp8' }).checkpointQuant).toBeNull();
    expect(quant({ quant_method: 'hqq' })).toEqual({
      method: 'hqq',
      format: 'hqq',
      excludedRoles: KEEP,
      blockSize: null,
    });
    expect(quant({})).toMatchObject({ method: 'unknown', format: 'unknown' });
    expect(quant({ quant_method: 'fp8' })).toEqual({
      method: 'fp8',
      format: 'fp8',
      excludedRoles: KEEP,
      blockSize: null,
    });
    expect(quant({ quant_method: 'fp8', weight_block_size: [128, 128] })).toMatchObject({
      format: 'fp8_block',
      blockSize: [128, 128],
    });
    // gpt-oss: experts only; attention and the shared expert stay 16-bit.
    expect(quant({ quant_method: 'mxfp4', modules_to_not_convert: ['model.layers.*.self_attn', 7] })).toEqual(
      {
        method: 'mxfp4',
        format: 'mxfp4',
        excludedRoles: [...KEEP, 'attention', 'shared_expert'],
        blockSize: null,
        excludedModules: ['model.layers.*.self_attn'],
      },
    );
    expect(quant({ quant_method: 'fbgemm_fp8' })).toEqual({
      method: 'fbgemm_fp8',
      format: 'fp8',
      excludedRoles: [...KEEP, 'attention'],
      blockSize: null,
    });
  });

  it('GPTQ / AWQ: bits and group size, 4 and 128 when absent', () => {
    expect(quant({ quant_method: 'gptq', bits: 8, group_size: 32 }).format).toBe('gptq-int8-g32');
    expect(quant({ quant_method: 'awq' }).format).toBe('awq-int4-g128');
    expect(quant({ quant_method: 'awq', bits: '4', group_size: '64' }).format).toBe('awq-int4-g128');
  });

  it('bitsandbytes', () => {
    expect(quant({ quant_method: 'bitsandbytes', load_in_8bit: true }).format).toBe('int8');
    expect(
      quant({ quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4' }).format,
    ).toBe('nf4');
    expect(
      quant({ quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_use_double_quant: true }).format,
    ).toBe('nf4_dq');
    expect(
      quant({ quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'fp4' }).format,
    ).toBe('bnb_fp4');
  });

  it('ModelOpt, flat and nested', () => {
    expect(
      quant({
        quant_method: 'modelopt',
        quant_algo: 'nvfp4',
        kv_cache_quant_algo: 'FP8',
        ignore: ['lm_head'],
      }),
    ).toEqual({
      method: 'modelopt',
      format: 'nvfp4',
      excludedRoles: KEEP,
      blockSize: null,
      excludedModules: ['lm_head'],
      kvCacheDtype: 'fp8',
    });
    const nested = quant({
      quant_method: 'modelopt',
      quantization: { quant_algo: 'FP8', exclude_modules: ['a', 'b'] },
    });
    expect(nested).toMatchObject({ format: 'fp8', excludedModules: ['a', 'b'], kvCacheDtype: null });
    expect(nested.moduleFormats).toBeUndefined();
    expect(quant({ quant_method: 'modelopt', quant_algo: 'FP8_PB_WO' }).format).toBe('fp8');
    expect(quant({ quant_method: 'modelopt', quant_algo: 'W8A8' }).format).toBe('modelopt-w8a8');
    expect(quant({ quant_method: 'modelopt' }).format).toBe('modelopt-unknown');
    // A KV scheme of 8-bit floats is FP8; 8-bit ints are not.
    const fkv = { num_bits: 8, type: 'float' };
    expect(quant({ quant_method: 'modelopt', quant_algo: 'NVFP4', kv_cache_scheme: fkv }).kvCacheDtype).toBe(
      'fp8',
    );
    const ikv = { num_bits: 8, type: 'int' };
    expect(
      quant({ quant_method: 'modelopt', quant_algo: 'NVFP4', kv_cache_scheme: ikv }).kvCacheDtype,
    ).toBeNull();
    const nkv = { quant_method: 'modelopt', quantization: { quant_algo: 'NVFP4', kv_cache_scheme: fkv } };
    expect(quant(nkv).kvCacheDtype).toBe('fp8');
  });

  it('ModelOpt MIXED_PRECISION: per-module formats, the majority as the headline', () => {
    const q = quant({
      quant_method: 'modelopt',
      quant_algo: 'MIXED_PRECISION',
      quantized_layers: {
        'model.layers.0.mlp': { quant_algo: 'NVFP4' },
        'model.layers.1.mlp': { quant_algo: 'W4A16_NVFP4' },
        'model.layers.0.self_attn': { quant_algo: 'FP8' },
        'model.layers.1.self_attn': { quant_algo: 'W4A16_AWQ', group_size: 64 },
        'model.layers.1.x': { quant_algo: 'INT4_AWQ' },
        'model.layers.1.y': { quant_algo: 'W4A8_AWQ' },
        'model.layers.1.z': { quant_algo: 'INT8_SQ' },
        'model.layers.1.w': 'NVFP4',
      },
    });
    expect(q.moduleFormats).toEqual({
      'model.layers.0.mlp': 'nvfp4',
      'model.layers.1.mlp': 'nvfp4',
      'model.layers.0.self_attn': 'fp8',
      'model.layers.1.self_attn': 'awq-int4-g64',
      'model.layers.1.x': 'awq-int4-g128',
      'model.layers.1.y': 'awq-int4-g128',
    });
    // nvfp4 2, awq-int4-g128 2 (x, y), fp8 1, awq-int4-g64 1: a tie, and the first listed wins.
    expect(q.format).toBe('nvfp4');
    const awq = quant({
      quant_method: 'modelopt',
      quant_algo: 'MIXED_PRECISION',
      quantized_layers: {
        a: { quant_algo: 'FP8' },
        b: { quant_algo: 'INT4_AWQ' },
        c: { quant_algo: 'INT4_AWQ' },
      },
    });
    expect(awq.format).toBe('awq-int4-g128');
  });

  it('compressed-tensors', () => {
    const ct = (weights: Record<string, unknown> | null, extra: Record<string, unknown> = {}) =>
      quant({
        quant_method: 'compressed-tensors',
        ...(weights ? { config_groups: { group_0: { targets: ['Linear'], weights } } } : {}),
        ...extra,
      });
    expect(
      ct({ num_bits: 4, type: 'float', group_size: 16 }, { format: 'nvfp4-pack-quantized' }).format,
    ).toBe('nvfp4');
    expect(ct({ num_bits: 4, type: 'float', group_size: 32 }).format).toBe('mxfp4');
    expect(
      ct({ num_bits: 4, type: 'float', group_size: 16 }, { format: 'mxfp4-pack-quantized' }).format,
    ).toBe('mxfp4');
    expect(ct({ num_bits: 4, type: 'int', symmetric: true, group_size: 32 }).format).toBe('int4-sym-g32');
    expect(ct({ num_bits: 4, type: 'int', symmetric: true, group_size: 128 }).format).toBe('int4');
    expect(ct({ num_bits: 4, type: 'int' }).format).toBe('int4');
    expect(ct({ num_bits: 4, type: 'int', symmetric: false, group_size: 32 }).format).toBe('awq-int4-g32');
    expect(ct({ num_bits: 4, type: 'int', symmetric: false }).format).toBe('awq-int4-g128');
    const block = ct({ num_bits: 8, type: 'float', strategy: 'block', block_structure: [128, 128] });
    expect([block.format, block.blockSize]).toEqual(['fp8_block', [128, 128]]);
    const blockNoShape = ct({ num_bits: 8, type: 'float', strategy: 'block' });
    expect([blockNoShape.format, blockNoShape.blockSize]).toEqual(['fp8_block', null]);
    const channel = ct({ num_bits: 8, type: 'float', strategy: 'channel', block_structure: [128, 128] });
    expect([channel.format, channel.blockSize]).toEqual(['fp8', null]);
    expect(ct({ num_bits: 8, type: 'int' }).format).toBe('int8');
    expect(ct({ num_bits: 2, type: 'int' }, { format: 'x' }).format).toBe('compressed-tensors-x');
    expect(ct(null, { format: 'pack-quantized' }).format).toBe('compressed-tensors-pack-quantized');
    expect(ct(null).format).toBe('compressed-tensors-unknown');
    expect(ct(null, { kv_cache_scheme: { num_bits: 8 }, ignore: ['lm_head'] })).toEqual({
      method: 'compressed-tensors',
      format: 'compressed-tensors-unknown',
      excludedRoles: KEEP,
      blockSize: null,
      excludedModules: ['lm_head'],
      kvCacheDtype: 'fp8',
    });
    expect(ct(null, { kv_cache_scheme: { num_bits: 16 } }).kvCacheDtype).toBeNull();
  });
});

describe('exclusions and per-module formats by checkpoint module name', () => {
  function at(s: ModelSpec, name: string, layer: number) {
    const g = s.groups.find((x) => x.tensors.some((t) => t.name === name) && x.layers.includes(layer))!;
    return { t: g.tensors.find((t) => t.name === name)!, g };
  }
  const withQ = (q: Record<string, unknown>, c: Record<string, unknown> = LLAMA) =>
    specFromConfig({ ...c, quantization_config: { quant_method: 'modelopt', quant_algo: 'NVFP4', ...q } });
  const excluded = (s: ModelSpec, name: string, layer: number) => {
    const { t, g } = at(s, name, layer);
    return excludedFromQuant(s.checkpointQuant!, t, g, layer);
  };

  it('roles stay 16-bit; an empty list excludes nothing else', () => {
    const s = withQ({});
    expect(excludedFromQuant(s.checkpointQuant!, s.globalTensors[0]!, null, 0)).toBe(true);
    expect(excluded(s, 'input_layernorm.weight', 0)).toBe(true);
    expect(excluded(s, 'self_attn.q_proj.weight', 0)).toBe(false);
  });

  it('globs, regexes and plain names', () => {
    const glob = withQ({ ignore: ['model.layers.0.self_attn*'] });
    expect(excluded(glob, 'self_attn.q_proj.weight', 0)).toBe(true);
    expect(excluded(glob, 'self_attn.q_proj.weight', 1)).toBe(false);
    // Dots in a glob are literal.
    expect(
      excluded(withQ({ ignore: ['model.layers.0.self_attn.q_proj*'] }), 'self_attn.q_proj.weight', 0),
    ).toBe(true);
    expect(
      excluded(withQ({ ignore: ['model.layers.0.self_attnXq_proj*'] }), 'self_attn.q_proj.weight', 0),
    ).toBe(false);
    // A glob covers the whole name.
    expect(excluded(withQ({ ignore: ['layers.0.*'] }), 'self_attn.q_proj.weight', 0)).toBe(false);
    const re = withQ({ ignore: ['re:.*layers\\.1\\.mlp'] });
    expect(excluded(re, 'mlp.up_proj.weight', 1)).toBe(true);
    expect(excluded(re, 'mlp.up_proj.weight', 0)).toBe(false);
    // re.match is anchored at the start only.
    expect(excluded(withQ({ ignore: ['re:layers'] }), 'mlp.up_proj.weight', 0)).toBe(false);
    expect(excluded(withQ({ ignore: ['re:model\\.layers\\.0'] }), 'mlp.up_proj.weight', 0)).toBe(true);
    // Plain: the module, a suffix module, or a parent.
    expect(excluded(withQ({ ignore: ['q_proj'] }), 'self_attn.q_proj.weight', 1)).toBe(true);
    expect(excluded(withQ({ ignore: ['self_attn'] }), 'self_attn.q_proj.weight', 1)).toBe(false);
    expect(excluded(withQ({ ignore: ['model.layers.1'] }), 'mlp.down_proj.weight', 1)).toBe(true);
    expect(excluded(withQ({ ignore: ['model.layers.1'] }), 'mlp.down_proj.weight', 0)).toBe(false);
    expect(excluded(withQ({ ignore: ['model.layers.1.mlp.down_proj'] }), 'mlp.down_proj.weight', 1)).toBe(
      true,
    );
    expect(
      excluded(withQ({ ignore: ['language_model.model.layers.1.mlp'] }), 'mlp.down_proj.weight', 1),
    ).toBe(true);
    expect(
      excluded(withQ({ ignore: ['model.language_model.layers.1.mlp'] }), 'mlp.down_proj.weight', 1),
    ).toBe(true);
  });

  it('shared experts under either spelling; vision blocks and tensors under their prefixes', () => {
    const moe = {
      model_type: 'qwen2_moe',
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      vocab_size: 10,
      num_experts: 2,
      num_experts_per_tok: 1,
      moe_intermediate_size: 8,
      shared_expert_intermediate_size: 8,
    };
    // The shared expert is quantised by role; DeepSeek-style lists name it in the plural.
    expect(excluded(withQ({}, moe), 'mlp.shared_expert.up_proj.weight', 0)).toBe(false);
    const s = withQ({ ignore: ['model.layers.0.mlp.shared_experts'] }, moe);
    expect(excluded(s, 'mlp.shared_expert.up_proj.weight', 0)).toBe(true);
    const s2 = withQ({ ignore: ['model.layers.0.mlp.shared_experts.up_proj'] }, moe);
    expect(excluded(s2, 'mlp.shared_expert.up_proj.weight', 0)).toBe(true);
    expect(excluded(s2, 'mlp.shared_expert.gate_proj.weight', 0)).toBe(false);
    expect(
      excluded(withQ({ ignore: ['model.layers.0.mlp.experts.0'] }, moe), 'mlp.experts.#.up_proj.weight', 0),
    ).toBe(true);

    const vl = {
      ...LLAMA,
      model_type: 'qwen2_vl',
      vision_config: { depth: 2, embed_dim: 8, num_heads: 2, patch_size: 14, mlp_ratio: 2 },
    };
    for (const p of [
      'visual.blocks.1',
      'model.visual.blocks.1.attn',
      'vision_tower.encoder.blocks.1.attn.qkv',
    ]) {
      const v = withQ({ ignore: [p] }, vl);
      const g = v.groups.find((x) => x.stack === 'vision')!;
      const t = g.tensors.find((x) => x.name === 'attn.qkv.weight')!;
      expect(excludedFromQuant(v.checkpointQuant!, t, g, 1)).toBe(true);
      expect(excludedFromQuant(v.checkpointQuant!, t, g, 0)).toBe(false);
    }
    for (const p of ['visual.merger', 'model.visual.merger.mlp.0']) {
      const v = withQ({ ignore: [p] }, vl);
      const t = v.globalTensors.find((x) => x.name === 'visual.merger.mlp.0.weight')!;
      expect(excludedFromQuant(v.checkpointQuant!, t, null, 0)).toBe(true);
    }
  });

  it('moduleFormat: the module or its nearest listed parent, experts included', () => {
    const moe = {
      model_type: 'mixtral',
      hidden_size: 16,
      intermediate_size: 8,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      vocab_size: 10,
      num_local_experts: 2,
      num_experts_per_tok: 1,
    };
    const s = specFromConfig({
      ...moe,
      quantization_config: {
        quant_method: 'modelopt',
        quant_algo: 'MIXED_PRECISION',
        quantized_layers: {
          'model.layers.0.mlp.experts': { quant_algo: 'NVFP4' },
          'model.layers.1.self_attn.q_proj': { quant_algo: 'FP8' },
        },
      },
    });
    const q = s.checkpointQuant!;
    const { t, g } = at(s, 'mlp.experts.#.up_proj.weight', 0);
    expect(moduleFormat(q, t, g, 0)).toBe('nvfp4');
    expect(moduleFormat(q, t, g, 1)).toBeNull();
    const a = at(s, 'self_attn.q_proj.weight', 1);
    expect(moduleFormat(q, a.t, a.g, 1)).toBe('fp8');
    const k = at(s, 'self_attn.k_proj.weight', 1);
    expect(moduleFormat(q, k.t, k.g, 1)).toBeNull();
    const plain = withQ({});
    const p = at(plain, 'self_attn.q_proj.weight', 0);
    expect(moduleFormat(plain.checkpointQuant!, p.t, p.g, 0)).toBeNull();
  });
});
