/**
 * Per-layer training activations and LoRA adapters for the layer kinds test/training.test.ts does not cover:
 * Mamba, MLA with shared experts, q/k norms, LoRA on stacked experts and on GPT-2's fused QKV. Bytes worked out by
 * hand (bf16, b = 1, fused attention, no dropout) from the configs in ../shared/reference/models.
 */
import { describe, expect, it } from 'vitest';
import { trainingMemory, type TrainingOptions } from '../../src/core/memory/training.js';
import { profileOf } from '../../src/core/memory/training-profile.js';
import { referenceSpec } from '../helpers.js';

const base: TrainingOptions = { precision: 'bf16', optimizer: 'adamw', batch: 1, seq: 2048, explain: false };
const perLayer = (file: string, o: Partial<TrainingOptions> = {}) =>
  trainingMemory(referenceSpec(file), { ...base, ...o }).activations_per_layer.map((l) => [
    l.group,
    l.layers,
    l.full_bytes_per_layer,
  ]);

describe('activations per layer, term by term', () => {
  it('Mamba-130m: norm input, in_proj input, B and C, and x, z, conv output, delta, scan output', () => {
    // sb = 2048, h = 768, d_inner 1536, d_state 16, conv_dim 1536. Norm input 2 · 2048 · 768 = 3,145,728; in_proj
    // input 3,145,728; B and C 2 · 2048 · 2 · 16 = 131,072; (4 · 1536 + 1536) · 2 · 2048 = 31,457,280.
    expect(perLayer('state-spaces__mamba-130m-hf.json')).toEqual([['decoder.ssm', 24, 37_879_808]]);
  });

  it('DeepSeek-V2-Lite: MLA latents, 6 of 64 routed experts and 2 shared experts', () => {
    // h = 2048, 16 heads of 192 (q, k) and 128 (v), kv_lora_rank 512, no q LoRA. Hidden-sized: 2 norms + QKV
    // input 3 · 2 · 2048 · 2048 = 25,165,824; latent norm and up-projection inputs 2 · 2048 · 2 · 512 =
    // 4,194,304; Q, K, V, context (3072 + 3072 + 2048 + 2048) · 2 · 2048 = 41,943,040; logsumexp 4 · 2048 · 16 =
    // 131,072.
    // Dense layer 0: MLP input 8,388,608 + 3 · 2 · 2048 · 10944 = 134,479,872 → 214,302,720.
    // MoE layers: MoE input 8,388,608; router logits 4 · 2048 · 64 = 524,288; dispatched copy and output per route
    // 2 · 6 · 2 · 2048 · 2048 = 100,663,296; experts 6 · 3 · 2 · 2048 · 1408 = 103,809,024; shared experts
    // (2 · 1408) 3 · 2 · 2048 · 2816 = 34,603,008 → 319,422,464.
    expect(perLayer('deepseek-ai__DeepSeek-V2-Lite.json')).toEqual([
      ['decoder', 1, 214_302_720],
      ['decoder.moe', 26, 319_422_464],
    ]);
  });

  it('DeepSeek-V3 at one token: the q LoRA latent (1536) joins the KV latent (512) in the MLA terms', () => {
    // s = b = 1, h = 7168, 128 heads (q, k 192; v 128). Norms + QKV input 3 · 2 · 7168 = 43,008; latent norm and
    // up-projection inputs 2 · 2 · (512 + 1536) = 8,192; Q, K, V, context (24,576 · 2 + 16,384 · 2) · 2 =
    // 163,840; logsumexp 4 · 128 = 512. Dense layers (f = 18432): MLP input 14,336 + 3 · 2 · 18432 = 110,592 →
    // 340,480. MoE layers: input 14,336; router 4 · 256 = 1,024; 2 · 8 · 2 · 7168 = 229,376 per-route copies;
    // experts 8 · 3 · 2 · 2048 = 98,304; one shared expert 3 · 2 · 2048 = 12,288 → 570,880.
    expect(perLayer('deepseek-ai__DeepSeek-V3.json', { seq: 1 })).toEqual([
      ['decoder', 3, 340_480],
      ['decoder.moe', 58, 570_880],
    ]);
  });

  it('Mamba-130m at tp=2: the d_inner-sized terms split, the hidden-sized ones do not (no SP)', () => {
    // 3,145,728 + 3,145,728 + 131,072 + 31,457,280 / 2 = 22,151,168.
    expect(perLayer('state-spaces__mamba-130m-hf.json', { tp: 2 })).toEqual([
      ['decoder.ssm', 24, 22_151_168],
    ]);
  });

  it('OLMo-2-7B: q/k norms keep their inputs, (32 + 32) · 128 per token', () => {
    // Norms (post-attention, post-feedforward) + QKV input + MLP input 4 · 2 · 2048 · 4096 = 67,108,864; Q, K, V,
    // context 67,108,864; q/k-norm inputs 64 · 128 · 2 · 2048 = 33,554,432; MLP 3 · 2 · 2048 · 11008 =
    // 135,266,304; logsumexp 262,144. Sum 303,300,608.
    expect(perLayer('allenai__OLMo-2-1124-7B.json')).toEqual([['decoder', 32, 303_300_608]]);
  });
});

