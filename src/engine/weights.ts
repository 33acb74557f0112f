/**
 * Model weights by role: finds each tensor the forward pass needs in a checkpoint (HF names, with or without the
 * `transformer.` / `model.` prefix), checks its shape against the config, and counts the bytes the engine holds
 * (fp32, tied embeddings once, buffers such as GPT-2's causal `attn.bias` ignored).
 */
import { dirname } from 'node:path';
import type { ModelConfig } from './config.js';
import { CheckpointError, type FileRange, type TensorData } from './safetensors.js';

export interface Mat {
  /** May be read from the checkpoint on each access (safetensors.ts): read it once per use. */
  readonly data: Float32Array;
  shape: number[];
  /** Where its fp32 bytes lie in the checkpoint, when they do (safetensors.ts). */
  readonly file?: FileRange;
}

export interface LayerWeights {
  norm1: Mat;
  norm1Bias: Mat | null;
  /** gpt2: c_attn [H, 3H] (Conv1D); llama: q/k/v [out, in] each. */
  qkv: Mat[];
  qkvBias: Mat[] | null;
  o: Mat;
  oBias: Mat | null;
  qNorm: Mat | null;
  kNorm: Mat | null;
  norm2: Mat;
  norm2Bias: Mat | null;
  /** gpt2: [c_fc, c_proj]; llama: [gate, up, down]. */
  mlp: Mat[];
  mlpBias: Mat[] | null;
}

export interface ModelWeights {
  embedding: Mat;
  positions: Mat | null;
  layers: LayerWeights[];
  finalNorm: Mat;
  finalNormBias: Mat | null;
  /** The LM head matrix [vocab, H]; the embedding itself when tied. */
  head: Mat;
  /** Bytes of the distinct tensors held (fp32). */
  bytes: number;
  /** Checkpoint dtype of the embedding (what the file stored). */
  storedDtype: string;
  /**
   * The directory of the checkpoint's files (readCheckpoint): graphs reference the fp32 tensors stored there as
   * external data. Null when no tensor lies in a file (tensors held in memory) or they lie in several directories.
   */
  folder: string | null;
}

class Finder {
  readonly used = new Set<string>();
  constructor(
    private tensors: Map<string, TensorData>,
    private prefixes: string[],
  ) {}

  has(name: string): boolean {
    return this.prefixes.some((p) => this.tensors.has(p + name));
  }

  get(name: string, shape: number[]): Mat {
    for (const p of this.prefixes) {
      const t = this.tensors.get(p + name);
      if (!t) continue;
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
        throw new CheckpointError(`tensor ${p + name} has shape [${t.shape}], config implies [${shape}]`);
      this.used.add(p + name);
      // The tensor itself: its data is read when a graph is built, not now (safetensors.ts reads lazily).
      return t;
    }
    throw new CheckpointError(`checkpoint lacks tensor ${name}`);
  }

  opt(name: string, shape: number[], present: boolean): Mat | null {
    return present ? this.get(name, shape) : null;
  }
}

function gpt2Weights(c: ModelConfig, f: Finder): Omit<ModelWeights, 'bytes' | 'storedDtype' | 'folder'> {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `h.${i}.`;
    layers.push({
      norm1: f.get(p + 'ln_1.weight', [H]),
      norm1Bias: f.get(p + 'ln_1.bias', [H]),
      qkv: [f.get(p + 'attn.c_attn.weight', [H, 3 * H])],
      qkvBias: [f.get(p + 'attn.c_attn.bias', [3 * H])],
      o: f.get(p + 'attn.c_proj.weight', [H, H]),
      oBias: f.get(p + 'attn.c_proj.bias', [H]),
      qNorm: null,
      kNorm: null,
      norm2: f.get(p + 'ln_2.weight', [H]),
      norm2Bias: f.get(p + 'ln_2.bias', [H]),
      mlp: [f.get(p + 'mlp.c_fc.weight', [H, I]), f.get(p + 'mlp.c_proj.weight', [I, H])],
      mlpBias: [f.get(p + 'mlp.c_fc.bias', [I]), f.get(p + 'mlp.c_proj.bias', [H])],
    });
  }
  const embedding = f.get('wte.weight', [c.vocabSize, H]);
  return {
    embedding,
    positions: f.get('wpe.weight', [c.maxPositions, H]),
    layers,
    finalNorm: f.get('ln_f.weight', [H]),
    finalNormBias: f.get('ln_f.bias', [H]),
    head: c.tiedEmbeddings ? embedding : f.get('lm_head.weight', [c.vocabSize, H]),
  };
}

