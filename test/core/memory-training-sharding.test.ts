/**
 * Training memory under TP, SP, PP, ZeRO and QLoRA, and the option checks: each expected figure is derived by hand in
 * a comment from the real config (../shared/reference/models) and the conventions in src/core/memory/training.ts.
 * Convention used below: the final norm is counted with the first stage's globals (as test/training.test.ts does).
 */
import { describe, expect, it } from 'vitest';
import { trainingMemory, type TrainingOptions } from '../../src/core/memory/training.js';
import { referenceSpec } from '../helpers.js';

const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
const llama31 = referenceSpec('meta-llama__Llama-3.1-8B.json');
const gpt2 = referenceSpec('openai-community__gpt2.json');
const P = 6_738_415_616; // Llama-2-7B
const base: TrainingOptions = { precision: 'bf16', optimizer: 'adamw', batch: 1, seq: 2048, explain: false };

describe('precision and option checks', () => {
  it('fp8: 1 B weights, fp32 master, bf16 gradients and activations; fp8_e4m3 and e4m3 mean the same', () => {
    for (const precision of ['fp8', 'fp8_e4m3', 'e4m3'] as const) {
      const r = trainingMemory(llama2, { ...base, precision: precision as TrainingOptions['precision'] });
      expect(r.components.weights).toBe(P); // 1 B each
      expect(r.components.master_weights).toBe(4 * P);
      expect(r.components.gradients).toBe(2 * P);
      // Activations at 2 B as in bf16: 32 · 269,746,176 + 4 · sbh (test/training.test.ts) = 8,665,432,064.
      expect(r.components.activations).toBe(8_665_432_064);
    }
    expect(() => trainingMemory(llama2, { ...base, precision: 'int4' as 'fp8' })).toThrow(
      /precision must be one of fp32, bf16, fp16, fp8 \(got 'int4'\)/,
    );
  });

  it('every integer option must be a positive integer, named in the message', () => {
    const bad = (o: Partial<Record<keyof TrainingOptions, unknown>>) => () =>
      trainingMemory(llama2, { ...base, ...(o as Partial<TrainingOptions>) });
    expect(bad({ batch: 1.5 })).toThrow(/^batch must be a positive integer \(got 1\.5\)/);
    expect(bad({ batch: '2' })).toThrow(/^batch must be a positive integer \(got 2\)/);
    expect(bad({ seq: 0 })).toThrow(/^seq must be a positive integer/);
    expect(bad({ dp: 0 })).toThrow(/^dp must be a positive integer/);
    expect(bad({ tp: 0 })).toThrow(/^tp must be a positive integer/);
    expect(bad({ pp: 0 })).toThrow(/^pp must be a positive integer/);
    expect(bad({ lora: { rank: 0, targets: ['q_proj'] } })).toThrow(/^lora\.rank must be a positive integer/);
    expect(bad({ zero: 4 })).toThrow(/zero must be 0, 1, 2, 3 or 'fsdp' \(got 4\)/);
    expect(bad({ recompute: 'some' })).toThrow(/recompute must be none, selective or full \(got 'some'\)/);
    expect(bad({ trainablePercent: -1 })).toThrow(/trainablePercent must be between 0 and 100/);
    expect(bad({ trainablePercent: '50' })).toThrow(/trainablePercent must be between 0 and 100/);
  });

  it('trainablePercent 0: nothing trained, no master, gradients or states (not NaN)', () => {
    const r = trainingMemory(llama2, { ...base, trainablePercent: 0 });
    expect(r.components.weights).toBe(2 * P);
    expect(r.components.master_weights).toBe(0);
    expect(r.components.gradients).toBe(0);
    expect(r.components.optimizer_states).toBe(0);
    expect(r.trainable_parameters).toBe(0);
    expect(r.trainable_percent).toBe(0);
  });

  it('8-bit AdamW on half of GPT-2: the small tensors (< 4096 elements) scale with the percentage too', () => {
    // GPT-2 tensors under 4096 elements: per layer ln_1, ln_2 (w + b: 4 · 768), the biases of c_attn (2304),
    // attn.c_proj (768), c_fc (3072) and mlp.c_proj (768): 9,984; 12 layers 119,808 + ln_f 1,536 = 121,344.
    // Half: 62,219,904 trainable of which 60,672 small. States: (62,219,904 − 60,672) · 2 · (1 + 4/2048)
    // + 60,672 · 8 = 124,561,273.5 + 485,376 = 125,046,649.5.
    const r = trainingMemory(gpt2, { ...base, seq: 1024, optimizer: 'adamw_8bit', trainablePercent: 50 });
    expect(r.components.optimizer_states).toBeCloseTo(125_046_649.5, 3);
  });
});