describe('encoders', () => {
  it('BERT-base, 512 tokens: post-LN encoder layer, plain GELU MLP; pp=2 splits the encoder stack 6 / 6', () => {
    // Two LayerNorm inputs + QKV input + MLP input 4 · 2 · 512 · 768 = 3,145,728; Q, K, V, context 3,145,728;
    // MLP 2 · 2 · 512 · 3072 = 6,291,456; logsumexp 4 · 512 · 12 = 24,576. Sum 12,607,488.
    const file = 'google-bert__bert-base-uncased.json';
    expect(perLayer(file, { seq: 512 })).toEqual([['encoder', 12, 12_607_488]]);
    expect(perLayer(file, { seq: 512, pp: 2 })).toEqual([['encoder', 6, 12_607_488]]);
  });
});

describe('stacks besides the decoder', () => {
  it('LLaVA pp=2: the vision tower sits whole on the first stage, the 32 text layers split 16 / 16', () => {
    const r = trainingMemory(referenceSpec('llava-hf__llava-1.5-7b-hf.json'), { ...base, pp: 2 });
    expect(r.stage).toBe(0);
    expect(r.activations_per_layer.map((l) => [l.group, l.layers])).toEqual([
      ['decoder', 16],
      ['vision', 24],
    ]);
  });
});

