/**
 * The model: embeddings in TypeScript, per-layer onnxruntime sessions around the attention core, and the LM
 * head. `forward` runs one step over a flattened batch of sequences (prefill chunks and decode tokens alike),
 * writing each token's K/V into its cache slot before attending. Attention runs in onnxruntime (one weightless
 * session for all layers), or in TypeScript for a layer a research hook acts on (capture, sparsity mask).
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { attend, hooksActOn, type AttentionHooks, type AttentionItem } from './attention.js';
import { AttentionScratch, planAttention, runAttention, type AttentionPlan } from './attention_ort.js';
import type { ModelConfig } from './config.js';
import { attentionGraph, attnInGraph, attnOutGraph, headGraph } from './graphs.js';
import type { KvCache } from './kv_cache.js';
import type { Profiler } from './profiler.js';
import { RopeTable } from './rope.js';
import type { Mat, ModelWeights } from './weights.js';

export interface ForwardItem {
  tokens: readonly number[];
  /** Absolute position of tokens[0]. */
  start: number;
  blockTable: readonly number[];
}

export interface ModelOptions {
  /** onnxruntime intra-op threads; default: all cores. */
  threads?: number;
}

interface LayerSessions {
  attnIn: ort.InferenceSession;
  attnOut: ort.InferenceSession;
}

const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);

export class Model {
  /** Attention buffers kept between steps; a forward holds them while it runs (null meanwhile). */
  private scratch: AttentionScratch | null = new AttentionScratch();
  /** Bytes of the attention buffers of the last forward (onnxruntime path; 0 when every layer ran in TypeScript). */
  lastAttentionBytes = 0;

  private constructor(
    readonly config: ModelConfig,
    private readonly embedding: Mat,
    private readonly positions: Mat | null,
    private readonly layers: LayerSessions[],
    private readonly headSession: ort.InferenceSession,
    private readonly headWeight: ort.Tensor,
    private readonly attentionSession: ort.InferenceSession,
    private readonly rope: RopeTable | null,
    /** Bytes of the weights the model holds (fp32, tied once). */
    readonly weightBytes: number,
  ) {}

