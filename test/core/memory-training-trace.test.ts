/**
 * The training explain trace (what `--explain` prints): every figure once, in bytes or parameters, its value the
 * component it names, and formulas that say which ZeRO stage shards what and which recompute is in force.
 * Values are checked against figures derived by hand in test/training.test.ts; here the contract of the trace.
 */
import { describe, expect, it } from 'vitest';
import { trainingMemory, type TrainingOptions } from '../../src/core/memory/training.js';
import { referenceSpec } from '../helpers.js';

const llama2 = referenceSpec('meta-llama__Llama-2-7b-hf.json');
const base: TrainingOptions = { precision: 'bf16', optimizer: 'adamw', batch: 1, seq: 2048 };
const entry = (r: ReturnType<typeof trainingMemory>, figure: string) => {
  const e = r.trace.find((t) => t.figure === figure);
  if (!e) throw new Error(`no trace entry '${figure}'`);
  return e;
};

const FIGURES = [
  'total_parameters',
  'trainable_parameters',
  'device_parameters',
  'weights',
  'lora_adapter',
  'master_weights',
  'gradients',
  'optimizer_states',
  'activations per layer (decoder), no recompute',
  'activations per layer (decoder), stored',
  'activations',
  'logits',
  'dequant_buffer',
  'forward_peak',
  'backward_peak',
  'optimizer_step_peak',
  'peak_bytes',
];

