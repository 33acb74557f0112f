/**
 * The operator graph of one step, operator by operator, worked out from the reference configs: FLOPs (2 per
 * multiply-add), bytes (weights once, KV read, activations), kernels and GEMM rows. BF16 weights, 2-byte KV and
 * activations. Each test builds its own spec: ops.ts caches per layer group, and a shared spec would leave a later
 * test's figures computed under an earlier test's code.
 */
import { describe, expect, it } from 'vitest';
import { findModel, modelSpec } from '../../src/catalog/index.js';
import { specFromConfig } from '../../src/core/arch/index.js';
import { weightLayout } from '../../src/core/memory/weights.js';
import { stepOps, stepTokens, type Op, type StepShape } from '../../src/core/perf/ops.js';
import { referenceSpec } from '../helpers.js';
import { stepShape } from './fixtures-perf.js';

const shape = stepShape;
const ops = (file: string, s: StepShape) => {
  const spec = referenceSpec(file);
  return stepOps(spec, weightLayout(spec, 'bf16'), s);
};
const byCat = (list: Op[], c: Op['category']) => list.filter((o) => o.category === c);
const one = (list: Op[], c: Op['category']) => {
  const found = byCat(list, c);
  expect(found).toHaveLength(1);
  return found[0]!;
};
const LLAMA2 = 'meta-llama__Llama-2-7b-hf.json';

describe('Llama-2-7B (32 layers, 4096 hidden, 32 heads of 128, MLP 11008, vocab 32000)', () => {
  it('decode of 2 sequences at 99 cached tokens, tp=1: every operator', () => {
    const list = ops(LLAMA2, shape({ segments: [{ batch: 2, tokens: 1, context: 99 }], logitsRows: 2 }));
    const attn = 4 * 4096 * 4096; // q, k, v, o
    const mlp = 3 * 4096 * 11008;
    // each query sees its 99 cached keys and itself: 100 per sequence; K+V of a token: 32 · 256 · 2 B.
    expect(list).toEqual([
      {
        category: 'attention_proj',
        kind: 'gemm',
        flops: 2 * 2 * attn * 32,
        // weights, then outputs q (4096) + k + v (2 · 4096) per token
        bytes: (attn * 2 + 2 * 12288 * 2) * 32,
        kernels: 4 * 32,
        m: 2,
      },
      {
        category: 'attention_core',
        kind: 'attention',
        flops: 2 * 200 * 32 * 256 * 32,
        bytes: (2 * 100 * 16384 + 2 * 32 * 256 * 2) * 32,
        kernels: 2 * 32,
        m: 2,
      },
      {
        category: 'mlp',
        kind: 'gemm',
        flops: 2 * 2 * mlp * 32,
        bytes: (mlp * 2 + 2 * 11008 * 3 * 2) * 32,
        kernels: 3 * 32,
        m: 2,
      },
      {
        category: 'norm',
        kind: 'elementwise',
        flops: 10 * 2 * 4096 * 32,
        bytes: 4 * 2 * 4096 * 2 * 32,
        kernels: 64,
        m: 2,
      },
      { category: 'embedding', kind: 'elementwise', flops: 0, bytes: 2 * 2 * 4096 * 2, kernels: 1, m: 2 },
      {
        category: 'lm_head',
        kind: 'gemm',
        flops: 2 * 2 * 32000 * 4096,
        // the head's weights and fp32 logits of 2 rows
        bytes: 32000 * 4096 * 2 + 2 * 32000 * 4,
        kernels: 2,
        m: 2,
      },
    ]);
  });
  it('tp=2, an 8-token chunk after 4 cached tokens: half the heads, weights and logits per device', () => {
    const list = ops(LLAMA2, shape({ segments: [{ batch: 1, tokens: 8, context: 4 }], tp: 2 }));
    const proj = one(list, 'attention_proj');
    expect(proj.flops).toBe(2 * 8 * (2 * 4096 * 4096) * 32);
    // 16 heads: q 2048 + k, v 2048 each per token
    expect(proj.bytes).toBe((2 * 4096 * 4096 * 2 + 8 * 6144 * 2) * 32);
    // pairs: 8 · 4 + (1 + … + 8) = 68; 16 KV heads of 256 B per token; 12 tokens of cache read
    const core = one(list, 'attention_core');
    expect(core.flops).toBe(2 * 68 * 16 * 256 * 32);
    expect(core.bytes).toBe((12 * 16 * 256 * 2 + 8 * 16 * 256 * 2) * 32);
    const mlp = one(list, 'mlp');
    expect(mlp.flops).toBe(2 * 8 * ((3 * 4096 * 11008) / 2) * 32);
    expect(mlp.bytes).toBe(((3 * 4096 * 11008 * 2) / 2 + 8 * 5504 * 3 * 2) * 32);
    const head = one(list, 'lm_head');
    expect(head.flops).toBe((2 * 32000 * 4096) / 2);
    expect(head.bytes).toBe((32000 * 4096 * 2) / 2 + (32000 * 4) / 2);
    expect(head.m).toBe(1);
    expect(one(list, 'norm').bytes).toBe(4 * 8 * 4096 * 2 * 32);
    expect(one(list, 'embedding').bytes).toBe(2 * 8 * 4096 * 2);
  });
  it('cp=2 splits a 8-token prompt: 4 tokens, half of the 36 causal pairs and of the cache per device', () => {
    const list = ops(LLAMA2, shape({ segments: [{ batch: 1, tokens: 8, context: 0 }], cp: 2 }));
    expect(one(list, 'attention_proj').m).toBe(4);
    const core = one(list, 'attention_core');
    expect(core.flops).toBe(2 * 18 * 32 * 256 * 32);
    expect(core.bytes).toBe(((8 * 16384) / 2 + 4 * 32 * 256 * 2) * 32);
  });
  it('a pipeline stage of half the layers: FLOPs, bytes and kernels of 16 layers', () => {
    const list = ops(LLAMA2, shape({ layerShare: 0.5 }));
    const mlp = one(list, 'mlp');
    expect([mlp.flops, mlp.bytes, mlp.kernels]).toEqual([
      2 * 3 * 4096 * 11008 * 16,
      (3 * 4096 * 11008 * 2 + 11008 * 3 * 2) * 16,
      48,
    ]);
  });
});

