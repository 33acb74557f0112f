/**
 * Newer architectures people deploy (DeepSeek-R1/V3.x, V3.2 and GLM-5 with the DSA indexer, Kimi-K2/K2.5,
 * MiniMax-M2.x, Qwen3-Next/Qwen3.5 hybrid linear attention) and the NVIDIA ModelOpt / compressed-tensors checkpoints:
 * every model_path and system of shared/reference/serving/measured.csv resolves, parameters are counted exactly
 * (each expectation a formula written out by hand from the config below, or a published figure), KV bytes per token
 * and recurrent state by hand, and weight bytes of the quantised checkpoints by hand.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countParameters, excludedFromQuant, specFromConfig } from '../src/core/arch/index.js';
import type { ModelSpec, Tensor } from '../src/core/arch/index.js';
import { findDevice, findModel, modelSpec, systemLinks } from '../src/catalog/index.js';
import { attendedTokens, indexerBytesPerToken, kvCache } from '../src/core/memory/kv.js';
import { weightLayout } from '../src/core/memory/weights.js';
import { inferenceMemory } from '../src/core/memory/inference.js';
import { validatePlan } from '../src/core/parallel/plan.js';
import { REFERENCE } from './helpers.js';

function spec(id: string): ModelSpec {
  return modelSpec(findModel(id));
}

function kv(s: ModelSpec, seq: number, kvBytes = 2, tp = 1) {
  return kvCache(s, { batch: 1, seq, kvBytes, tp, blockSize: null, layerFilter: null, stateBytes: 2 });
}

function csvColumn(name: string): Set<string> {
  const lines = readFileSync(join(REFERENCE, 'serving', 'measured.csv'), 'utf8')
    .trim()
    .split('\n');
  const i = lines[0]!.split(',').indexOf(name);
  return new Set(lines.slice(1).map((l) => l.split(',')[i]!));
}

describe('measured.csv resolves', () => {
  // The model_path values of the 4,288 rows (listed so that a change to the file is noticed here).
  const MODELS: Record<string, { id: string; modelType: string; quant: string | null }> = {
    'deepseek-ai/DeepSeek-R1': {
      id: 'deepseek-ai/DeepSeek-R1',
      modelType: 'deepseek_v3',
      quant: 'fp8_block',
    },
    'deepseek-ai/DeepSeek-V3': {
      id: 'deepseek-ai/DeepSeek-V3',
      modelType: 'deepseek_v3',
      quant: 'fp8_block',
    },
    'MiniMaxAI/MiniMax-M2.5': { id: 'MiniMaxAI/MiniMax-M2.5', modelType: 'minimax_m2', quant: 'fp8_block' },
    'meta-llama/Llama-3.1-70B': { id: 'meta-llama/Llama-3.1-70B', modelType: 'llama', quant: null },
    'Qwen/Qwen3-32B': { id: 'Qwen/Qwen3-32B', modelType: 'qwen3', quant: null },
    'Qwen/Qwen3.5-397B-A17B': { id: 'Qwen/Qwen3.5-397B-A17B', modelType: 'qwen3_5_moe', quant: null },
    'moonshotai/Kimi-K2.5': { id: 'moonshotai/Kimi-K2.5', modelType: 'kimi_k25', quant: 'int4-sym-g32' },
    'zhipuai/GLM-5': { id: 'zai-org/GLM-5', modelType: 'glm_moe_dsa', quant: null },
    'nvidia/DeepSeek-R1-NVFP4': { id: 'nvidia/DeepSeek-R1-NVFP4', modelType: 'deepseek_v3', quant: 'nvfp4' },
    'nvidia/Qwen3-32B-NVFP4': { id: 'nvidia/Qwen3-32B-NVFP4', modelType: 'qwen3', quant: 'nvfp4' },
    'nvidia/DeepSeek-V3.1-NVFP4': {
      id: 'nvidia/DeepSeek-V3.1-NVFP4',
      modelType: 'deepseek_v3',
      quant: 'nvfp4',
    },
  };

  it('the list above is the set of model_path values in measured.csv', () => {
    expect([...csvColumn('model_path')].sort()).toEqual(Object.keys(MODELS).sort());
  });

  it.each(Object.entries(MODELS))('%s resolves to its config', (path, want) => {
    const e = findModel(path);
    expect(e.id).toBe(want.id);
    const s = modelSpec(e);
    expect(s.modelType).toBe(want.modelType);
    expect(s.checkpointQuant?.format ?? null).toBe(want.quant);
    expect(countParameters(s).total).toBeGreaterThan(3e10);
  });

  it('every system resolves to its device and to a system with its NVLink domain', () => {
    const want: Record<string, [string, number]> = {
      h100_sxm: ['h100-sxm-80gb', 8],
      h200_sxm: ['h200-sxm-141gb', 8],
      b200_sxm: ['b200', 8],
      b300_sxm: ['b300', 8],
      gb200: ['gb200', 72],
      gb300: ['gb300', 72],
    };
    expect([...csvColumn('system')].sort()).toEqual(Object.keys(want).sort());
    for (const [name, [device, domain]] of Object.entries(want)) {
      expect(findDevice(name).id).toBe(device);
      expect(systemLinks(name)?.devicesPerNode).toBe(domain);
    }
  });
});

/** DeepSeek-V3-style MLA attention of one layer (q_lora path), written out from the modelling code's modules. */
function mla(h: number, heads: number, qLora: number, kvLora: number, nope: number, rope: number, v: number) {
  return (
    qLora * h + // q_a_proj
    qLora + // q_a_layernorm
    heads * (nope + rope) * qLora + // q_b_proj
    (kvLora + rope) * h + // kv_a_proj_with_mqa
    kvLora + // kv_a_layernorm
    heads * (nope + v) * kvLora + // kv_b_proj
    h * heads * v // o_proj
  );
}

