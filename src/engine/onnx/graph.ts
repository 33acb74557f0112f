/**
 * GraphBuilder: a small typed front end over the ONNX node list, so the model graphs read like the forward pass
 * they compute (`g.gemm(x, w, b)`, `g.rmsNorm(x, w, eps)`). Values are named automatically; weights become
 * initializers. The built bytes go straight to an onnxruntime InferenceSession.
 */
import { basename, dirname } from 'node:path';
import {
  DataType,
  encodeModel,
  type AttrValue,
  type InitializerDef,
  type NodeDef,
  type ValueDef,
} from './proto.js';

export const OPSET = 21;

/** A weight: its values, and where an fp32 copy of them lies in a file when it does (safetensors.ts). */
export interface WeightSource {
  readonly data: Float32Array;
  readonly file?: { path: string; offset: number; length: number };
}

export class GraphBuilder {
  private nodes: NodeDef[] = [];
  private inits: InitializerDef[] = [];
  private inputs: ValueDef[] = [];
  private outputs: ValueDef[] = [];
  private counter = 0;
  private consts = new Map<string, string>();

  /**
   * `folder`: the checkpoint directory. A weight whose fp32 bytes lie in a file there is referenced as external
   * data (onnxruntime reads it from the file, given this folder as the session's
   * model_external_initializers_file_folder_path) instead of being copied into the model's bytes.
   */
  constructor(
    readonly name: string,
    private readonly folder: string | null = null,
  ) {}

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  input(name: string, shape: (number | string)[], dataType: ValueDef['dataType'] = DataType.FLOAT): string {
    this.inputs.push({ name, shape, dataType });
    return name;
  }

  output(value: string, name: string, shape: (number | string)[]): void {
    this.op('Identity', [value], {}, name);
    this.outputs.push({ name, shape, dataType: DataType.FLOAT });
  }

  /** A float32 weight as an initializer: external data when it lies in the folder's files, else its bytes. */
  weight(name: string, w: Float32Array | WeightSource, dims: readonly number[]): string {
    const file = w instanceof Float32Array ? undefined : w.file;
    const count = dims.reduce((a, b) => a * b, 1);
    if (file && this.folder !== null && dirname(file.path) === this.folder && file.length === 4 * count) {
      const external = { location: basename(file.path), offset: file.offset, length: file.length };
      this.inits.push({ name, dims, dataType: DataType.FLOAT, external });
      return name;
    }
    const data = w instanceof Float32Array ? w : w.data;
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.inits.push({ name, dims, dataType: DataType.FLOAT, raw });
    return name;
  }

  /** An int64 constant (shapes, axes), shared by value. */
  ints(values: number[]): string {
    const key = `i64:${values.join(',')}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    const name = this.fresh('const_i64');
    const raw = new Uint8Array(new BigInt64Array(values.map((v) => BigInt(v))).buffer);
    this.inits.push({ name, dims: [values.length], dataType: DataType.INT64, raw });
    this.consts.set(key, name);
    return name;
  }

  /** A float32 scalar constant, shared by value. */
  scalar(value: number): string {
    const key = `f32:${value}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    const name = this.fresh('const_f32');
    this.inits.push({
      name,
      dims: [],
      dataType: DataType.FLOAT,
      raw: new Uint8Array(new Float32Array([value]).buffer),
    });
    this.consts.set(key, name);
    return name;
  }

  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    out?: string,
    domain = '',
  ): string {
    const output = out ?? this.fresh(opType.toLowerCase());
    this.nodes.push({ opType, inputs, outputs: [output], name: this.fresh(`n_${opType}`), attrs, domain });
    return output;
  }

  opN(opType: string, inputs: string[], n: number, attrs: Record<string, AttrValue> = {}): string[] {
    const outputs = Array.from({ length: n }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({ opType, inputs, outputs, name: this.fresh(`n_${opType}`), attrs, domain: '' });
    return outputs;
  }

  // ---- building blocks -------------------------------------------------------------------------------------

  /** y = x · Wᵀ + b for an nn.Linear weight [out, in] (transB), or x · W for a Conv1D weight [in, out]. */
  gemm(x: string, w: string, b: string | null, transB: boolean): string {
    return this.op('Gemm', b ? [x, w, b] : [x, w], { transB: transB ? 1 : 0 });
  }

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }

  layerNorm(x: string, w: string, b: string, eps: number): string {
    return this.op('LayerNormalization', [x, w, b], { axis: -1, epsilon: { float: eps } });
  }

  /** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · w (composed, as transformers computes it). */
  rmsNorm(x: string, w: string, eps: number): string {
    const sq = this.mul(x, x);
    const mean = this.op('ReduceMean', [sq, this.ints([-1])], { keepdims: 1 });
    const rstd = this.op('Reciprocal', [this.op('Sqrt', [this.add(mean, this.scalar(eps))])]);
    return this.mul(this.mul(x, rstd), w);
  }

  activation(x: string, act: string): string {
    switch (act) {
      case 'silu':
      case 'swish':
        return this.mul(x, this.op('Sigmoid', [x]));
      case 'gelu':
        return this.op('Gelu', [x]);
      case 'gelu_new':
      case 'gelu_pytorch_tanh':
      case 'gelu_fast':
        return this.op('Gelu', [x], { approximate: 'tanh' });
      case 'relu':
        return this.op('Relu', [x]);
      default:
        throw new Error(`activation '${act}' is not supported by the engine`);
    }
  }

  reshape(x: string, shape: number[]): string {
    return this.op('Reshape', [x, this.ints(shape)]);
  }

  split(x: string, sizes: number[], axis: number): string[] {
    return this.opN('Split', [x, this.ints(sizes)], sizes.length, { axis });
  }

  slice(x: string, start: number, end: number, axis: number): string {
    return this.op('Slice', [x, this.ints([start]), this.ints([end]), this.ints([axis])]);
  }

  concat(xs: string[], axis: number): string {
    return this.op('Concat', xs, { axis });
  }

  build(): Uint8Array {
    return encodeModel({
      name: this.name,
      opset: OPSET,
      nodes: this.nodes,
      initializers: this.inits,
      inputs: this.inputs,
      outputs: this.outputs,
    });
  }
}
