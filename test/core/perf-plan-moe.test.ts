/**
 * The training planner on a tiny Mixtral-like MoE (2 layers, 4 heads, 4 experts, top-2), counted by hand, and the
 * ranking objectives across device kinds. 2 GPUs, global batch 8, seq 1024:
 *   tp1 pp1 dp2: micro-batch 1, 2, 4 · ZeRO-1/FSDP · 3 recompute · EP 1 or 2 = 36
 *   tp1 pp2 dp1: vpp 1, 2 (vpp 4 would give 8 stages for 2 layers + 2) · 4 micro-batches · ZeRO-1 · 3 = 24
 *   tp2 pp1 dp1: 4 micro-batches · 2 · 3 · EP 1 or 2 = 48                                            → 108
 * On 4 GPUs PP stops at the 2 layers (no pp=4), and EP 4 needs dp · tp = 4 at pp 1:
 *   tp1 dp4: micro-batch 1, 2 · 2 · 3 = 12; tp2 dp2: 3 · 2 · 3 = 18; tp4 dp1: 4 · 2 · 3 = 24 → 54.
 */
import { describe, expect, it } from 'vitest';
import { findDevice, hardwareSpec } from '../../src/catalog/index.js';
import { specFromConfig } from '../../src/core/arch/index.js';
import { planTraining } from '../../src/core/perf/train-plan.js';
import { referenceSpec } from '../helpers.js';
import { trainPlanOptions } from './fixtures-perf.js';

const h100 = hardwareSpec(findDevice('h100-sxm-80gb'));
const tiny = () =>
  specFromConfig({
    architectures: ['MixtralForCausalLM'],
    model_type: 'mixtral',
    hidden_size: 256,
    intermediate_size: 512,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 4,
    num_local_experts: 4,
    num_experts_per_tok: 2,
    vocab_size: 1000,
    max_position_embeddings: 4096,
    torch_dtype: 'bfloat16',
  });
const o = trainPlanOptions();
const dev = { hw: h100, usdPerGpuHour: null };

describe('MoE layouts', () => {
  it('2 GPUs: 108 layouts, 42 of them with EP 2', () => {
    const c = planTraining(tiny(), [dev], o, 10000);
    expect(c).toHaveLength(108);
    expect(c.filter((x) => x.options.ep === 2)).toHaveLength(42);
  });
  it('4 GPUs: no pp=4 for 2 layers; 54 layouts with EP 4', () => {
    const c = planTraining(tiny(), [dev], { ...o, gpus: 4 }, 10000);
    expect(c.filter((x) => x.options.pp === 4)).toHaveLength(0);
    expect(c.filter((x) => x.options.ep === 4)).toHaveLength(54);
  });
});

describe('objectives across device kinds', () => {
  it('fastest: the H100 first; cheapest at 1 cent per A100-hour: the A100 first', () => {
    const gpt2 = () => referenceSpec('openai-community__gpt2.json');
    const a100 = hardwareSpec(findDevice('a100-sxm-80gb'));
    const kinds = [
      { hw: h100, usdPerGpuHour: 2 },
      { hw: a100, usdPerGpuHour: 0.01 },
    ];
    const budget = { ...o, tokens: 1e9 };
    expect(planTraining(gpt2(), kinds, budget, 1)[0]!.gpu).toBe('h100-sxm-80gb');
    const cheap = planTraining(gpt2(), kinds, { ...budget, objective: 'cheapest' }, 1);
    expect(cheap[0]!.gpu).toBe('a100-sxm-80gb');
  });
});