describe('parameter counts', () => {
  it('DeepSeek-R1 has DeepSeek-V3 shapes: 671,026,419,200 (published exact count of V3, parameter-counts.json)', () => {
    expect(countParameters(spec('deepseek-ai/DeepSeek-R1')).total).toBe(671_026_419_200);
    expect(countParameters(spec('nvidia/DeepSeek-R1-NVFP4')).total).toBe(671_026_419_200);
    expect(countParameters(spec('nvidia/DeepSeek-V3.1-NVFP4')).total).toBe(671_026_419_200);
  });

  it('DeepSeek-V3.2 = V3 + a 64-head indexer per layer (wq_b, wk, k_norm with bias, weights_proj)', () => {
    const indexer = 64 * 128 * 1536 + 128 * 7168 + 2 * 128 + 64 * 7168;
    const s = spec('deepseek-ai/DeepSeek-V3.2');
    expect(countParameters(s).total).toBe(671_026_419_200 + 61 * indexer);
    // The MTP layer (num_nextn_predict_layers) is not instantiated, so it is not counted, and the spec says so.
    expect(s.warnings.join(' ')).toMatch(/not counted/);
  });

  // Published: Fireworks' model catalogue lists GLM-5 with paramCount 743911218432 (a public GitHub copy of its JSON).
  it('GLM-5 (zai-org/GLM-5, alias zhipuai/GLM-5): 743,911,218,432 by hand from its config and as published', () => {
    const h = 6144;
    const attn = mla(h, 64, 2048, 512, 192, 64, 256);
    const indexer = 32 * 128 * 2048 + 128 * h + 2 * 128 + 32 * h;
    const norms = 2 * h;
    const dense = 3 * 12288 * h;
    // router + e_score_correction_bias + 256 routed experts + 1 shared expert (moe_intermediate_size 2048)
    const moe = 256 * h + 256 + 256 * 3 * 2048 * h + 3 * 2048 * h;
    const layers = 78 * (attn + indexer + norms) + 3 * dense + 75 * moe;
    const globals = 2 * 154880 * h + h;
    const expected = layers + globals;
    expect(expected).toBe(743_911_218_432);
    const c = countParameters(spec('zhipuai/GLM-5'));
    expect(c.total).toBe(expected);
    // Active: 8 of 256 routed experts per MoE layer.
    expect(c.active).toBe(expected - 75 * (256 - 8) * 3 * 2048 * h);
    // Published: "744B total, 40B active" (GLM-5 model card); the active figure rounds embeddings differently.
    expect(c.total).toBe(743_911_218_432);
  });

  it('GLM-5.2 shares the top-k of the previous full layer on 57 of 78 layers (indexer_types): no indexer there', () => {
    const indexer = 32 * 128 * 2048 + 128 * 6144 + 2 * 128 + 32 * 6144;
    const s = spec('zai-org/GLM-5.2');
    expect(countParameters(s).total).toBe(743_911_218_432 - 57 * indexer);
    const shared = s.groups.filter((g) => g.name.endsWith('shared_topk'));
    expect(shared.reduce((n, g) => n + g.count, 0)).toBe(57);
    // KV: every layer caches its latent; only the 21 full-indexer layers cache indexer keys.
    expect(kv(s, 1).kvBytesPerToken).toBe(78 * (512 + 64) * 2 + 21 * (128 + 4));
  });

  // Published: paramCount 1026408232448 in Fireworks' catalogue JSON, and a public shard-header recount of seven Kimi
  // checkpoints (K2-Instruct, K2-Instruct-0905, K2-Thinking: 1026408232448 logical parameters; K2.5: 1026879376368).
  it('Kimi-K2-Instruct: 1,026,408,232,448 by hand (61 layers, 1 dense, 384 experts) and as published', () => {
    const h = 7168;
    const attn = mla(h, 64, 1536, 512, 128, 64, 128);
    const dense = 3 * 18432 * h;
    const moe = 384 * h + 384 + 384 * 3 * 2048 * h + 3 * 2048 * h;
    const expected = 61 * (attn + 2 * h) + dense + 60 * moe + 2 * 163840 * h + h;
    expect(expected).toBe(1_026_408_232_448);
    const c = countParameters(spec('moonshotai/Kimi-K2-Instruct'));
    expect(c.total).toBe(expected);
    expect(countParameters(spec('moonshotai/Kimi-K2-Thinking')).total).toBe(1_026_408_232_448);
    expect(countParameters(spec('moonshotai/Kimi-K2-Instruct-0905')).total).toBe(1_026_408_232_448);
  });

  it('Kimi-K2.5 = Kimi-K2 + MoonViT (27 blocks of 1152) + patch-merger projector, by hand', () => {
    const v = 1152;
    const block = 4 * v + (3 * v * v + 3 * v) + (v * v + v) + (4304 * v + 4304) + (v * 4304 + v);
    const tower = v * 3 * 14 * 14 + v + 64 * 64 * v + 27 * block + 2 * v;
    const projector = 2 * v + (4608 * 4608 + 4608) + (7168 * 4608 + 7168);
    const c = countParameters(spec('moonshotai/Kimi-K2.5'));
    expect(c.total).toBe(1_026_408_232_448 + tower + projector);
    expect(c.total).toBe(1_026_879_376_368); // the public shard-header recount above
    expect(c.breakdown.vision + c.breakdown.projector).toBe(tower + projector);
  });

  // Published: llama.cpp's llama-bench prints model_n_params 228689764864 for a MiniMax-M2.7 GGUF (no MTP tensors),
  // quoted in a public GitHub file; M2, M2.1, M2.5 and M2.7 share the architecture.
  it('MiniMax-M2.5: 228,689,764,864 by hand and as llama.cpp counts it', () => {
    const h = 3072;
    const attn = 6144 * h + 1024 * h + 1024 * h + h * 6144 + 6144 + 1024; // q, k, v, o, q_norm, k_norm
    const moe = 256 * h + 256 + 256 * 3 * 1536 * h; // router, routing bias, experts w1/w3/w2
    const expected = 62 * (attn + moe + 2 * h) + 2 * 200064 * h + h;
    expect(expected).toBe(228_689_764_864);
    const s = spec('MiniMaxAI/MiniMax-M2.5');
    const c = countParameters(s);
    expect(c.total).toBe(expected);
    expect(c.active).toBe(expected - 62 * (256 - 8) * 3 * 1536 * h);
    expect(s.warnings.join(' ')).toMatch(/multi-token-prediction/);
    expect(countParameters(spec('MiniMaxAI/MiniMax-M2.7')).total).toBe(228_689_764_864);
  });

  const qwen35Vision = (out: number) => {
    const v = 1152;
    const block = 4 * v + (3 * v * v + 3 * v) + (v * v + v) + (4304 * v + 4304) + (v * 4304 + v);
    const merger = 2 * v + (4608 * 4608 + 4608) + (out * 4608 + out);
    return v * 3 * 2 * 16 * 16 + v + 2304 * v + 27 * block + merger;
  };
  /** One Gated DeltaNet layer: in_proj qkv / z / b / a, depthwise conv, dt_bias, A_log, gated norm, out_proj. */
  const gdn = (h: number, nk: number, nv: number, dk: number, dv: number) => {
    const conv = 2 * nk * dk + nv * dv;
    return conv * h + nv * dv * h + 2 * nv * h + conv * 4 + 2 * nv + dv + h * nv * dv;
  };
  /** Gated attention: q_proj doubled for the output gate, k, v, o, per-head q/k norms. */
  const gatedAttn = (h: number, heads: number, kvh: number, hd: number) =>
    2 * heads * hd * h + 2 * kvh * hd * h + h * heads * hd + 2 * hd;

  // Published: Hugging Face reports num_parameters 396802360816 for a Qwen3.5-397B-A17B fine-tune (trending-model
  // metrics quoted in public GitHub files): the transformers model with its vision tower, MTP not instantiated.
  it('Qwen3.5-397B-A17B: 45 DeltaNet + 15 gated-attention layers, 512 experts + shared, vision tower', () => {
    const h = 4096;
    const moe = 512 * h + 512 * 3 * 1024 * h + 3 * 1024 * h + h; // router, experts, shared expert, shared gate
    const text =
      45 * (gdn(h, 16, 64, 128, 128) + moe + 2 * h) +
      15 * (gatedAttn(h, 32, 2, 256) + moe + 2 * h) +
      2 * 248320 * h +
      h;
    const expected = text + qwen35Vision(4096);
    expect(expected).toBe(396_802_360_816);
    const c = countParameters(spec('Qwen/Qwen3.5-397B-A17B'));
    expect(c.total).toBe(expected);
    // A17B: 10 of 512 experts active.
    // A17B: 10 of 512 experts active (NVIDIA's NVFP4 model card: 397B total, 17B active).
    expect(c.active).toBe(expected - 60 * (512 - 10) * 3 * 1024 * h);
  });

  // Published: keras-team/keras-hub@48b7596 keras_hub/src/models/qwen3_5/qwen3_5_presets.py "qwen3_5_27b": params
  // 27356728560; also transformers' meta-model num_parameters for this config quoted in a public GitHub file.
  it('Qwen3.5-27B (dense hybrid) by hand and as keras-hub publishes it', () => {
    const h = 5120;
    const mlp = 3 * 17408 * h;
    const expected =
      48 * (gdn(h, 16, 48, 128, 128) + mlp + 2 * h) +
      16 * (gatedAttn(h, 24, 4, 256) + mlp + 2 * h) +
      2 * 248320 * h +
      h +
      qwen35Vision(5120);
    expect(countParameters(spec('Qwen/Qwen3.5-27B')).total).toBe(expected);
    expect(expected).toBe(27_356_728_560);
  });

  // Published: keras-team/keras-hub@3846544 keras_hub/src/models/qwen3_5_moe/qwen3_5_moe_presets.py: 35107181936.
  it('Qwen3.5-35B-A3B: 30 DeltaNet + 10 attention layers, 256 experts, by hand and as keras-hub publishes it', () => {
    const h = 2048;
    const moe = 256 * h + 256 * 3 * 512 * h + 3 * 512 * h + h;
    const expected =
      30 * (gdn(h, 16, 32, 128, 128) + moe + 2 * h) +
      10 * (gatedAttn(h, 16, 2, 256) + moe + 2 * h) +
      2 * 248320 * h +
      h +
      qwen35Vision(2048);
    expect(expected).toBe(35_107_181_936);
    expect(countParameters(spec('Qwen/Qwen3.5-35B-A3B')).total).toBe(expected);
  });

  // Published: 79674391296 as the official parameter count of Qwen3-Coder-Next (same architecture) and llama.cpp's
  // n_params for it, both quoted in public GitHub files; NVIDIA NIM card: 80B total, 3.9B active.
  it('Qwen3-Next-80B-A3B: text only, by hand and as published', () => {
    const h = 2048;
    const moe = 512 * h + 512 * 3 * 512 * h + 3 * 512 * h + h;
    const expected =
      36 * (gdn(h, 16, 32, 128, 128) + moe + 2 * h) +
      12 * (gatedAttn(h, 16, 2, 256) + moe + 2 * h) +
      2 * 151936 * h +
      h;
    const c = countParameters(spec('Qwen/Qwen3-Next-80B-A3B-Instruct'));
    expect(c.total).toBe(expected);
    expect(c.active).toBe(expected - 48 * (512 - 10) * 3 * 512 * h);
    expect(expected).toBe(79_674_391_296);
    expect(Math.round(c.active / 1e8) / 10).toBe(3.9);
  });

  // Published: 106852251264 in a public GPU calculator's GLM-4.5-Air preset (and for INTELLECT-3, its fine-tune).
  it('GLM-4.5-Air: q/k/v biases, 1 dense + 45 MoE layers of 128 experts + shared, by hand and as published', () => {
    const h = 4096;
    const attn = 96 * 128 * h + 96 * 128 + 2 * (8 * 128 * h + 8 * 128) + h * 96 * 128;
    const dense = 3 * 10944 * h;
    const moe = 128 * h + 128 + 128 * 3 * 1408 * h + 3 * 1408 * h;
    const expected = 46 * (attn + 2 * h) + dense + 45 * moe + 2 * 151552 * h + h;
    const s = spec('zai-org/GLM-4.5-Air');
    expect(countParameters(s).total).toBe(expected);
    expect(expected).toBe(106_852_251_264);
    expect(s.warnings.join(' ')).toMatch(/not counted/);
  });

  // Published: a public calculator's test asserts 352797829024 for GLM-4.7 and 358337791296 with the Hugging Face MTP
  // block (one MoE layer + eh_proj + 3 norms + its own embedding and head: 5,539,962,272 more, checked below).
  it('GLM-4.7 adds per-head q/k norms (use_qk_norm) to 92 layers of 160 experts, by hand and as published', () => {
    const h = 5120;
    const attn = 96 * 128 * h + 96 * 128 + 2 * (8 * 128 * h + 8 * 128) + h * 96 * 128 + 2 * 128;
    const dense = 3 * 12288 * h;
    const moe = 160 * h + 160 + 160 * 3 * 1536 * h + 3 * 1536 * h;
    const expected = 92 * (attn + 2 * h) + 3 * dense + 89 * moe + 2 * 151552 * h + h;
    expect(countParameters(spec('zai-org/GLM-4.7')).total).toBe(expected);
    expect(countParameters(spec('GLM-4.6')).total).toBe(expected);
    expect(expected).toBe(352_797_829_024);
    const mtp = attn + 2 * h + moe + 2 * h * h + 3 * h + 2 * 151552 * h;
    expect(expected + mtp).toBe(358_337_791_296);
  });
});