describe('LoRA adapters', () => {
  it('Qwen3-30B-A3B, rank 8 on the experts’ gate_proj: 128 adapters per layer, top-8 buffers per token', () => {
    const r = trainingMemory(referenceSpec('Qwen__Qwen3-30B-A3B.json'), {
      ...base,
      lora: { rank: 8, targets: ['gate_proj'] },
    });
    // 128 experts · 8 · (2048 + 768) = 2,883,584 per layer · 48 = 138,412,032.
    expect(r.trainable_parameters).toBe(138_412_032);
    expect(r.components.optimizer_states).toBe(8 * 138_412_032);
    // Base layer at s = 2048: twice test/training.test.ts's 150,601,728 at s = 1024 (every term is linear in s with
    // flash attention) = 301,203,456, + the A outputs of the 8 routed experts: 8 · 8 · 2 · 2048 = 262,144.
    expect(r.activations_per_layer[0]!.full_bytes_per_layer).toBe(301_465_600);
  });

  it('Qwen3-30B-A3B: attention adapters of an MoE layer keep one rank-sized buffer, not top-k', () => {
    // q_proj: 8 · (2048 + 4096) = 49,152 per layer · 48 = 2,359,296; buffer 8 · 2 · 2048 = 32,768 on 301,203,456.
    const qwen = referenceSpec('Qwen__Qwen3-30B-A3B.json');
    const r = trainingMemory(qwen, { ...base, lora: { rank: 8, targets: ['q_proj'] } });
    expect(r.trainable_parameters).toBe(2_359_296);
    expect(r.activations_per_layer[0]!.full_bytes_per_layer).toBe(301_236_224);
    // Adafactor over the 128 expert adapters of gate_proj: A [8, 2048] → 8 + 2048, B [768, 8] → 768 + 8:
    // 48 · 128 · 2,832 = 17,399,808 elements · 4 B.
    const a = trainingMemory(referenceSpec('Qwen__Qwen3-30B-A3B.json'), {
      ...base,
      optimizer: 'adafactor',
      lora: { rank: 8, targets: ['gate_proj'] },
    });
    expect(a.components.optimizer_states).toBe(69_599_232);
  });

  it('8-bit Adam: a tensor of exactly 4096 elements is quantised (bitsandbytes: numel < 4096 stays 32-bit)', () => {
    // Rank 1 on q_proj: A [1, 4096] and B [4096, 1], 4096 elements each, 32 · 8192 = 262,144 parameters, all
    // 8-bit: 262,144 · 2 · (1 + 4/2048) = 525,312. Full training: the norms are 4096 elements too, so
    // 2P + 2 · 4 · P / 2048 = 13,503,153,168 (test/training.test.ts), on a freshly built spec.
    const r = trainingMemory(referenceSpec('meta-llama__Llama-2-7b-hf.json'), {
      ...base,
      optimizer: 'adamw_8bit',
      lora: { rank: 1, targets: ['q_proj'] },
    });
    expect(r.components.optimizer_states).toBe(525_312);
    const full = trainingMemory(referenceSpec('meta-llama__Llama-2-7b-hf.json'), {
      ...base,
      optimizer: 'adamw_8bit',
    });
    expect(full.components.optimizer_states).toBe(13_503_153_168);
  });

  it('GPT-2 rank 4 on c_attn: A [4, 768] is under 4096 elements and keeps 32-bit 8-bit-Adam states', () => {
    // 12 · 4 · (768 + 2304) = 147,456 parameters; A has 3,072 elements (< 4096): 12 · 3,072 = 36,864 small.
    // (147,456 − 36,864) · 2 · (1 + 4/2048) + 36,864 · 8 = 221,616 + 294,912 = 516,528.
    const gpt2 = referenceSpec('openai-community__gpt2.json');
    const o: TrainingOptions = {
      ...base,
      seq: 1024,
      optimizer: 'adamw_8bit',
      lora: { rank: 4, targets: ['c_attn'] },
    };
    const r = trainingMemory(gpt2, o);
    expect(r.trainable_parameters).toBe(147_456);
    expect(r.components.optimizer_states).toBe(516_528);
    // Adafactor factors A [4, 768] and B [2304, 4]: (4 + 768) + (2304 + 4) = 3,080 per layer · 12 · 4 B.
    expect(trainingMemory(gpt2, { ...o, optimizer: 'adafactor' }).components.optimizer_states).toBe(147_840);
  });

  it('an unknown target names the model’s linear modules', () => {
    const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
    const msg =
      "not found in the model; linear modules: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj or 'all-linear'";
    expect(() =>
      trainingMemory(llama2, { ...base, lora: { rank: 8, targets: ['c_attn', 'q_proj', 'wq'] } }),
    ).toThrow(`LoRA target module(s) 'c_attn', 'wq' ${msg}`);
    expect(() => trainingMemory(llama2, { ...base, lora: { rank: 8, targets: [] } })).toThrow(
      `LoRA target module(s) (none) ${msg}`,
    );
    // A leaf name matches a full module path, a partial name does not.
    expect(() => trainingMemory(llama2, { ...base, lora: { rank: 8, targets: ['proj'] } })).toThrow(/'proj'/);
    const full = trainingMemory(llama2, { ...base, lora: { rank: 8, targets: ['self_attn.q_proj'] } });
    expect(full.trainable_parameters).toBe(32 * 8 * (4096 + 4096));
  });
});

describe('the largest matrix a 4-bit base dequantises at once', () => {
  it('one expert of a stacked tensor, not the stack: Qwen3-30B-A3B q_proj 4096 · 2048; DeepSeek-V2-Lite MLP', () => {
    // Qwen experts are 768 · 2048 each (1,572,864): q_proj [4096, 2048] = 8,388,608 is the largest.
    expect(profileOf(referenceSpec('Qwen__Qwen3-30B-A3B.json')).largestQuantMatrix).toBe(8_388_608);
    // DeepSeek-V2-Lite: the dense layer's MLP 10944 · 2048 = 22,413,312.
    expect(profileOf(referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json')).largestQuantMatrix).toBe(
      22_413_312,
    );
  });
});