describe('stepTokens', () => {
  it('prompt chunks split over CP, decode tokens not: 2 · 1 + 100 / 2', () => {
    const s = shape({
      cp: 2,
      segments: [
        { batch: 2, tokens: 1, context: 50 },
        { batch: 1, tokens: 100, context: 0 },
      ],
    });
    expect(stepTokens(s)).toBe(52);
  });
});

describe('attention variants', () => {
  it('Mistral-7B window 4096: at 5000 cached tokens a query reads 4096 keys (8 KV heads)', () => {
    const core = one(
      ops('mistralai__Mistral-7B-v0.1.json', shape({ segments: [{ batch: 1, tokens: 1, context: 5000 }] })),
      'attention_core',
    );
    expect(core.flops).toBe(2 * 4096 * 32 * 256 * 32);
    expect(core.bytes).toBe((4096 * 8 * 256 * 2 + 32 * 256 * 2) * 32);
  });
  it('Llama-3-8B at tp=16: 2 query heads; K/V weights split only 8 ways (one KV head per device)', () => {
    const list = ops('meta-llama__Meta-Llama-3-8B.json', shape({ tp: 16 }));
    // q, o: 2 · 4096² / 16 = 2,097,152; k, v: 2 · 1024 · 4096 / 8 = 1,048,576
    const params = (2 * 4096 * 4096) / 16 + (2 * 1024 * 4096) / 8;
    const proj = one(list, 'attention_proj');
    expect(proj.flops).toBe(2 * params * 32);
    expect(proj.bytes).toBe((params * 2 + (2 * 128 + 2 * 128) * 2) * 32);
    const core = one(list, 'attention_core');
    expect(core.flops).toBe(2 * 1 * 2 * 256 * 32);
    expect(core.bytes).toBe((256 * 2 + 2 * 256 * 2) * 32);
  });
  it('Qwen2.5-0.5B: biases are not GEMM weights; the tied embedding is the head', () => {
    const list = ops('Qwen__Qwen2.5-0.5B.json', shape());
    // q, o 896²; k, v 128 · 896 (2 KV heads of 64)
    expect(one(list, 'attention_proj').flops).toBe(2 * (2 * 896 * 896 + 2 * 128 * 896) * 24);
    const head = one(list, 'lm_head');
    expect(head.flops).toBe(2 * 151936 * 896);
    expect(head.bytes).toBe(151936 * 896 * 2 + 151936 * 4);
  });
  it('DeepSeek-V2-Lite MLA: projections out to 16 · (192 + 128); cache of 512 + 64 per token', () => {
    const list = ops(
      'deepseek-ai__DeepSeek-V2-Lite.json',
      shape({ segments: [{ batch: 1, tokens: 1, context: 9 }] }),
    );
    // q 3072 · 2048, kv_a 576 · 2048, kv_b 4096 · 512, o 2048²: no K/V projection to keep apart
    const attn = 3072 * 2048 + 576 * 2048 + 4096 * 512 + 2048 * 2048;
    const proj = byCat(list, 'attention_proj');
    expect(proj.map((o) => o.bytes)).toEqual([attn * 2 + 16 * 320 * 2, (attn * 2 + 16 * 320 * 2) * 26]);
    const core = byCat(list, 'attention_core');
    // 10 keys; scores over 576 latent dims and values over 512
    expect(core.map((o) => o.bytes)).toEqual([
      10 * 576 * 2 + 16 * 1088 * 2,
      (10 * 576 * 2 + 16 * 1088 * 2) * 26,
    ]);
    expect(core[0]!.flops).toBe(2 * 10 * 16 * 1088);
  });
  it('DeepSeek-V2-Lite MLA prompt: plain attention over 192 + 128 dims, earlier chunks up-projected from the latent', () => {
    const spec = referenceSpec('deepseek-ai__DeepSeek-V2-Lite.json');
    const layout = weightLayout(spec, 'bf16');
    const attn = 3072 * 2048 + 576 * 2048 + 4096 * 512 + 2048 * 2048;
    // A whole prompt of 8 tokens: 36 causal pairs; 16 heads, scores over 128 nope + 64 rope, values over 128.
    const first = stepOps(spec, layout, shape({ segments: [{ batch: 1, tokens: 8, context: 0 }] }));
    expect(byCat(first, 'attention_core')[0]!.flops).toBe(2 * 36 * 16 * (192 + 128));
    expect(byCat(first, 'attention_proj')[0]!.flops).toBe(2 * 8 * attn);
    // A second chunk of 4 after 8 cached: 4 · 8 + 10 pairs; the 8 cached latents are first up-projected by kv_b
    // (512 → 16 heads · (128 nope + 128 v)).
    const next = stepOps(spec, layout, shape({ segments: [{ batch: 1, tokens: 4, context: 8 }] }));
    expect(byCat(next, 'attention_core')[0]!.flops).toBe(2 * 42 * 16 * 320);
    expect(byCat(next, 'attention_proj')[0]!.flops).toBe(2 * 4 * attn + 2 * 8 * 512 * 16 * 256);
    // Decode tokens stay in the latent space: 576 + 512 per head over the same step.
    const mixed = stepOps(
      spec,
      layout,
      shape({
        segments: [
          { batch: 1, tokens: 8, context: 0 },
          { batch: 2, tokens: 1, context: 9 },
        ],
      }),
    );
    expect(byCat(mixed, 'attention_core')[0]!.flops).toBe(2 * 36 * 16 * 320 + 2 * 2 * 10 * 16 * 1088);
  });
  /** One sequence decoding its 5,000th token at tp 8, BF16 weights. */
  const decodeAt5000 = (id: string) => {
    const spec = modelSpec(findModel(id));
    return stepOps(
      spec,
      weightLayout(spec, 'bf16'),
      shape({ tp: 8, segments: [{ batch: 1, tokens: 1, context: 4999 }] }),
    );
  };
  it('GLM-5 DSA decode at 5,000 tokens: attention reads the top 2,048; the 32-head indexer scores all 5,000', () => {
    const list = decodeAt5000('zai-org/GLM-5');
    // Each layer group (3 dense-MLP layers, 75 MoE) has its attention, then its indexer.
    const cores = byCat(list, 'attention_core');
    expect(cores).toHaveLength(4);
    const sum = (o: Op[], k: 'flops' | 'bytes') => o.reduce((x, y) => x + y[k], 0);
    const main = cores.filter((_, i) => i % 2 === 0);
    const indexer = cores.filter((_, i) => i % 2 === 1);
    // 78 layers; 64 heads over tp 8; latent 512 + rope 64, 2-byte KV; the indexer keeps 128 fp8 + a 4-byte scale.
    expect(sum(main, 'flops')).toBe(2 * 2048 * 8 * (576 + 512) * 78);
    expect(sum(main, 'bytes')).toBe((2048 * 576 * 2 + 8 * 1088 * 2) * 78);
    expect(sum(indexer, 'flops')).toBe(2 * 5000 * 32 * 128 * 78);
    expect(sum(indexer, 'bytes')).toBe(5000 * 132 * 78);
  });
  it('GLM-5.2 at 5,000 tokens: 57 shared layers attend the top 2,048 too, and only the 21 others run an indexer', () => {
    const list = decodeAt5000('zai-org/GLM-5.2');
    const cores = byCat(list, 'attention_core');
    // Groups: 3 dense layers (indexer), 18 MoE layers (indexer), 57 MoE layers (shared): 3 attentions, 2 indexers.
    expect(cores).toHaveLength(5);
    const main = 2 * 2048 * 8 * (576 + 512) * 78;
    const indexer = 2 * 5000 * 32 * 128 * 21;
    expect(cores.reduce((x, o) => x + o.flops, 0)).toBe(main + indexer);
    expect(cores.reduce((x, o) => x + o.bytes, 0)).toBe(
      (2048 * 576 * 2 + 8 * 1088 * 2) * 78 + 5000 * 132 * 21,
    );
  });
  it('T5 decoder: self- and cross-attention each take half of the layer’s 8 attention matrices', () => {
    const spec = specFromConfig({
      architectures: ['T5ForConditionalGeneration'],
      model_type: 't5',
      d_model: 512,
      d_kv: 64,
      d_ff: 2048,
      num_layers: 6,
      num_heads: 8,
      vocab_size: 32128,
      feed_forward_proj: 'relu',
    });
    const proj = byCat(stepOps(spec, weightLayout(spec, 'bf16'), shape()), 'attention_proj');
    // encoder: 4 · 512² per layer; decoder: 8 · 512², half to each of its two attentions
    const four = 4 * 512 * 512;
    expect(proj.map((o) => o.flops)).toEqual([2 * four * 6, 2 * four * 6, 2 * four * 6]);
    expect(proj.map((o) => o.bytes)).toEqual([
      (four * 2 + 3 * 512 * 2) * 6,
      (four * 2 + 3 * 512 * 2) * 6,
      (four * 2 + 3 * 512 * 2) * 6,
    ]);
  });
  it("LLaVA-1.5-7B: the vision tower's 24 layers are not part of a decode step", () => {
    const list = ops('llava-hf__llava-1.5-7b-hf.json', shape());
    expect(list.map((o) => o.category)).toEqual([
      'attention_proj',
      'attention_core',
      'mlp',
      'norm',
      'embedding',
      'lm_head',
    ]);
    expect(one(list, 'attention_proj').flops).toBe(2 * 4 * 4096 * 4096 * 32);
  });
});