describe('training explain trace', () => {
  it('lists every figure once, with its unit and the value of the result it explains', () => {
    const r = trainingMemory(llama2, { ...base, lora: { rank: 16, targets: 'all-linear' }, qlora: true });
    expect(r.trace.map((t) => t.figure)).toEqual(FIGURES);
    for (const t of r.trace) {
      expect(t.unit).toBe(t.figure.endsWith('parameters') ? 'parameters' : 'bytes');
      expect(t.formula.length).toBeGreaterThan(10);
    }
    const c = r.components;
    expect(entry(r, 'total_parameters').value).toBe(r.total_parameters);
    expect(entry(r, 'trainable_parameters').value).toBe(39_976_960); // test/training.test.ts QLoRA case
    expect(entry(r, 'device_parameters').value).toBe(r.device_parameters);
    for (const k of Object.keys(c) as (keyof typeof c)[]) expect(entry(r, k).value).toBe(c[k]);
    expect(entry(r, 'backward_peak').value).toBe(r.phases.backward_peak);
    expect(entry(r, 'peak_bytes').value).toBe(r.peak_bytes);
    // explain: false collects nothing.
    expect(trainingMemory(llama2, { ...base, explain: false }).trace).toEqual([]);
  });

  it('inputs name what each figure used', () => {
    const lora = trainingMemory(llama2, {
      ...base,
      dp: 4,
      tp: 2,
      zero: 1,
      lora: { rank: 16, targets: ['q_proj', 'v_proj'] },
      recompute: 'full',
    });
    expect(entry(lora, 'total_parameters').inputs).toEqual({ base: 6_738_415_616, lora: 4_194_304 * 2 });
    // rank 16 on q and v: 32 layers · 2 modules = 64 modules.
    expect(entry(lora, 'trainable_parameters').inputs).toEqual({
      rank: 16,
      modules: 64,
      trainable_percent: null,
    });
    expect(entry(lora, 'device_parameters').inputs).toEqual({ tp: 2, pp: 1, stage: 0 });
    expect(entry(lora, 'weights').inputs).toMatchObject({
      dp: 4,
      tp: 2,
      zero: 1,
      bytes_per_param: 2,
      seq: 2048,
    });
    expect(entry(lora, 'master_weights').inputs).toMatchObject({ dp: 4, zero: 1 });
    expect(entry(lora, 'gradients').inputs).toMatchObject({ dp: 4, zero: 1 });
    expect(entry(lora, 'optimizer_states').inputs).toMatchObject({
      optimizer: 'adamw',
      bytes_per_trainable_param: 8,
    });
    expect(entry(lora, 'lora_adapter').inputs['lora_parameters_on_device']).toBe(8_388_608);
    expect(entry(lora, 'activations per layer (decoder), no recompute').inputs).toMatchObject({
      s: 2048,
      tp: 2,
    });
    expect(entry(lora, 'activations per layer (decoder), stored').inputs).toEqual({ recompute: 'full' });
    expect(entry(lora, 'activations').inputs).toMatchObject({
      in_flight: 1,
      final_norm_and_head_inputs: 4 * 8_388_608,
    });
    expect(entry(lora, 'activations').inputs['recomputed_layer']).toBeGreaterThan(0);
    expect(entry(lora, 'logits').inputs).toMatchObject({ vocab: 32000, tp: 2, logits_bytes: 2 });
    expect(entry(lora, 'peak_bytes').inputs).toEqual({ stage: 0 });

    const full = trainingMemory(llama2, { ...base, trainablePercent: 50 });
    expect(entry(full, 'trainable_parameters').inputs).toEqual({
      rank: null,
      modules: null,
      trainable_percent: 50,
    });
    expect(entry(full, 'lora_adapter').inputs['lora_parameters_on_device']).toBe(0);
    expect(entry(full, 'dequant_buffer').inputs['largest_matrix_elements']).toBe(0);
    const q = trainingMemory(llama2, { ...base, lora: { rank: 16, targets: 'all-linear' }, qlora: true });
    expect(entry(q, 'weights').inputs['bytes_per_param']).toBe('nf4_dq');
    expect(entry(q, 'dequant_buffer').inputs['largest_matrix_elements']).toBe(11008 * 4096);
  });

  it("' / dp' marks exactly the lines each ZeRO stage shards", () => {
    const lines = ['weights', 'lora_adapter', 'master_weights', 'gradients', 'optimizer_states'];
    const formulas = (zero: 0 | 1 | 2 | 3, qlora = false) => {
      const r = trainingMemory(llama2, {
        ...base,
        dp: 8,
        zero,
        lora: qlora ? { rank: 16, targets: 'all-linear' } : null,
        qlora,
      });
      return Object.fromEntries(lines.map((l) => [l, entry(r, l).formula]));
    };
    // ZeRO-1: optimizer states (and the fp32 master); ZeRO-2: + gradients; ZeRO-3: + weights (and adapters).
    const sharded: Record<number, string[]> = {
      1: ['master_weights', 'optimizer_states'],
      2: ['master_weights', 'optimizer_states', 'gradients'],
      3: lines,
    };
    for (const qlora of [false, true]) {
      const f0 = formulas(0, qlora);
      for (const l of lines) expect(f0[l]).not.toMatch(/\/ dp|Stryker/);
      for (const zero of [1, 2, 3] as const) {
        const f = formulas(zero, qlora);
        for (const l of lines) expect(f[l]).toBe(sharded[zero]!.includes(l) ? `${f0[l]} / dp` : f0[l]);
      }
    }
  });

  it('the stored-activation formula says what each recompute keeps', () => {
    const stored = (recompute: 'none' | 'selective' | 'full') => {
      const r = trainingMemory(llama2, { ...base, recompute });
      return [
        entry(r, 'activations per layer (decoder), stored').formula,
        entry(r, 'activations').formula,
      ] as const;
    };
    const [none, noneTotal] = stored('none');
    const [sel, selTotal] = stored('selective');
    const [full, fullTotal] = stored('full');
    expect(none).toBe('all of the above');
    expect(sel).toMatch(/without the attention core/);
    expect(full).toMatch(/layer input only/);
    expect(fullTotal).toMatch(/\+ one layer recomputed in full/);
    expect(noneTotal).not.toMatch(/recomputed in full|Stryker/);
    expect(selTotal).toBe(noneTotal);
    expect(fullTotal.replace(' + one layer recomputed in full', '')).toBe(noneTotal);
    expect(noneTotal).toMatch(/final norm/);
    expect(noneTotal).toMatch(/^in-flight micro-batches \(1F1B: pp − stage\)/);
  });
});
