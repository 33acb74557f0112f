/**
 * Inference memory per device (src/core/memory/inference.ts): the activation peak of one forward step, weights
 * under TP/PP/EP, images, context and sequence parallelism, and the explain trace. Every expected figure is worked
 * out by hand in a comment from the real config (../shared/reference/models).
 */
import { describe, expect, it } from 'vitest';
import { inferenceMemory, modelDtype, type InferenceOptions } from '../../src/core/memory/inference.js';
import { referenceSpec } from '../helpers.js';

const llama31 = referenceSpec('meta-llama__Llama-3.1-8B.json');
const o = (x: Partial<InferenceOptions> = {}): InferenceOptions => ({
  precision: 'bf16',
  kvPrecision: 'bf16',
  batch: 1,
  seq: 2000,
  plan: { tp: 1, pp: 1, ep: 1 },
  runtime: 'none',
  ...x,
});
const MiB = 2 ** 20;

describe('activation peak of one step: residual 2·T·h·b + the largest layer transient or the logits', () => {
  // Llama-3.1-8B, T = 2000 tokens, 2 B: residual 2 · 2000 · 4096 · 2 = 32,768,000.
  it('fused attention: the gated MLP is the largest transient, 2000 · 14336 · 3 · 2 = 172,032,000', () => {
    expect(inferenceMemory(llama31, o()).activation_bytes).toBe(32_768_000 + 172_032_000);
  });
  it('eager attention adds the s² scores: 2000 · (4096 + 2048 + 4096) · 2 + 32 · 2000² · 2', () => {
    // 40,960,000 + 256,000,000 = 296,960,000 > the MLP's 172,032,000.
    expect(inferenceMemory(llama31, o({ fusedAttention: false })).activation_bytes).toBe(
      32_768_000 + 296_960_000,
    );
  });
  it('logits rows · vocab · (2 + 4 + 4) win for one token and 256 rows', () => {
    // residual 2 · 1 · 4096 · 2 = 16,384; logits 256 · 128,256 · 10 = 328,335,360.
    const r = inferenceMemory(llama31, o({ stepTokens: 1, logitsRows: 256 }));
    expect(r.activation_bytes).toBe(16_384 + 328_335_360);
  });
  it('fp32 doubles every element: 409,600,000', () => {
    const r = inferenceMemory(llama31, o({ precision: 'fp32' }));
    expect(r.activation_bytes).toBe(2 * (32_768_000 + 172_032_000));
    expect(r.weights_bytes).toBe(4 * 8_030_261_248);
  });
  it('TP2 with sequence parallel halves the residual and every transient: 102,400,000', () => {
    const r = inferenceMemory(llama31, o({ plan: { tp: 2, pp: 1, ep: 1, sp: true } }));
    expect(r.activation_bytes).toBe(16_384_000 + 86_016_000);
    // Weights: (16,060,522,496 − 65 norms · 4096 · 2 B) / 2 + 532,480 replicated = 8,030,527,488.
    expect(r.weights_bytes).toBe(8_030_527_488);
    expect(r.devices).toBe(2);
  });
  it('context parallel cp=2 splits the step tokens and the KV cache', () => {
    const r = inferenceMemory(llama31, o({ plan: { tp: 1, pp: 1, ep: 1, cp: 2 } }));
    // T = 1000: 2 · 1000 · 4096 · 2 + 1000 · 14336 · 6 = 16,384,000 + 86,016,000.
    expect(r.activation_bytes).toBe(102_400_000);
    expect(r.kv_cache_bytes).toBe((131_072 * 2000) / 2);
    expect(r.kv_cache_bytes_per_token).toBe(65_536);
    expect(r.devices).toBe(2);
  });
  it('MoE: top-8 routed experts plus fp32 router logits (Qwen3-30B-A3B, T = 1000)', () => {
    // 1000 · 8 · 768 · 3 · 2 = 36,864,000 + 1000 · 128 · 4 = 512,000 → 37,376,000 (attention:
    // 1000 · (4096 + 1024 + 4096) · 2 = 18,432,000); residual 2 · 1000 · 2048 · 2 = 8,192,000.
    const r = inferenceMemory(referenceSpec('Qwen__Qwen3-30B-A3B.json'), o({ seq: 1000 }));
    expect(r.activation_bytes).toBe(8_192_000 + 37_376_000);
  });
  it('Mamba: x, z and the conv input, (2 · 1536 + 1536) · T · 2 B', () => {
    // 1000 · 4608 · 2 = 9,216,000 + residual 2 · 1000 · 768 · 2 = 3,072,000.
    const r = inferenceMemory(referenceSpec('state-spaces__mamba-130m-hf.json'), o({ seq: 1000 }));
    expect(r.activation_bytes).toBe(12_288_000);
    expect(r.weights_bytes).toBe(2 * 129_135_360);
  });
  it('an encoder has no logits and no KV cache (BERT-base, 128 tokens)', () => {
    // MLP 128 · 3072 · 2 · 2 = 1,572,864 + residual 2 · 128 · 768 · 2 = 393,216.
    const r = inferenceMemory(referenceSpec('google-bert__bert-base-uncased.json'), o({ seq: 128 }));
    expect(r.activation_bytes).toBe(1_966_080);
    expect(r.kv_cache_bytes).toBe(0);
  });
});