describe('tensor and sequence parallelism (GPT-2, fp16, eager attention, dropout: sbh = 786,432)', () => {
  const g: TrainingOptions = {
    precision: 'fp16',
    optimizer: 'adamw',
    batch: 1,
    seq: 1024,
    fusedAttention: false,
    dropout: true,
    explain: false,
  };
  const sbh = 786_432;

  it('selective recompute with SP at t=4 keeps 34sbh/t per layer; full recompute 2sbh/t', () => {
    const sel = trainingMemory(gpt2, { ...g, tp: 4, sequenceParallel: true, recompute: 'selective' });
    expect(sel.activations_per_layer[0]!.stored_bytes_per_layer).toBe((34 * sbh) / 4); // 6,684,672
    const full = trainingMemory(gpt2, { ...g, tp: 4, sequenceParallel: true, recompute: 'full' });
    expect(full.activations_per_layer[0]!.stored_bytes_per_layer).toBe((2 * sbh) / 4); // 393,216
    // 12 · 393,216 + one layer in full (34sbh/4 + 5as²b/4 = 22,413,312) + final norm and head inputs 4sbh/4
    // (786,432) + embedding dropout mask sbh/4 (196,608) = 4,718,592 + 22,413,312 + 983,040 = 28,114,944.
    expect(full.components.activations).toBe(28_114_944);
    // Logits split by vocabulary: 1024 · 50257 · (2 + 4) / 4 = 77,194,752.
    expect(full.components.logits).toBe(77_194_752);
  });

  it('sequence parallel at tp=1 is no sequence parallel', () => {
    const r = trainingMemory(gpt2, { ...g, sequenceParallel: true, explain: true });
    const perLayer = r.trace.find((t) => t.figure === 'activations per layer (decoder), no recompute')!;
    expect(perLayer.inputs['sequence_parallel']).toBe(false);
    expect(r.activations_per_layer[0]!.full_bytes_per_layer).toBe(89_653_248); // 34sbh + 5as²b
  });

  it('full recompute keeps the input of each layer for every sequence of the micro-batch (b=2: 2 · 2sbh)', () => {
    const r = trainingMemory(gpt2, { ...g, batch: 2, recompute: 'full' });
    expect(r.activations_per_layer[0]!.stored_bytes_per_layer).toBe(2 * 2 * sbh); // 3,145,728
    // Every term of the eager layer is linear in b (the s² scores, softmax and dropout too): 2 · 89,653,248.
    expect(r.activations_per_layer[0]!.full_bytes_per_layer).toBe(2 * 89_653_248);
  });

  it('Mamba-130m at tp=2: SSM layers shard like linears (no K/V projections to cap)', () => {
    // Per layer: in_proj 3072·768 = 2,359,296; conv1d [1536,1,4] 6,144; x_proj 80·1536 = 122,880; dt_proj
    // 1536·48 = 73,728; A_log 1536·16 = 24,576; out_proj 768·1536 = 1,179,648: 3,766,272 split; conv bias,
    // dt bias, D (3 · 1536) and the norm (768): 5,376 replicated. 24 · (1,883,136 + 5,376) = 45,324,288;
    // tied embedding 50280 · 768 / 2 = 19,307,520; final norm 768. Sum 64,632,576.
    const r = trainingMemory(referenceSpec('state-spaces__mamba-130m-hf.json'), { ...base, tp: 2 });
    expect(r.device_parameters).toBe(64_632_576);
  });

  it('Qwen3-30B-A3B at tp=2: experts split by TP, router and norms replicated', () => {
    // Per layer: q, o 2 · 4096 · 2048 = 16,777,216 / 2; k, v 2 · 512 · 2048 = 2,097,152 / min(2, 4 KV heads);
    // experts 128 · 3 · 768 · 2048 = 603,979,776 / 2; router 128 · 2048 + norms 2 · 2048 + q/k norms 2 · 128 =
    // 266,496 replicated: 8,388,608 + 1,048,576 + 301,989,888 + 266,496 = 311,693,568; 48 layers
    // 14,961,291,264; embedding and head 2 · 151,936 · 2048 / 2 = 311,164,928; final norm 2048.
    const r = trainingMemory(referenceSpec('Qwen__Qwen3-30B-A3B.json'), { ...base, tp: 2 });
    expect(r.device_parameters).toBe(15_272_458_240);
  });
});

