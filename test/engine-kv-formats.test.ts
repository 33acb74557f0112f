/**
 * KV layouts the engines use beyond "heads x head_dim x dtype", each per token on one device, from the configs:
 * - Gemma 3n kv-shared layers read an earlier layer's cache and get none (vLLM get_kv_cache_spec skips layers with
 *   kv_sharing_target_layer_name). gemma-3n-E4B: 35 layers, num_kv_shared_layers 15, 2 KV heads of 256:
 *   20 x 2 x 2 x 256 x 2 B = 40,960 B (not 35 x 2,048 = 71,680).
 * - DeepSeek-V3.2 with an fp8 KV cache in vLLM: fp8_ds_mla, 512 fp8 + 4 fp32 scales + 64 bf16 = 656 B per layer
 *   (FlashMLASparseBackend.get_kv_cache_shape), plus the indexer's 128 fp8 + one fp32 scale = 132 B:
 *   61 x 788 = 48,068 B. In bf16: 61 x ((512 + 64) x 2 + 132) = 78,324 B.
 * - ModelOpt checkpoints calibrated with an FP8 KV cache: vLLM resolves --kv-cache-dtype auto to fp8
 *   (vllm/utils/torch_utils.py get_kv_cache_quant_algo_string, quant_method modelopt*). Qwen3-32B: 64 layers x
 *   8 KV heads x 128 x 2 = 131,072 B at 1 B (262,144 at bf16).
 */
import { describe, expect, it } from 'vitest';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../src/catalog/index.js';
import { engineKvCapacity } from '../src/core/memory/engines/index.js';

const spec = (id: string) => modelSpec(findModel(id));
const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const h200 = hardwareSpec(findDevice('h200'));
const terms = (c: { uncertain_terms: { term: string }[] }) => c.uncertain_terms.map((u) => u.term);

describe('engine KV layouts', () => {
  it('gemma-3n: kv-shared layers cache nothing, in every engine', () => {
    for (const engine of ['vllm', 'sglang', 'trtllm'] as const) {
      const c = engineKvCapacity(spec('google/gemma-3n-E4B-it'), h100, { engine, maxModelLen: 8192 });
      expect(c.kv_cache_bytes_per_token, engine).toBe(20 * 2 * 2 * 256 * 2);
    }
  });

  it("DeepSeek-V3.2 fp8: vLLM's 656-byte fp8_ds_mla layout plus the indexer; bf16 stays plain", () => {
    const s = spec('deepseek-ai/DeepSeek-V3.2');
    const base = { plan: { tp: 8, pp: 1, ep: 1 }, maxModelLen: 8192 };
    const fp8 = engineKvCapacity(s, h200, { ...base, kvCacheDtype: 'fp8' });
    expect(fp8.kv_cache_bytes_per_token).toBe(61 * (656 + 132));
    const bf16 = engineKvCapacity(s, h200, { ...base, kvCacheDtype: 'bf16' });
    expect(bf16.kv_cache_bytes_per_token).toBe(61 * ((512 + 64) * 2 + 132));
    // SGLang keeps its own plain layout here: 576 fp8 bytes + the indexer.
    const sg = engineKvCapacity(s, h200, { ...base, engine: 'sglang', kvCacheDtype: 'fp8' });
    expect(sg.kv_cache_bytes_per_token).toBe(61 * (576 + 132));
  });

  it('GLM-5.2 fp8: every layer attends sparsely, so all 78 take fp8_ds_mla; only the 21 with an indexer add its keys', () => {
    const s = spec('zai-org/GLM-5.2-FP8');
    const fp8 = engineKvCapacity(s, h200, {
      plan: { tp: 8, pp: 1, ep: 1 },
      maxModelLen: 8192,
      kvCacheDtype: 'fp8',
    });
    expect(fp8.kv_cache_bytes_per_token).toBe(78 * 656 + 21 * 132);
  });

  it('ModelOpt with an FP8 KV cache: vLLM 0.19 picks fp8 under auto; older releases and SGLang the model dtype', () => {
    const s = spec('nvidia/Qwen3-32B-NVFP4');
    expect(s.checkpointQuant?.kvCacheDtype).toBe('fp8');
    const v19 = engineKvCapacity(s, h100, { maxModelLen: 8192 });
    expect(v19.settings.kv_cache_dtype).toBe('fp8');
    expect(v19.kv_cache_bytes_per_token).toBe(64 * 8 * 128 * 2);
    const asked = engineKvCapacity(s, h100, { maxModelLen: 8192, kvCacheDtype: 'bf16' });
    expect(asked.kv_cache_bytes_per_token).toBe(64 * 8 * 128 * 2 * 2);
    const v18 = engineKvCapacity(s, h100, { maxModelLen: 8192, engineVersion: '0.18.0' });
    expect(v18.kv_cache_bytes_per_token).toBe(64 * 8 * 128 * 2 * 2);
    expect(terms(v18)).toContain('kv_cache_dtype_auto');
    const sg = engineKvCapacity(s, h100, { engine: 'sglang', maxModelLen: 8192 });
    expect(sg.kv_cache_bytes_per_token).toBe(64 * 8 * 128 * 2 * 2);
  });
});