describe('weights per device under TP, PP and EP', () => {
  it('Llama-2-70B at tp=16: K/V split only down to one of the 8 KV heads', () => {
    // Per layer: q, o 2 · 8192² / 16 = 8,388,608; k, v 2 · 1024 · 8192 / 8 = 2,097,152; MLP 3 · 8192 · 28672 / 16
    // = 44,040,192; norms 16,384: 54,542,336 · 2 B · 80 = 8,726,773,760; embedding and head 2 · 32000 · 8192 · 2 B
    // / 16 = 65,536,000; final norm 16,384 B. KV: 80 · 2 · 1 · 128 · 2 = 40,960 B per token.
    const r = inferenceMemory(
      referenceSpec('meta-llama__Llama-2-70b-hf.json'),
      o({ seq: 1, plan: { tp: 16, pp: 1, ep: 1 } }),
    );
    expect(r.weights_bytes).toBe(8_792_326_144);
    expect(r.kv_cache_bytes_per_token).toBe(40_960);
  });
  it('Mixtral-8x7B at tp=2, ep=2: experts / 4, attention / 2, router and norms whole', () => {
    // Per layer: 33,554,432 / 2 + 8,388,608 / 2 + 8 · 3 · 4096 · 14336 / 4 = 352,321,536 + router 32,768 + norms
    // 8192 = 373,334,016 · 2 B · 32 = 23,893,377,024; embedding and head 2 · 32000 · 4096 · 2 B / 2 =
    // 262,144,000; final norm 8192.
    const r = inferenceMemory(
      referenceSpec('mistralai__Mixtral-8x7B-v0.1.json'),
      o({ seq: 1, plan: { tp: 2, pp: 1, ep: 2 } }),
    );
    expect(r.weights_bytes).toBe(24_155_529_216);
    expect(r.devices).toBe(4);
  });
  it('Llama-3.1-8B pp=2: stage 0 holds 16 layers and the embedding, and half the KV', () => {
    // 16 · 218,112,000 · 2 B = 6,979,584,000 + 128,256 · 4096 · 2 B = 1,050,673,152 + final norm 8,192.
    const r = inferenceMemory(llama31, o({ plan: { tp: 1, pp: 2, ep: 1 } }));
    expect(r.stage).toBe(0);
    expect(r.weights_bytes).toBe(8_030_265_344);
    expect(r.kv_cache_bytes).toBe(16 * 2 * 8 * 128 * 2 * 2000);
  });
  it('LLaVA: 576 image tokens join the sequence; their embeddings are held once', () => {
    // seq 100 + 576 = 676: KV 524,288 · 676 = 354,418,688; image 576 · 4096 · 2 = 4,718,592; activation
    // 2 · 676 · 4096 · 2 + 676 · 11008 · 6 = 11,075,584 + 44,648,448.
    const r = inferenceMemory(referenceSpec('llava-hf__llava-1.5-7b-hf.json'), o({ seq: 100, images: 1 }));
    expect(r.kv_cache_bytes).toBe(354_418_688);
    expect(r.image_bytes).toBe(4_718_592);
    expect(r.activation_bytes).toBe(55_724_032);
  });
  it('total = weights + KV + state + activation + image + runtime (PyTorch: 361 MiB by default)', () => {
    const r = inferenceMemory(llama31, o({ runtime: undefined }));
    expect(r.overhead).toEqual({ cuda_context: 361 * MiB });
    expect(r.total_bytes).toBe(16_060_522_496 + 131_072 * 2000 + 204_800_000 + 361 * MiB);
  });
  it('modelDtype reads torch_dtype, bf16 when unstated', () => {
    expect(modelDtype(llama31)).toBe('bf16');
    expect(modelDtype({ ...llama31, torchDtype: 'float32' })).toBe('fp32');
    expect(modelDtype({ ...llama31, torchDtype: 'Float16' })).toBe('fp16');
    expect(modelDtype({ ...llama31, torchDtype: null })).toBe('bf16');
  });
  it('rejects an unknown KV precision', () => {
    expect(() => inferenceMemory(llama31, o({ kvPrecision: 'fp7' }))).toThrow(/unknown kv precision 'fp7'/);
  });
});