describe('Gemma 3n (AltUp, LAuReL, per-layer embeddings, KV-shared layers, audio and vision towers)', () => {
  /** One text layer without its MLP, module by module as transformers' Gemma3nTextDecoderLayer builds it. */
  const layerNoMlp = (h: number) =>
    (8 * 256 + 2 * 2 * 256) * h +
    h * 8 * 256 +
    2 * 256 + // q, k, v, o, q_norm, k_norm (v_norm has no scale)
    4 * h + // input / post-attention / pre- and post-feedforward norms
    (h + 4 * 4 + 16 * 4 + 4 * h + h) + // AltUp: correct_output_scale, correction and prediction coefs, router, norm
    (64 * h + h * 64 + h) + // LAuReL: left, right, post norm
    (256 * h + h * 256 + h); // per-layer input gate, projection, norm
  const text = (layers: number, inter: number) => {
    const h = 2048;
    return (
      layers * (layerNoMlp(h) + 3 * inter * h) +
      262400 * h + // embed_tokens (the head is tied)
      262144 * layers * 256 + // embed_tokens_per_layer
      layers * 256 * h + // per_layer_model_projection
      256 + // per_layer_projection_norm
      6 * h * h + // 3 altup_projections and 3 altup_unembed_projections
      h // final norm
    );
  };
  // USM Conformer: sub-sampling convs (128 and 32 channels, 3x3, frequency 128 -> 64 -> 32), input projection, and
  // 12 blocks of two half-FFNs (x4), relative-position attention (8 x 192) and a depthwise conv of kernel 5.
  const a = 1536;
  const audio =
    128 * 1 * 9 +
    128 +
    32 * 128 * 9 +
    32 +
    32 * 32 * a +
    12 *
      (2 * (2 * a + 8 * a * a) +
        (a + a * a + 192 + 3 * a * a + a * a + a) +
        (a + 2 * a * a + 5 * a + a + a * a) +
        a);
  const embedders = 128 * 2048 + 2 * 2048 + 2048 * 2048 + (128 * a + 2 * a + a * 2048);
  const mobilenet = 294_284_096; // keras-hub mobilenetv5 preset "mobilenetv5_300m_enc_gemma3n"

  // Published: keras-team/keras-hub@ccdd2c3 keras_hub/src/models/gemma3n/gemma3n_presets.py: gemma3n_e2b(_it)
  // 5439595456, gemma3n_e4b(_it) 7850135376 (the multimodal model, MobileNetV5 and audio encoder included).
  it('E2B and E4B equal keras-hub published totals, the text model derived by hand', () => {
    expect(text(30, 8192) + audio + embedders + mobilenet).toBe(5_439_595_456);
    expect(text(35, 16384) + audio + embedders + mobilenet).toBe(7_850_135_376);
    expect(countParameters(spec('google/gemma-3n-E2B-it')).total).toBe(5_439_595_456);
    expect(countParameters(spec('google/gemma-3n-E4B-it')).total).toBe(7_850_135_376);
    expect(spec('google/gemma-3n-E4B').warnings.join(' ')).toMatch(/MobileNetV5/);
  });

  it('E4B caches KV on its first 20 layers only (15 share it): 4 global + 16 sliding (512) x 2,048 B', () => {
    const s = spec('google/gemma-3n-E4B-it');
    const perLayer = 2 * 2 * 256 * 2; // (K + V) x 2 kv heads x head_dim x bf16
    expect(kv(s, 1).kvBytesPerToken).toBe(20 * perLayer);
    expect(kv(s, 8192).kvCacheBytes).toBe(4 * 8192 * perLayer + 16 * 512 * perLayer);
    // E2B: 20 of its 30 layers hold KV as well.
    expect(kv(spec('google/gemma-3n-E2B-it'), 1).kvBytesPerToken).toBe(20 * perLayer);
  });
});