describe('mixture of experts', () => {
  const MIXTRAL = 'mistralai__Mixtral-8x7B-v0.1.json';
  /** 4 decode tokens per rank, tp 2, attention DP 2, experts over moe_tp 2 · ep 2. */
  const fourTokens = {
    segments: [{ batch: 4, tokens: 1, context: 0 }],
    tp: 2,
    ep: 2,
    adp: 2,
    moeTp: 2,
    logitsRows: 4,
  };
  it('Mixtral-8x7B, 4 decode tokens, tp=2, attention DP 2, experts over moe_tp 2 · ep 2', () => {
    const list = ops(MIXTRAL, shape(fourTokens));
    expect(list.map((o) => o.category)).toEqual([
      'attention_proj',
      'attention_core',
      'router',
      'experts',
      'norm',
      'embedding',
      'lm_head',
    ]);
    // Router: 8 logits of 4096 per token; the router and norms (8 · 4096 + 2 · 4096) · 2 B, fp32 logits.
    expect(one(list, 'router')).toEqual({
      category: 'router',
      kind: 'elementwise',
      flops: 2 * 4 * 8 * 4096 * 32,
      bytes: ((8 * 4096 + 2 * 4096) * 2 + 4 * 8 * 4) * 32,
      kernels: 64,
      m: 4,
    });
    // Experts see 8 tokens (2 ranks of 4): each runs 2 experts of 3 · 14336 · 4096 / moe_tp 2, over ep 2.
    const expert = (3 * 14336 * 4096) / 2;
    // Distinct experts 8 tokens touch: 8 · (1 − (3/4)^8), half of them on this device.
    const touched = (8 * (1 - 0.75 ** 8)) / 2;
    const x = one(list, 'experts');
    expect(x.flops).toBeCloseTo(((2 * 8 * 2 * expert) / 2) * 32, 0);
    expect(x.bytes / 32).toBeCloseTo(touched * expert * 2 + ((8 * 2 * (14336 / 2) * 3) / 2) * 2, 3);
    expect([x.kind, x.kernels, x.m, x.grouped]).toEqual(['gemm', 96, 2, true]);
  });
  it("moeTokens: experts that see only this rank's 4 tokens, not 2 ranks alike", () => {
    const all = one(ops(MIXTRAL, shape(fourTokens)), 'experts');
    const alone = one(ops(MIXTRAL, shape({ ...fourTokens, moeTokens: 4 })), 'experts');
    expect(alone.flops).toBeCloseTo(all.flops / 2, 0);
    expect(alone.m).toBe(1);
    const touched = (8 * (1 - 0.75 ** 4)) / 2;
    const expert = (3 * 14336 * 4096) / 2;
    expect(alone.bytes / 32).toBeCloseTo(touched * expert * 2 + ((4 * 2 * (14336 / 2) * 3) / 2) * 2, 3);
  });
  it('DeepSeek-V2-Lite, one token: 6 of 64 routed experts read; the 2 shared experts as one GEMM', () => {
    const list = ops('deepseek-ai__DeepSeek-V2-Lite.json', shape());
    const [routed, shared] = byCat(list, 'experts');
    const expert = 3 * 1408 * 2048;
    expect(routed!.bytes).toBeCloseTo((6 * expert * 2 + 6 * 1408 * 3 * 2) * 26, 0);
    expect(routed!.m).toBe(6 / 64);
    const sh = 3 * 2816 * 2048;
    expect(shared).toEqual({
      category: 'experts',
      kind: 'gemm',
      flops: 2 * sh * 26,
      bytes: (sh * 2 + 2048 * 2 * 2) * 26,
      kernels: 26,
      m: 1,
    });
  });
});