describe('transients under TP, and the stage and dtype choices', () => {
  it('eager attention at tp=2 (Llama-3.1-8B, 2000 tokens): 16 heads of scores outweigh the halved MLP', () => {
    // 2000 · (2048 + 1024 + 2048) · 2 = 20,480,000 + 16 · 2000² · 2 = 128,000,000 → 148,480,000 > 86,016,000.
    const r = inferenceMemory(llama31, o({ fusedAttention: false, plan: { tp: 2, pp: 1, ep: 1 } }));
    expect(r.activation_bytes).toBe(32_768_000 + 148_480_000);
  });
  it('Qwen3-30B-A3B at tp=2: routed experts split, router logits whole', () => {
    // 1000 · 8 · 384 · 6 = 18,432,000 + 1000 · 128 · 4 = 512,000; residual 8,192,000.
    const r = inferenceMemory(
      referenceSpec('Qwen__Qwen3-30B-A3B.json'),
      o({ seq: 1000, plan: { tp: 2, pp: 1, ep: 1 } }),
    );
    expect(r.activation_bytes).toBe(8_192_000 + 18_944_000);
  });
  it('DeepSeek-V2-Lite: 6 routed + the shared experts + router logits outweigh the dense first layer', () => {
    // 1000 · 6 · 1408 · 6 = 50,688,000 + 1000 · 2816 · 6 = 16,896,000 + 1000 · 64 · 4 = 256,000 = 67,840,000 >
    // 1000 · 10944 · 6 = 65,664,000; residual 2 · 1000 · 2048 · 2 = 8,192,000.
    const r = inferenceMemory(referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json'), o({ seq: 1000 }));
    expect(r.activation_bytes).toBe(8_192_000 + 67_840_000);
  });
  it('Mamba-130m at tp=2: the SSM transient and state split; the total adds the state', () => {
    const r = inferenceMemory(
      referenceSpec('state-spaces__mamba-130m-hf.json'),
      o({ seq: 1000, plan: { tp: 2, pp: 1, ep: 1 } }),
    );
    // 1000 · 4608 / 2 · 2 = 4,608,000 + residual 3,072,000.
    expect(r.activation_bytes).toBe(7_680_000);
    // (1536 · 3 · 2 B + 1536 · 16 · 4 B) / 2 · 24 layers = 1,290,240.
    expect(r.state_bytes).toBe(1_290_240);
    expect(r.total_bytes).toBe(r.weights_bytes + 1_290_240 + 7_680_000);
  });
  it("'auto' computes in the checkpoint's dtype: Mamba-130m is float32, 4 B per element", () => {
    const r = inferenceMemory(
      referenceSpec('state-spaces__mamba-130m-hf.json'),
      o({ seq: 1000, precision: 'auto' }),
    );
    // 2 · 1000 · 768 · 4 + 1000 · 4608 · 4 = 6,144,000 + 18,432,000; state (1536 · 3 + 1536 · 16) · 4 · 24.
    expect(r.activation_bytes).toBe(24_576_000);
    expect(r.state_bytes).toBe(2_801_664);
    expect(r.total_bytes).toBe(4 * 129_135_360 + 2_801_664 + 24_576_000);
  });
  it('an encoder computes no logits, however many rows are asked for (BERT, one token)', () => {
    // 2 · 1 · 768 · 2 = 3,072 + the MLP 3072 · 2 · 2 = 12,288 (64 rows · 30,522 · 10 would be 19,533,120).
    const r = inferenceMemory(
      referenceSpec('google-bert__bert-base-uncased.json'),
      o({ seq: 1, logitsRows: 64 }),
    );
    expect(r.activation_bytes).toBe(15_360);
  });
  it('pp=2 with 256 logits rows: the last stage (head + logits) is the worst one reported', () => {
    // Stage 1: 16 · 218,112,000 · 2 B + head 128,256 · 4096 · 2 B = 8,030,257,152; logits 328,335,360.
    const r = inferenceMemory(llama31, o({ stepTokens: 1, logitsRows: 256, plan: { tp: 1, pp: 2, ep: 1 } }));
    expect(r.stage).toBe(1);
    expect(r.weights_bytes).toBe(8_030_257_152);
    expect(r.activation_bytes).toBe(16_384 + 328_335_360);
  });
  it('paged KV rounds each sequence up to whole 16-token blocks: 1000 → 1008 tokens', () => {
    expect(inferenceMemory(llama31, o({ seq: 1000, blockSize: 16 })).kv_cache_bytes).toBe(1008 * 131_072);
    expect(() => inferenceMemory(llama31, o({ seq: 0 }))).toThrow(/^seq must be a positive integer/);
  });
  it('the trace lists KV per token for decoder groups only and names the default runtime', () => {
    const r = inferenceMemory(
      referenceSpec('llava-hf__llava-1.5-7b-hf.json'),
      o({ seq: 10, explain: true, runtime: undefined }),
    );
    expect(r.trace.filter((t) => t.figure.startsWith('kv bytes per token')).map((t) => t.figure)).toEqual([
      'kv bytes per token (decoder)',
    ]);
    expect(r.trace.find((t) => t.figure === 'overhead.cuda_context')!.inputs).toEqual({ runtime: 'pytorch' });
  });
});

describe('inference explain trace', () => {
  it('figures, units and formulas: MLA latents, GQA heads, runtime lines', () => {
    const ds = inferenceMemory(
      referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json'),
      o({ explain: true, runtime: 'vllm-v1' }),
    );
    expect(ds.trace.map((t) => [t.figure, t.unit])).toEqual([
      ['weights_bytes (whole model)', 'bytes'],
      ['weights_bytes', 'bytes'],
      ['kv bytes per token (decoder)', 'bytes/token'],
      ['kv bytes per token (decoder.moe)', 'bytes/token'],
      ['kv_cache_bytes', 'bytes'],
      ['state_bytes', 'bytes'],
      ['activation_bytes', 'bytes'],
      ['overhead.cuda_context', 'bytes'],
      ['overhead.rotary_cache', 'bytes'],
      ['total_bytes', 'bytes'],
    ]);
    // MLA: (512 + 64) · 2 B per layer; 1 dense layer and 26 MoE layers.
    const kv = ds.trace.filter((t) => t.figure.startsWith('kv bytes per token'));
    expect(kv.map((t) => t.value)).toEqual([1152, 26 * 1152]);
    for (const t of kv) expect(t.formula).toBe('(kv_lora_rank + qk_rope_head_dim) · bytes_kv · layers');
    expect(kv[1]!.inputs).toMatchObject({ layers: 26, bytes_kv: 2, tp: 1 });
    for (const t of ds.trace) expect(t.formula.length).toBeGreaterThan(10);
    expect(ds.trace.find((t) => t.figure === 'overhead.rotary_cache')!.inputs).toEqual({
      runtime: 'vllm-v1',
    });
    expect(ds.trace.find((t) => t.figure === 'total_bytes')!.value).toBe(ds.total_bytes);

    const l = inferenceMemory(llama31, o({ explain: true, plan: { tp: 2, pp: 1, ep: 1 } }));
    const lkv = l.trace.find((t) => t.figure === 'kv bytes per token (decoder)')!;
    // 32 layers · 2 · (8 / 2) · 128 · 2 B = 65,536.
    expect(lkv.value).toBe(65_536);
    expect(lkv.formula).toBe('2 · kv_heads_per_device · head_dim · bytes_kv · layers');
    expect(lkv.inputs).toEqual({ layers: 32, kv_heads: 8, head_dim: 128, bytes_kv: 2, window: null, tp: 2 });
    expect(l.trace.find((t) => t.figure === 'weights_bytes')!.inputs).toEqual({
      tp: 2,
      pp: 1,
      ep: 1,
      stage: 0,
    });
    expect(l.trace.find((t) => t.figure === 'weights_bytes (whole model)')!).toMatchObject({
      value: 16_060_522_496,
      inputs: { precision: 'bf16' },
    });
    expect(l.trace.find((t) => t.figure === 'activation_bytes')!.inputs).toEqual({
      T: 2000,
      hidden: 4096,
      b: 2,
      logits_rows: 1,
      vocab: 128_256,
    });
    expect(l.trace.find((t) => t.figure === 'kv_cache_bytes')!.inputs).toEqual({ batch: 1, seq: 2000 });
    // Without explain, no trace.
    expect(inferenceMemory(llama31, o()).trace).toEqual([]);
  });
});