describe('bad configs of the new families', () => {
  type Json = Record<string, unknown>;
  const sub = (c: Json, key: string) => c[key] as Json;
  const broken = (id: string, edit: (c: Json) => void) => {
    const c = structuredClone(findModel(id).config);
    edit(c);
    return () => specFromConfig(c);
  };
  it('name every missing or malformed field, nested ones with their prefix', () => {
    expect(
      broken('Qwen/Qwen3.5-397B-A17B', (c) => {
        delete sub(c, 'text_config')['linear_num_key_heads'];
        sub(c, 'text_config')['layer_types'] = ['full_attention'];
      }),
    ).toThrow(/missing text_config\.linear_num_key_heads; text_config\.layer_types has 1 entries/);
    expect(broken('zai-org/GLM-5', (c) => delete c['kv_lora_rank'])).toThrow(/missing kv_lora_rank/);
    expect(broken('MiniMaxAI/MiniMax-M2.5', (c) => delete c['num_local_experts'])).toThrow(
      /num_local_experts/,
    );
    expect(broken('moonshotai/Kimi-K2.5', (c) => delete sub(c, 'vision_config')['vt_hidden_size'])).toThrow(
      /vision_config\.vt_hidden_size/,
    );
    expect(broken('Qwen/Qwen3-Next-80B-A3B-Instruct', (c) => (c['linear_value_head_dim'] = -3))).toThrow(
      /linear_value_head_dim must be a positive integer/,
    );
  });
});

