/**
 * Training memory. Every expected number is derived by hand in a comment from the formula and the real config
 * (../shared/reference/models), never copied from the code's output.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countParameters } from '../src/core/arch/params.js';
import { getOptimizer, OPTIMIZER_IDS, OptimizerError } from '../src/core/memory/optimizers.js';
import { trainingMemory, type TrainingOptions } from '../src/core/memory/training.js';
import { InputError } from '../src/core/memory/inference.js';
import { referenceSpec } from './helpers.js';

const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
const gpt2 = referenceSpec('openai-community__gpt2.json');
const llama31 = referenceSpec('meta-llama__Llama-3.1-8B.json');
const qwenMoe = referenceSpec('Qwen__Qwen3-30B-A3B.json');

// Llama-2-7B: 6,738,415,616 parameters (published exact count).
const P = 6_738_415_616;
const base: TrainingOptions = { precision: 'bf16', optimizer: 'AdamW', batch: 1, seq: 2048 };

describe('weights, master copy, gradients and optimizer states (Llama-2-7B)', () => {
  it('AdamW in bf16 mixed precision, no ZeRO: 2P + 4P + 2P + 8P', () => {
    const r = trainingMemory(llama2, base);
    expect(countParameters(llama2).total).toBe(P);
    expect(r.total_parameters).toBe(P);
    expect(r.trainable_parameters).toBe(P);
    expect(r.trainable_percent).toBe(100);
    expect(r.components.weights).toBe(13_476_831_232); // 2 · P
    expect(r.components.master_weights).toBe(26_953_662_464); // 4 · P
    expect(r.components.gradients).toBe(13_476_831_232); // 2 · P
    expect(r.components.optimizer_states).toBe(53_907_324_928); // 8 · P
    expect(r.components.lora_adapter).toBe(0);
    expect(r.components.dequant_buffer).toBe(0);
    expect(r.per_device).toBe(true);
  });

  it('fp32: 4P weights, no master copy, 4P gradients', () => {
    const r = trainingMemory(llama2, { ...base, precision: 'fp32' });
    expect(r.components.weights).toBe(26_953_662_464); // 4 · P
    expect(r.components.master_weights).toBe(0);
    expect(r.components.gradients).toBe(26_953_662_464); // 4 · P
  });

  it('ZeRO-3 over dp=8 divides all four by 8; ZeRO-1 only optimizer + master; ZeRO-2 also gradients', () => {
    const z3 = trainingMemory(llama2, { ...base, dp: 8, zero: 3 });
    expect(z3.components.weights).toBe(1_684_603_904); // 2P / 8
    expect(z3.components.master_weights).toBe(3_369_207_808); // 4P / 8
    expect(z3.components.gradients).toBe(1_684_603_904); // 2P / 8
    expect(z3.components.optimizer_states).toBe(6_738_415_616); // 8P / 8 = P
    expect(trainingMemory(llama2, { ...base, dp: 8, zero: 'fsdp' }).components).toEqual(z3.components);

    const z1 = trainingMemory(llama2, { ...base, dp: 8, zero: 1 });
    expect(z1.components.weights).toBe(13_476_831_232); // 2P
    expect(z1.components.gradients).toBe(13_476_831_232); // 2P
    expect(z1.components.master_weights).toBe(3_369_207_808); // 4P / 8
    expect(z1.components.optimizer_states).toBe(6_738_415_616); // 8P / 8

    const z2 = trainingMemory(llama2, { ...base, dp: 8, zero: 2 });
    expect(z2.components.weights).toBe(13_476_831_232); // 2P
    expect(z2.components.gradients).toBe(1_684_603_904); // 2P / 8

    // ZeRO-0 (plain DDP) replicates everything whatever dp.
    expect(trainingMemory(llama2, { ...base, dp: 8 }).components.optimizer_states).toBe(53_907_324_928);
  });

  it('8-bit AdamW: 2 B per parameter + two fp32 absmax per 2048-block', () => {
    // Every Llama-2-7B tensor has >= 4096 elements (the norms exactly 4096), so all are 8-bit:
    // 2P + 2 · 4 · P / 2048 = 13,476,831,232 + 26,321,936 = 13,503,153,168.
    const r = trainingMemory(llama2, { ...base, optimizer: 'adamw_8bit' });
    expect(r.components.optimizer_states).toBe(13_503_153_168);
    // 'Quantized AdamW' (the spec's name) and 'paged_adamw_8bit' are the same optimizer.
    for (const name of ['Quantized AdamW', 'paged_adamw_8bit', 'ADAMW_8BIT'])
      expect(trainingMemory(llama2, { ...base, optimizer: name }).components.optimizer_states).toBe(
        13_503_153_168,
      );
  });

  it('SGD keeps no state, SGD with momentum / Lion / Adagrad / RMSprop 4 B, LAMB / Sophia 8 B', () => {
    const opt = (optimizer: string) =>
      trainingMemory(llama2, { ...base, optimizer }).components.optimizer_states;
    expect(opt('SGD')).toBe(0);
    expect(opt('sgd_momentum')).toBe(26_953_662_464); // 4P
    expect(opt('Lion')).toBe(26_953_662_464);
    expect(opt('adagrad')).toBe(26_953_662_464);
    expect(opt('RMSprop')).toBe(26_953_662_464);
    expect(opt('LAMB')).toBe(53_907_324_928); // 8P
    expect(opt('sophia')).toBe(53_907_324_928);
    expect(opt('adam')).toBe(53_907_324_928);
    expect(opt('adamw_torch')).toBe(53_907_324_928);
  });

  it('Adafactor: 4 B · (rows + cols) per matrix + 4 B per vector element (GPT-2)', () => {
    // Per GPT-2 layer: ln_1 w+b 1536; c_attn [768,2304] -> 3072, bias 2304; c_proj [768,768] -> 1536, bias 768;
    // ln_2 1536; c_fc [768,3072] -> 3840, bias 3072; mlp.c_proj [3072,768] -> 3840, bias 768: 22,272 per layer,
    // 12 layers 267,264. Globals: wte [50257,768] -> 51,025; wpe [1024,768] -> 1,792; ln_f 1,536: 54,353.
    // (267,264 + 54,353) · 4 = 1,286,468 bytes.
    const r = trainingMemory(gpt2, { precision: 'bf16', optimizer: 'Adafactor', batch: 1, seq: 1024 });
    expect(r.components.optimizer_states).toBeCloseTo(1_286_468, 3);
  });

  it('trainablePercent 50: master, gradients and states for half the parameters, all weights', () => {
    const r = trainingMemory(llama2, { ...base, trainablePercent: 50 });
    expect(r.components.weights).toBe(13_476_831_232); // 2P
    expect(r.components.master_weights).toBe(13_476_831_232); // 4 · P/2
    expect(r.components.gradients).toBe(6_738_415_616); // 2 · P/2
    expect(r.components.optimizer_states).toBe(26_953_662_464); // 8 · P/2
    expect(r.trainable_parameters).toBe(3_369_207_808);
    expect(r.trainable_percent).toBe(50);
  });

  it('unknown optimizer throws an error naming the accepted ids', () => {
    expect(() => trainingMemory(llama2, { ...base, optimizer: 'adamq' })).toThrow(OptimizerError);
    expect(() => trainingMemory(llama2, { ...base, optimizer: 'adamq' })).toThrow(/adamw, adamw_8bit, sgd/);
    expect(() => getOptimizer('nope')).toThrow(InputError);
    for (const id of OPTIMIZER_IDS) expect(getOptimizer(id).id).toBe(id);
  });

  it('rejects invalid options with a message naming the field', () => {
    expect(() => trainingMemory(llama2, { ...base, batch: 0 })).toThrow(/batch/);
    expect(() => trainingMemory(llama2, { ...base, trainablePercent: 120 })).toThrow(/trainablePercent/);
    expect(() => trainingMemory(llama2, { ...base, qlora: true })).toThrow(/qlora/);
    expect(() => trainingMemory(llama2, { ...base, tp: 3 })).toThrow(/tp=3/);
    expect(() => trainingMemory(llama2, { ...base, lora: { rank: 8, targets: ['c_attn'] } })).toThrow(
      /c_attn/,
    );
  });
});

describe('activations after Korthikanti et al. 2022', () => {
  // GPT-2: b=1, s=1024, h=768, a=12. sbh = 786,432.
  const g: TrainingOptions = {
    precision: 'fp16',
    optimizer: 'adamw',
    batch: 1,
    seq: 1024,
    fusedAttention: false,
    dropout: true,
  };
  const sbh = 786_432;

  it('GPT-2 layer, no recompute, eager attention, dropout: exactly 34sbh + 5as²b', () => {
    // 34 · 786,432 = 26,738,688; 5 · 12 · 1024² = 62,914,560; sum 89,653,248.
    const r = trainingMemory(gpt2, g);
    expect(r.activations_per_layer).toEqual([
      { group: 'decoder', layers: 12, full_bytes_per_layer: 89_653_248, stored_bytes_per_layer: 89_653_248 },
    ]);
    // Total: 12 layers + final norm and head inputs (4sbh = 3,145,728) + embedding dropout mask (sbh = 786,432)
    // = 1,075,838,976 + 3,145,728 + 786,432 = 1,079,771,136.
    expect(r.components.activations).toBe(1_079_771_136);
    // Logits: b · s · vocab · (2 + 4) = 1024 · 50257 · 6 = 308,779,008.
    expect(r.components.logits).toBe(308_779_008);
  });

  it('fused attention removes the s² term, keeping a fp32 logsumexp (4·s·b·a)', () => {
    // 34sbh + 4 · 1024 · 12 = 26,738,688 + 49,152 = 26,787,840.
    const r = trainingMemory(gpt2, { ...g, fusedAttention: true });
    expect(r.activations_per_layer[0]!.full_bytes_per_layer).toBe(26_787_840);
    // Without dropout the two 1-byte masks go: 32sbh + 4sba = 25,165,824 + 49,152 = 25,214,976.
    const nd = trainingMemory(gpt2, { ...g, fusedAttention: true, dropout: false });
    expect(nd.activations_per_layer[0]!.full_bytes_per_layer).toBe(25_214_976);
  });

  it('selective recompute drops the attention core: 34sbh', () => {
    const r = trainingMemory(gpt2, { ...g, recompute: 'selective' });
    expect(r.activations_per_layer[0]!.stored_bytes_per_layer).toBe(26_738_688); // 34 · sbh
  });

  it('full recompute keeps 2sbh per layer plus one layer recomputed in full', () => {
    const r = trainingMemory(gpt2, { ...g, recompute: 'full' });
    expect(r.activations_per_layer[0]!.stored_bytes_per_layer).toBe(2 * sbh); // 1,572,864
    // 12 · 1,572,864 + 89,653,248 (one full layer) + 3,145,728 (final norm, head) + 786,432 (embedding mask)
    // = 18,874,368 + 89,653,248 + 3,145,728 + 786,432 = 112,459,776.
    expect(r.components.activations).toBe(112_459_776);
  });

  it('tensor parallel: sbh(10 + 24/t + 5as/(ht)); with sequence parallel sbh(34/t + 5as/(ht))', () => {
    // t = 4: 16 · sbh + 62,914,560 / 4 = 12,582,912 + 15,728,640 = 28,311,552.
    const tp = trainingMemory(gpt2, { ...g, tp: 4 });
    expect(tp.activations_per_layer[0]!.full_bytes_per_layer).toBe(28_311_552);
    // 34 · sbh / 4 + 15,728,640 = 6,684,672 + 15,728,640 = 22,413,312.
    const sp = trainingMemory(gpt2, { ...g, tp: 4, sequenceParallel: true });
    expect(sp.activations_per_layer[0]!.full_bytes_per_layer).toBe(22_413_312);
  });

  it('Llama-2-7B layer (MHA, gated MLP, fused, no dropout), s=2048', () => {
    // sbh = 2048 · 4096 = 8,388,608. Hidden-sized at 2 B: two norm inputs, QKV input, MLP input = 8 · sbh;
    // Q, K, V, context: 2 · 4 · sbh = 8 · sbh; together 16 · sbh = 134,217,728.
    // Gated MLP: gate, up, down input: 3 · 2 · s · 11008 = 135,266,304. Logsumexp 4 · 2048 · 32 = 262,144.
    // Sum 269,746,176.
    const r = trainingMemory(llama2, base);
    expect(r.activations_per_layer[0]!.full_bytes_per_layer).toBe(269_746_176);
    // 32 layers + final norm and head inputs (4 · sbh = 33,554,432): 8,631,877,632 + 33,554,432.
    expect(r.components.activations).toBe(8_665_432_064);
    // Logits 2048 · 32000 · 6 = 393,216,000.
    expect(r.components.logits).toBe(393_216_000);
  });

  it('GQA with head_dim from the config (Llama-3.1-8B: 32 heads, 8 KV heads, 128 dims, f=14336)', () => {
    // Hidden-sized: 4 tensors · 2 B · 2048 · 4096 = 67,108,864; Q (4096) + K (1024) + V (1024) + context (4096)
    // = 10,240 per token · 2 B · 2048 = 41,943,040; MLP 3 · 2 · 2048 · 14336 = 176,160,768; logsumexp 262,144.
    // Sum 285,474,816.
    const r = trainingMemory(llama31, base);
    expect(r.activations_per_layer[0]!.full_bytes_per_layer).toBe(285_474_816);
  });

  it('MoE layer scales with top-k and adds router logits (Qwen3-30B-A3B, s=1024)', () => {
    // h=2048, 32 heads, 4 KV heads, head_dim 128, q/k norms, 128 experts, top-8, expert f=768. sb = 1024.
    // norms 2 · 2·sb·h = 8,388,608; QKV input 4,194,304; Q+K+V+ctx (4096+512+512+4096) · 2 · 1024 = 18,874,368;
    // q/k-norm inputs (32+4)·128 · 2 · 1024 = 9,437,184; logsumexp 4 · 1024 · 32 = 131,072;
    // MoE input 4,194,304; router logits 4 · 1024 · 128 = 524,288; per route the dispatched copy and the output
    // 2 · 8 · 2 · 1024 · 2048 = 67,108,864; experts 8 · 3 · 2 · 1024 · 768 = 37,748,736. Sum 150,601,728.
    const r = trainingMemory(qwenMoe, { ...base, seq: 1024 });
    expect(r.activations_per_layer[0]!.full_bytes_per_layer).toBe(150_601_728);
  });

  it('pipeline parallel 1F1B: stage 0 holds pp micro-batches of its layers', () => {
    // pp=4: 8 layers per stage. Stage 0: 4 in flight · 8 · 269,746,176 = 8,631,877,632 (no final-norm terms).
    // Params on stage 0: 8 · (4·4096² + 3·4096·11008 + 2·4096) + embedding 131,072,000 + final norm 4,096
    // = 8 · 202,383,360 + 131,076,096 = 1,750,142,976.
    const r = trainingMemory(llama2, { ...base, pp: 4 });
    expect(r.stage).toBe(0);
    expect(r.in_flight_micro_batches).toBe(4);
    expect(r.components.activations).toBe(8_631_877_632);
    expect(r.device_parameters).toBe(1_750_142_976);
    expect(r.components.weights).toBe(3_500_285_952); // 2 B each
    expect(r.components.logits).toBe(0);
  });
});

describe('LoRA and QLoRA', () => {
  it('rank 8 on q, v of Llama-2-7B: 32 · 2 · 8 · (4096 + 4096) = 4,194,304 trainable', () => {
    const r = trainingMemory(llama2, { ...base, lora: { rank: 8, targets: ['q_proj', 'v_proj'] } });
    expect(r.trainable_parameters).toBe(4_194_304);
    expect(r.total_parameters).toBe(P + 4_194_304);
    expect(r.components.weights).toBe(13_476_831_232); // frozen base, 2P, no master, no grads
    expect(r.components.lora_adapter).toBe(8_388_608); // 2 B · 4,194,304
    expect(r.components.master_weights).toBe(16_777_216); // 4 B
    expect(r.components.gradients).toBe(8_388_608); // 2 B
    expect(r.components.optimizer_states).toBe(33_554_432); // 8 B (AdamW)
    // Activations: the base layer's 269,746,176 + A's output (r=8) for 2 modules: 2 · 2 B · 2048 · 8 = 65,536.
    expect(r.activations_per_layer[0]!.full_bytes_per_layer).toBe(269_811_712);
  });

  it('QLoRA all-linear rank 16: 39,976,960 adapters, NF4 base and a bf16 dequant buffer of the largest matrix', () => {
    // Per layer: q, k, v, o 4 · 16 · 8192 = 524,288; gate, up 2 · 16 · (4096 + 11008) = 483,328;
    // down 16 · 15,104 = 241,664: 1,249,280 · 32 = 39,976,960 (PEFT prints the same).
    const r = trainingMemory(llama2, {
      ...base,
      optimizer: 'paged_adamw_8bit',
      lora: { rank: 16, targets: 'all-linear' },
      qlora: true,
    });
    expect(r.trainable_parameters).toBe(39_976_960);
    expect(r.components.lora_adapter).toBe(79_953_920); // bf16
    expect(r.components.dequant_buffer).toBe(90_177_536); // 11008 · 4096 · 2 B
    // NF4 double-quant: each matrix n elements -> n/2 + n/64 + 4 · ceil(n/64/256) bytes. Per layer 4 matrices of
    // 16,777,216 (8,388,608 + 262,144 + 4,096 = 8,654,848 each) and 3 of 45,088,768 (22,544,384 + 704,512 +
    // 11,008 = 23,259,904 each) + 2 norms · 4096 · 2 B = 34,619,392 + 69,779,712 + 16,384 = 104,415,488.
    // 32 layers: 3,341,295,616; embedding + head 2 · 131,072,000 · 2 B = 524,288,000; final norm 8,192.
    // Total 3,865,591,808.
    expect(r.components.weights).toBe(3_865_591_808);
  });
});

describe('phases and properties', () => {
  it('each phase is the sum of what is live in it; the peak is the largest phase', () => {
    const r = trainingMemory(llama2, base);
    const c = r.components;
    expect(r.phases.forward_peak).toBe(
      c.weights +
        c.lora_adapter +
        c.master_weights +
        c.optimizer_states +
        c.dequant_buffer +
        c.activations +
        c.logits,
    );
    expect(r.phases.backward_peak).toBe(r.phases.forward_peak + c.gradients);
    expect(r.phases.optimizer_step_peak).toBe(
      c.weights + c.master_weights + c.optimizer_states + c.gradients,
    );
    expect(r.peak_bytes).toBe(
      Math.max(r.phases.forward_peak, r.phases.backward_peak, r.phases.optimizer_step_peak),
    );
    const figures = r.trace.map((t) => t.figure);
    for (const f of [
      'weights',
      'master_weights',
      'gradients',
      'optimizer_states',
      'activations',
      'peak_bytes',
    ])
      expect(figures).toContain(f);
    for (const t of r.trace) expect(t.formula.length).toBeGreaterThan(0);
  });

  it('memory grows with batch and with sequence length', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 8192 }),
        fc.constantFrom('none', 'selective', 'full') as fc.Arbitrary<'none' | 'selective' | 'full'>,
        fc.boolean(),
        (batch, seq, recompute, fusedAttention) => {
          const o: TrainingOptions = { ...base, batch, seq, recompute, fusedAttention, explain: false };
          const r = trainingMemory(gpt2, o);
          expect(trainingMemory(gpt2, { ...o, batch: batch + 1 }).peak_bytes).toBeGreaterThan(r.peak_bytes);
          expect(trainingMemory(gpt2, { ...o, seq: seq + 1 }).peak_bytes).toBeGreaterThan(r.peak_bytes);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('ZeRO stage k+1 never uses more than stage k', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.constantFrom('adamw', 'adamw_8bit', 'sgd', 'adafactor', 'lion'),
        fc.constantFrom(1, 2, 4),
        fc.boolean(),
        (dp, optimizer, tp, lora) => {
          let prev = Infinity;
          for (const zero of [0, 1, 2, 3] as const) {
            const r = trainingMemory(llama2, {
              ...base,
              optimizer,
              dp,
              tp,
              zero,
              lora: lora ? { rank: 8, targets: ['q_proj', 'v_proj'] } : null,
              explain: false,
            });
            expect(r.peak_bytes).toBeLessThanOrEqual(prev);
            prev = r.peak_bytes;
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