  static async create(c: ModelConfig, w: ModelWeights, o: ModelOptions = {}): Promise<Model> {
    const opts: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: o.threads ?? availableParallelism(),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      // Idle pool threads sleep instead of spinning: on a shared machine spinning threads fight the JavaScript
      // thread and each other (decode measured 13x slower with spinning on a loaded 2-core box).
      extra: {
        session: {
          intra_op: { allow_spinning: '0' },
          // fp32 weights used as stored are external data that onnxruntime reads from the checkpoint itself:
          // no copy of them passes through JavaScript or the model's bytes (graphs.ts).
          ...(w.folder === null ? {} : { model_external_initializers_file_folder_path: w.folder }),
        },
      },
    };
    const layers: LayerSessions[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      const l = w.layers[i]!;
      layers.push({
        attnIn: await ort.InferenceSession.create(attnInGraph(c, l, i, w.folder), opts),
        attnOut: await ort.InferenceSession.create(attnOutGraph(c, l, i, w.folder), opts),
      });
    }
    const head = await ort.InferenceSession.create(headGraph(c, w, w.folder), opts);
    const attention = await ort.InferenceSession.create(attentionGraph(c), opts);
    const rope = c.family === 'llama' ? new RopeTable(c) : null;
    // The embeddings are looked up in TypeScript on every forward: read them from the checkpoint once. The LM
    // head is the head graph's input, the same array when tied.
    const embedding = { data: w.embedding.data, shape: w.embedding.shape };
    const positions = w.positions ? { data: w.positions.data, shape: w.positions.shape } : null;
    const headWeight = f32(w.head === w.embedding ? embedding.data : w.head.data, [
      c.vocabSize,
      c.hiddenSize,
    ]);
    return new Model(c, embedding, positions, layers, head, headWeight, attention, rope, w.bytes);
  }

  /** The token-embedding matrix [vocab, H] (the research split API splits it). */
  get embeddingMatrix(): Float32Array {
    return this.embedding.data;
  }

  get numLayers(): number {
    return this.layers.length;
  }

  /** Token (+ learned position) embeddings, [tokens, H]. */
  embed(tokens: readonly number[], positions: readonly number[]): Float32Array {
    const H = this.config.hiddenSize;
    const x = new Float32Array(tokens.length * H);
    for (let t = 0; t < tokens.length; t++) {
      const id = tokens[t]!;
      if (!(id >= 0 && id < this.config.vocabSize))
        throw new RangeError(`token id ${id} is outside the vocabulary`);
      x.set(this.embedding.data.subarray(id * H, (id + 1) * H), t * H);
      if (this.positions) {
        const p = positions[t]!;
        if (p >= this.config.maxPositions) throw new RangeError(`position ${p} exceeds n_positions`);
        for (let e = 0; e < H; e++) x[t * H + e] = x[t * H + e]! + this.positions.data[p * H + e]!;
      }
    }
    return x;
  }

  /** Norm + QKV projection (+ qk-norm, RoPE) of layer i. */
  async attnIn(i: number, x: Float32Array, positions: readonly number[]) {
    const c = this.config;
    const T = positions.length;
    const feeds: Record<string, ort.Tensor> = { x: f32(x, [T, c.hiddenSize]) };
    if (this.rope) {
      const { cos, sin } = this.rope.tables(positions);
      feeds['cos'] = f32(cos, [T, 1, this.rope.half]);
      feeds['sin'] = f32(sin, [T, 1, this.rope.half]);
    }
    const r = await this.layers[i]!.attnIn.run(feeds);
    return {
      q: r['q']!.data as Float32Array,
      k: r['k']!.data as Float32Array,
      v: r['v']!.data as Float32Array,
    };
  }

  /** O projection + residual, norm, MLP + residual of layer i. */
  async attnOut(i: number, x: Float32Array, a: Float32Array): Promise<Float32Array> {
    const c = this.config;
    const T = x.length / c.hiddenSize;
    const r = await this.layers[i]!.attnOut.run({
      x: f32(x, [T, c.hiddenSize]),
      a: f32(a, [T, c.numHeads * c.headDim]),
    });
    return r['y']!.data as Float32Array;
  }

  /** Final norm + LM head over rows [N, H] → logits [N, vocab]. */
  async head(rows: Float32Array): Promise<Float32Array> {
    const N = rows.length / this.config.hiddenSize;
    const r = await this.headSession.run({
      x: f32(rows, [N, this.config.hiddenSize]),
      head_w: this.headWeight,
    });
    return r['logits']!.data as Float32Array;
  }

  /**
   * One step over a batch. Returns logits of each item's last token ([items, vocab]), or of every token when
   * `allLogits` (tests compare whole prompts).
   */
  async forward(
    items: readonly ForwardItem[],
    cache: KvCache,
    hooks: AttentionHooks | null,
    prof: Profiler,
    allLogits = false,
  ): Promise<Float32Array> {
    const c = this.config;
    const H = c.hiddenSize;
    const tokens: number[] = [];
    const positions: number[] = [];
    const slots: number[] = [];
    const att: AttentionItem[] = [];
    for (const it of items) {
      att.push({
        offset: tokens.length,
        count: it.tokens.length,
        start: it.start,
        blockTable: it.blockTable,
      });
      it.tokens.forEach((tok, j) => {
        tokens.push(tok);
        positions.push(it.start + j);
        slots.push(cache.slot(it.blockTable, it.start + j));
      });
    }
    let x = prof.time('embed', () => this.embed(tokens, positions));
    let plan: AttentionPlan | null = null;
    const scratch = this.scratch ?? new AttentionScratch();
    this.scratch = null;
    try {
      for (let i = 0; i < this.layers.length; i++) {
        const { q, k, v } = await prof.timeAsync('qkv_proj', () => this.attnIn(i, x, positions));
        const a = hooksActOn(hooks, i)
          ? prof.time('attention', () => {
              cache.write(i, slots, k, v);
              return attend(c, cache, i, q, att, hooks);
            })
          : await prof.timeAsync('attention', () => {
              cache.write(i, slots, k, v);
              plan ??= planAttention(c, att, undefined, scratch);
              return runAttention(this.attentionSession, c, plan, cache, i, q);
            });
        x = await prof.timeAsync('o_proj_mlp', () => this.attnOut(i, x, a));
      }
    } finally {
      this.scratch = scratch;
    }
    this.lastAttentionBytes = (plan as AttentionPlan | null)?.bytes ?? 0;
    let rows = x;
    if (!allLogits) {
      rows = new Float32Array(items.length * H);
      att.forEach((a, j) =>
        rows.set(x.subarray((a.offset + a.count - 1) * H, (a.offset + a.count) * H), j * H),
      );
    }
    return prof.timeAsync('lm_head', () => this.head(rows));
  }

  async release(): Promise<void> {
    for (const l of this.layers) {
      await l.attnIn.release();
      await l.attnOut.release();
    }
    await this.headSession.release();
    await this.attentionSession.release();
  }
}