describe('KV cache and recurrent state per token, by hand', () => {
  it('GLM-5: 78 layers x ((512 + 64) x 2 B latent + 128 fp8 indexer key + 4 B scale) = 100,152 B', () => {
    expect(kv(spec('zai-org/GLM-5'), 1).kvBytesPerToken).toBe(78 * ((512 + 64) * 2 + 128 + 4));
    // fp8 KV halves the latent only; the indexer cache is fp8 with its scale whatever the KV dtype.
    expect(kv(spec('zai-org/GLM-5'), 1, 1).kvBytesPerToken).toBe(78 * (576 + 132));
  });

  it('DSA: a query attends to at most index_topk = 2048 cached tokens; the indexer reads every key (132 B)', () => {
    const a = spec('deepseek-ai/DeepSeek-V3.2').groups[0]!.attention!;
    expect(attendedTokens(a, 1000)).toBe(1000);
    expect(attendedTokens(a, 8192)).toBe(2048);
    expect(indexerBytesPerToken(a)).toBe(128 + 4);
    const r1 = spec('deepseek-ai/DeepSeek-R1').groups[0]!.attention!;
    expect(attendedTokens(r1, 8192)).toBe(8192);
    expect(indexerBytesPerToken(r1)).toBe(0);
  });

  it('DeepSeek-V3.2: 61 x (1,152 + 132) = 78,324 B; DeepSeek-R1 without an indexer: 61 x 1,152', () => {
    expect(kv(spec('deepseek-ai/DeepSeek-V3.2'), 1).kvBytesPerToken).toBe(61 * 1284);
    expect(kv(spec('deepseek-ai/DeepSeek-R1'), 1).kvBytesPerToken).toBe(61 * 1152);
  });

  it('MiniMax-M2.5: 62 x 2 x 8 kv heads x 128 x 2 B = 253,952 B; split by TP 8 to one head', () => {
    expect(kv(spec('MiniMaxAI/MiniMax-M2.5'), 1).kvBytesPerToken).toBe(253_952);
    expect(kv(spec('MiniMaxAI/MiniMax-M2.5'), 1, 2, 8).kvBytesPerToken).toBe(253_952 / 8);
  });

  it('Qwen3.5-397B: only the 15 full-attention layers grow with context; 45 DeltaNet layers keep a fixed state', () => {
    const s = spec('Qwen/Qwen3.5-397B-A17B');
    const perToken = 15 * 2 * 2 * 256 * 2; // layers x (K + V) x kv heads x head_dim x bf16
    // conv state: (2 x 16 x 128 + 64 x 128) channels x (4 - 1) x bf16; recurrent: 64 heads x 128 x 128 x fp32
    const state = 45 * ((2 * 16 * 128 + 64 * 128) * 3 * 2 + 64 * 128 * 128 * 4);
    const short = kv(s, 1000);
    const long = kv(s, 100_000);
    expect(short.kvBytesPerToken).toBe(perToken);
    expect(long.kvCacheBytes).toBe(100_000 * perToken);
    expect(short.stateBytes).toBe(state);
    expect(long.stateBytes).toBe(state);
  });
});