function llamaWeights(c: ModelConfig, f: Finder): Omit<ModelWeights, 'bytes' | 'storedDtype' | 'folder'> {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const qd = c.numHeads * c.headDim;
  const kvd = c.numKvHeads * c.headDim;
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `layers.${i}.`;
    const a = p + 'self_attn.';
    layers.push({
      norm1: f.get(p + 'input_layernorm.weight', [H]),
      norm1Bias: null,
      qkv: [
        f.get(a + 'q_proj.weight', [qd, H]),
        f.get(a + 'k_proj.weight', [kvd, H]),
        f.get(a + 'v_proj.weight', [kvd, H]),
      ],
      qkvBias: c.qkvBias
        ? [f.get(a + 'q_proj.bias', [qd]), f.get(a + 'k_proj.bias', [kvd]), f.get(a + 'v_proj.bias', [kvd])]
        : null,
      o: f.get(a + 'o_proj.weight', [H, qd]),
      oBias: f.opt(a + 'o_proj.bias', [H], c.oBias),
      qNorm: f.opt(a + 'q_norm.weight', [c.headDim], c.qkNorm),
      kNorm: f.opt(a + 'k_norm.weight', [c.headDim], c.qkNorm),
      norm2: f.get(p + 'post_attention_layernorm.weight', [H]),
      norm2Bias: null,
      mlp: [
        f.get(p + 'mlp.gate_proj.weight', [I, H]),
        f.get(p + 'mlp.up_proj.weight', [I, H]),
        f.get(p + 'mlp.down_proj.weight', [H, I]),
      ],
      mlpBias: null,
    });
  }
  const tiedOnlyHead = c.tiedEmbeddings && !f.has('embed_tokens.weight') && f.has('lm_head.weight');
  const embedding = f.get(tiedOnlyHead ? 'lm_head.weight' : 'embed_tokens.weight', [c.vocabSize, H]);
  return {
    embedding,
    positions: null,
    layers,
    finalNorm: f.get('norm.weight', [H]),
    finalNormBias: null,
    head: c.tiedEmbeddings ? embedding : f.get('lm_head.weight', [c.vocabSize, H]),
  };
}

export function bindWeights(c: ModelConfig, tensors: Map<string, TensorData>): ModelWeights {
  const prefixes = c.family === 'gpt2' ? ['', 'transformer.'] : ['model.', ''];
  const f = new Finder(tensors, prefixes);
  const w = c.family === 'gpt2' ? gpt2Weights(c, f) : llamaWeights(c, f);
  const seen = new Set<Mat>();
  let bytes = 0;
  const count = (m: Mat | null) => {
    if (m && !seen.has(m)) {
      seen.add(m);
      bytes += 4 * m.shape.reduce((a, b) => a * b, 1);
    }
  };
  count(w.embedding);
  count(w.positions);
  count(w.finalNorm);
  count(w.finalNormBias);
  count(w.head);
  for (const l of w.layers) {
    for (const m of [l.norm1, l.norm1Bias, l.o, l.oBias, l.qNorm, l.kNorm, l.norm2, l.norm2Bias]) count(m);
    for (const m of [...l.qkv, ...(l.qkvBias ?? []), ...l.mlp, ...(l.mlpBias ?? [])]) count(m);
  }
  const stored = [...tensors.values()][0]?.dtype ?? 'F32';
  const dirs = new Set([...tensors.values()].flatMap((t) => (t.file ? [dirname(t.file.path)] : [])));
  const folder = dirs.size === 1 ? [...dirs][0]! : null;
  return { ...w, bytes, storedDtype: stored, folder };
}