describe('pipeline stages', () => {
  it('Llama-3.1-8B pp=2 at 8K with full recompute: the last stage (head, logits) is the worst', () => {
    // Per layer 2 · 4096² + 2 · 1024 · 4096 + 3 · 4096 · 14336 + 2 · 4096 = 218,112,000; stage 1: 16 layers
    // (3,489,792,000) + head 128,256 · 4096 = 525,336,576 → 4,015,128,576.
    const r = trainingMemory(llama31, { ...base, pp: 2, seq: 8192, recompute: 'full' });
    expect(r.stage).toBe(1);
    expect(r.in_flight_micro_batches).toBe(1);
    expect(r.device_parameters).toBe(4_015_128_576);
    // sbh = 8192 · 4096 = 33,554,432. 16 · 2sbh = 1,073,741,824; one layer in full: 4 · 2 · sbh = 268,435,456
    // + (4096 + 1024 + 1024 + 4096) · 2 · 8192 = 167,772,160 + 3 · 2 · 8192 · 14336 = 704,643,072 + logsumexp
    // 4 · 8192 · 32 = 1,048,576 → 1,141,899,264; final norm and head inputs 4sbh = 134,217,728.
    expect(r.components.activations).toBe(1_073_741_824 + 1_141_899_264 + 134_217_728);
    expect(r.components.logits).toBe(8192 * 128_256 * 6); // 6,304,038,912
    expect(r.devices).toBe(2);
  });

  it('GPT-2 pp=2: the last stage keeps a copy of the tied embedding for the head', () => {
    // Stage 1: 6 layers · 7,087,872 = 42,527,232 + wte 50,257 · 768 = 38,597,376 → 81,124,608.
    const r = trainingMemory(gpt2, { ...base, seq: 1024, pp: 2 });
    expect(r.stage).toBe(1);
    expect(r.device_parameters).toBe(81_124_608);
  });

  it('GPT-2 pp=2, tp=2: the tied copy on the last stage is split by vocabulary too', () => {
    // Per layer: c_attn 768 · 2304 + attn.c_proj 768² + c_fc and mlp.c_proj 2 · 768 · 3072 = 7,077,888 / 2 =
    // 3,538,944 + 9,984 biases and norms (replicated) = 3,548,928; 6 layers 21,293,568 + wte 38,597,376 / 2.
    const r = trainingMemory(gpt2, { ...base, seq: 1024, pp: 2, tp: 2 });
    expect(r.stage).toBe(1);
    expect(r.device_parameters).toBe(21_293_568 + 19_298_688);
  });

  it('DeepSeek-V2-Lite pp=2: the last stage holds only MoE layers (13 of 27), and lists only them', () => {
    const r = trainingMemory(referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json'), {
      ...base,
      pp: 2,
      seq: 8192,
      recompute: 'full',
    });
    expect(r.stage).toBe(1);
    expect(r.activations_per_layer.map((l) => [l.group, l.layers])).toEqual([['decoder.moe', 13]]);
  });

  it('devices = dp · tp · pp', () => {
    expect(trainingMemory(llama2, { ...base, dp: 8, tp: 2, pp: 2 }).devices).toBe(32);
  });

  it('a vision tower adds weights but no text-sequence activations (LLaVA-1.5-7B = Llama-2-7B text model)', () => {
    const r = trainingMemory(referenceSpec('llava-hf__llava-1.5-7b-hf.json'), base);
    expect(r.activations_per_layer.find((l) => l.group === 'vision')).toMatchObject({
      layers: 24,
      full_bytes_per_layer: 0,
      stored_bytes_per_layer: 0,
    });
    // The 32 Llama-2-7B layers and the final norm and head inputs, as for Llama-2-7B: 8,665,432,064.
    expect(r.components.activations).toBe(8_665_432_064);
  });
});