describe('checkpoint quantisation (quantization_config / hf_quant_config)', () => {
  const t = (name: string, role: Tensor['role'], shape: number[] = [8, 8]): Tensor => ({ name, shape, role });

  it('ModelOpt exclusion lists apply by module name, layer by layer', () => {
    const s = spec('nvidia/DeepSeek-V3.1-NVFP4');
    const q = s.checkpointQuant!;
    expect(q.method).toBe('modelopt');
    expect(q.kvCacheDtype).toBe('fp8');
    const g = s.groups.find((x) => x.mlp?.kind === 'moe')!;
    // V3.1-NVFP4 keeps q_a / q_b / kv_a / kv_b in bf16 but quantises o_proj and every MLP.
    expect(excludedFromQuant(q, t('self_attn.kv_b_proj.weight', 'attention'), g, 10)).toBe(true);
    expect(excludedFromQuant(q, t('self_attn.q_a_proj.weight', 'attention'), g, 60)).toBe(true);
    expect(excludedFromQuant(q, t('self_attn.o_proj.weight', 'attention'), g, 10)).toBe(false);
    expect(excludedFromQuant(q, t('mlp.experts.#.down_proj.weight', 'expert'), g, 10)).toBe(false);
    expect(excludedFromQuant(q, t('lm_head.weight', 'lm_head'), null, 0)).toBe(true);
  });

  it('globs and compressed-tensors regexes', () => {
    const glob = specFromConfig({
      ...findModel('Qwen/Qwen3-32B').config,
      quantization_config: {
        quant_method: 'modelopt',
        quant_algo: 'NVFP4',
        exclude_modules: ['model.layers.1*'],
      },
    }).checkpointQuant!;
    const g = spec('Qwen/Qwen3-32B').groups[0]!;
    expect(excludedFromQuant(glob, t('mlp.up_proj.weight', 'mlp'), g, 12)).toBe(true);
    expect(excludedFromQuant(glob, t('mlp.up_proj.weight', 'mlp'), g, 2)).toBe(false);
    const k = spec('moonshotai/Kimi-K2.5').checkpointQuant!;
    const moe = spec('moonshotai/Kimi-K2.5').groups.find((x) => x.mlp?.kind === 'moe')!;
    // ignore: re:.*self_attn.*, re:.*shared_experts.*, re:.*mlp\.(gate|up|gate_up|down)_proj.*
    expect(excludedFromQuant(k, t('self_attn.q_b_proj.weight', 'attention'), moe, 5)).toBe(true);
    expect(excludedFromQuant(k, t('mlp.shared_expert.up_proj.weight', 'shared_expert'), moe, 5)).toBe(true);
    expect(excludedFromQuant(k, t('mlp.experts.#.up_proj.weight', 'expert'), moe, 5)).toBe(false);
  });

  it('vision towers follow their checkpoint names: NVIDIA Kimi-K2.5 and Qwen3.5 NVFP4 keep the tower in bf16', () => {
    for (const id of ['nvidia/Kimi-K2.5-NVFP4', 'nvidia/Qwen3.5-397B-A17B-NVFP4']) {
      const s = spec(id);
      const q = s.checkpointQuant!;
      const v = s.groups.find((g) => g.stack === 'vision')!;
      for (const tensor of v.tensors) expect(excludedFromQuant(q, tensor, v, 3)).toBe(true);
      for (const tensor of s.globalTensors.filter((x) => x.role === 'vision' || x.role === 'projector'))
        expect(excludedFromQuant(q, tensor, null, 0)).toBe(true);
      const moe = s.groups.find((g) => g.mlp?.kind === 'moe')!;
      expect(
        excludedFromQuant(
          q,
          moe.tensors.find((x) => x.role === 'expert')!,
          moe,
          7,
        ),
      ).toBe(false);
    }
  });

  it('nvidia/Qwen3-32B-NVFP4 weighs, by hand: every linear NVFP4 (16 x 4 bit + e4m3 scale, fp32 tensor scale)', () => {
    const nvfp4 = (out: number, inp: number) => (out * inp) / 2 + (out * inp) / 16 + 4;
    const h = 5120;
    const layer =
      nvfp4(8192, h) + // q_proj
      2 * nvfp4(1024, h) + // k_proj, v_proj
      nvfp4(h, 8192) + // o_proj
      2 * nvfp4(25600, h) + // gate_proj, up_proj
      nvfp4(h, 25600) + // down_proj
      2 * (2 * 128 + 2 * h); // q_norm, k_norm, two RMSNorms in bf16
    const globals = 2 * 151936 * h * 2 + 2 * h; // embedding and lm_head (excluded) in bf16, final norm
    expect(weightLayout(spec('nvidia/Qwen3-32B-NVFP4'), 'auto').total).toBe(64 * layer + globals);
  });

  it('Kimi-K2.5 weighs, by hand: routed experts int4 (bf16 scale per 32, int64[2] shape), the rest bf16', () => {
    const s = spec('moonshotai/Kimi-K2.5');
    const c = countParameters(s);
    const experts = 60 * 3 * 384 * 2048 * 7168; // 60 MoE layers x (gate, up, down) x experts
    const expertBytes = experts / 2 + (experts / 32) * 2 + 60 * 3 * 384 * 16;
    expect(weightLayout(s, 'auto').total).toBe(2 * (c.total - experts) + expertBytes);
  });

  it('ModelOpt MIXED_PRECISION (nvidia/Qwen3.6-35B-A3B-NVFP4): each listed module in its format, the rest bf16', () => {
    const h = 2048;
    const fp8 = 30 * (8192 * h + 4096 * h + h * 4096) + 10 * (8192 * h + 2 * 512 * h + h * 4096); // GDN, attention
    const nvfp4 = [
      ...Array<number>(40 * 3).fill(256 * 512 * h), // routed experts, stacked per projection
      ...Array<number>(40 * 3).fill(512 * h), // shared expert
      248320 * h, // lm_head (W4A16_NVFP4)
    ];
    const saved = fp8 + nvfp4.reduce((sum, n) => sum + (2 * n - (n / 2 + n / 16 + 4)), 0);
    const s = spec('nvidia/Qwen3.6-35B-A3B-NVFP4');
    expect(countParameters(s).total).toBe(35_107_181_936); // keras-hub qwen3_6_moe_35b_a3b, same shapes
    expect(weightLayout(s, 'auto').total).toBe(2 * 35_107_181_936 - saved);
  });

  it('MiniMax-M2.5 FP8 keeps its router (modules_to_not_convert: gate) and head in bf16', () => {
    const q = spec('MiniMaxAI/MiniMax-M2.5').checkpointQuant!;
    expect(q.format).toBe('fp8_block');
    expect(q.excludedModules).toContain('gate');
    const g = spec('MiniMaxAI/MiniMax-M2.5').groups[0]!;
    expect(excludedFromQuant(q, t('block_sparse_moe.gate.weight', 'router'), g, 0)).toBe(true);
    expect(excludedFromQuant(q, t('self_attn.q_proj.weight', 'attention'), g, 0)).toBe(false);
  });
});