describe('SSM (mamba-130m: 24 layers, d_inner 1536, d_state 16)', () => {
  it('tp=2: half the mixer matrices and scan, the vectors (norm, conv and dt biases, D) whole', () => {
    const list = ops(
      'state-spaces__mamba-130m-hf.json',
      shape({ tp: 2, segments: [{ batch: 1, tokens: 4, context: 0 }] }),
    );
    // in_proj, conv1d, x_proj, dt_proj, A_log, out_proj
    const matrices = 768 * 3072 + 1536 * 4 + 80 * 1536 + 1536 * 48 + 1536 * 16 + 768 * 1536;
    const vectors = 768 + 1536 + 1536 + 1536;
    // The one sequence reads and writes its state once: conv state 1536 channels × 3 inputs × 2 B, fp32 SSM state
    // d_inner × d_state × 4 B, half of each on this device.
    const state = (1536 * 3 * 2 + 1536 * 16 * 4) / 2;
    expect(one(list, 'ssm')).toEqual({
      category: 'ssm',
      kind: 'gemm',
      flops: (2 * 4 * (matrices / 2) + 10 * 4 * 768 * 16) * 24,
      bytes: ((matrices * 2) / 2 + vectors * 2 + 2 * state) * 24,
      kernels: 6 * 24,
      m: 4,
    });
  });
});

describe('Gated DeltaNet (Qwen3.5-397B-A17B: 45 linear-attention layers, 64 value heads of 128, 16 key heads of 128)', () => {
  it('decode: each sequence reads and writes its fp32 recurrent state and its conv state once a step', () => {
    const spec = modelSpec(findModel('Qwen/Qwen3.5-397B-A17B'));
    const layout = weightLayout(spec, 'bf16');
    const ssmBytes = (batch: number) =>
      one(stepOps(spec, layout, shape({ tp: 4, segments: [{ batch, tokens: 1, context: 1000 }] })), 'ssm')
        .bytes;
    // Per layer and sequence: state 64 · 128 · 128 · 4 B; conv over q, k (16 · 128 each) and v (64 · 128) channels,
    // the last 3 inputs at 2 B; a quarter of it on each of 4 devices; read and written.
    const perSeq = (64 * 128 * 128 * 4 + (2 * 16 * 128 + 64 * 128) * 3 * 2) / 4;
    expect(ssmBytes(3) - ssmBytes(1)).toBe(2 * 2 * perSeq * 45);
  });
});