describe('QLoRA and LoRA under sharding', () => {
  it('QLoRA all-linear rank 16 on Llama-2-7B at tp=2: every component and phase', () => {
    const r = trainingMemory(llama2, {
      ...base,
      tp: 2,
      optimizer: 'paged_adamw_8bit',
      lora: { rank: 16, targets: 'all-linear' },
      qlora: true,
    });
    const c = r.components;
    // NF4 per layer (test/training.test.ts): 4 · 8,654,848 + 3 · 23,259,904 = 104,399,104 split by 2 (K, V by
    // min(2, 32 KV heads)) = 52,199,552 + norms 16,384 = 52,215,936; 32 layers 1,670,909,952; embedding and
    // head 524,288,000 / 2; final norm 8,192. Sum 1,933,062,144.
    expect(c.weights).toBe(1_933_062_144);
    // Adapters are not split by TP here: 39,976,960 · 2 B; master 4 B; gradients 2 B.
    expect(c.lora_adapter).toBe(79_953_920);
    expect(c.master_weights).toBe(159_907_840);
    expect(c.gradients).toBe(79_953_920);
    // Every A [16, in] and B [out, 16] has >= 4096 elements: 39,976,960 · 2 · (1 + 4/2048) = 80,110,080.
    expect(c.optimizer_states).toBe(80_110_080);
    // Largest matrix 11008 · 4096 · 2 B / 2.
    expect(c.dequant_buffer).toBe(45_088_768);
    // Per layer at t=2: hidden-sized 4 · 2 B · sbh = 67,108,864; Q, K, V, context 4 · 2 · 2048 · 4096 / 2 =
    // 33,554,432; MLP 3 · 2 · 2048 · 11008 / 2 = 67,633,152; logsumexp 4 · 2048 · 32 / 2 = 131,072; LoRA A
    // outputs 7 · 16 · 2 · 2048 = 458,752: 168,886,272. 32 layers + 4sbh (33,554,432) = 5,437,915,136.
    expect(c.activations).toBe(5_437_915_136);
    expect(c.logits).toBe(196_608_000); // 2048 · 32000 · 6 / 2
    // forward: weights + adapter + master + states + dequant + activations + logits.
    expect(r.phases.forward_peak).toBe(7_932_645_888);
    expect(r.phases.backward_peak).toBe(7_932_645_888 + 79_953_920);
    // optimizer step: weights + adapter + master + states + gradients.
    expect(r.phases.optimizer_step_peak).toBe(2_332_987_904);
    expect(r.peak_bytes).toBe(8_012_599_808);
  });

  it('ZeRO-3 over dp=4 also shards the LoRA adapters', () => {
    const r = trainingMemory(llama2, {
      ...base,
      dp: 4,
      zero: 3,
      lora: { rank: 8, targets: ['q_proj', 'v_proj'] },
    });
    expect(r.components.lora_adapter).toBe(8_388_608 / 4); // 4,194,304 parameters · 2 B / 4
    expect(r.components.weights).toBe((2 * P) / 4);
  });
});