describe('a vision tower whose heads the TP degree does not divide runs whole on every device', () => {
  // Kimi-K2.5: a 16-head MoonViT tower under the tp=32 of measured.csv's GB200 rows (vLLM's mm_encoder_tp_mode=data).
  const s = spec('moonshotai/Kimi-K2.5');
  const text: ModelSpec = { ...s, groups: s.groups.filter((g) => g.stack !== 'vision') };
  const layout = weightLayout(s, 'auto');
  let tower = 0;
  let towerSplit = 0;
  s.groups.forEach((g, i) => {
    if (g.stack !== 'vision') return;
    const w = layout.groups[i]!;
    tower += g.count * (w.tpSplit + w.kvProj + w.expert + w.replicated);
    towerSplit += g.count * w.tpSplit;
  });
  const weights = (m: ModelSpec, tp: number) =>
    inferenceMemory(m, {
      precision: 'auto',
      kvPrecision: 'bf16',
      batch: 1,
      seq: 16,
      plan: { tp, pp: 1, ep: 1 },
    }).weights_bytes;

  it('tp=32 is accepted and each device holds the whole tower', () => {
    expect(s.groups.find((g) => g.stack === 'vision')?.attention?.numHeads).toBe(16);
    expect(() => validatePlan(s, { tp: 32, pp: 1, ep: 1 })).not.toThrow();
    expect(tower).toBeGreaterThan(1e8);
    expect(weights(s, 32) - weights(text, 32)).toBeCloseTo(tower, 0);
  });

  it('tp=16 divides the heads: the tower is split like the rest', () => {
    expect(weights(s, 16) - weights(text, 16)).toBeCloseTo(tower - towerSplit + towerSplit / 16, 0);
  });
});
