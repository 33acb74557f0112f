/**
 * A minimal protobuf writer for the ONNX messages the engine builds (ModelProto, GraphProto, NodeProto,
 * TensorProto, ValueInfoProto, AttributeProto). Field numbers follow onnx/onnx.proto; only what the graph
 * builder emits is encoded. Weights go in TensorProto.raw_data (little-endian), as ONNX prescribes, or are
 * referenced as external data (a file, an offset and a length) that onnxruntime reads itself.
 */

/** Growable byte buffer with protobuf wire-format primitives. */
export class ProtoWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.len++] = Number(x);
    return this;
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): this {
    this.tag(field, 0);
    return this.varint(v);
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, v, true);
    this.len += 4;
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

export type AttrValue = number | string | number[] | { floats: number[] } | { float: number };

export interface NodeDef {
  opType: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attrs: Record<string, AttrValue>;
  domain: string;
}

export interface InitializerDef {
  name: string;
  dims: readonly number[];
  dataType: DataTypeId;
  /** The bytes, in the model (raw_data) … */
  raw?: Uint8Array;
  /** … or in a file beside it (external data: onnxruntime reads them itself). `location` is relative. */
  external?: { location: string; offset: number; length: number };
}

export interface ValueDef {
  name: string;
  dataType: DataTypeId;
  /** Numbers are fixed sizes, strings symbolic dimensions. */
  shape: readonly (number | string)[];
}

export interface ModelDef {
  name: string;
  opset: number;
  nodes: NodeDef[];
  initializers: InitializerDef[];
  inputs: ValueDef[];
  outputs: ValueDef[];
}

const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

function writeAttr(w: ProtoWriter, name: string, v: AttrValue): void {
  w.string(1, name);
  if (typeof v === 'number') {
    w.int(3, v).int(20, ATTR_INT);
  } else if (typeof v === 'string') {
    w.string(4, v).int(20, ATTR_STRING);
  } else if (Array.isArray(v)) {
    for (const x of v) w.int(8, x);
    w.int(20, ATTR_INTS);
  } else if ('floats' in v) {
    for (const x of v.floats) w.float(7, x);
    w.int(20, ATTR_FLOATS);
  } else {
    w.float(2, v.float).int(20, ATTR_FLOAT);
  }
}

function writeValueInfo(w: ProtoWriter, v: ValueDef): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.dataType);
      tensor.message(2, (shape) => {
        for (const d of v.shape)
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

/** Serialise a model definition to ONNX ModelProto bytes. */
export function encodeModel(m: ModelDef): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, 8); // ir_version 8
  w.string(2, 'infersim');
  w.message(7, (g) => {
    for (const n of m.nodes) {
      g.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i);
        for (const o of n.outputs) nw.string(2, o);
        nw.string(3, n.name);
        nw.string(4, n.opType);
        for (const [k, v] of Object.entries(n.attrs)) nw.message(5, (a) => writeAttr(a, k, v));
        if (n.domain) nw.string(7, n.domain);
      });
    }
    g.string(2, m.name);
    for (const t of m.initializers) {
      g.message(5, (tw) => {
        for (const d of t.dims) tw.int(1, d);
        tw.int(2, t.dataType);
        tw.string(8, t.name);
        if (t.external) {
          const e = t.external;
          for (const [k, v] of [
            ['location', e.location],
            ['offset', String(e.offset)],
            ['length', String(e.length)],
          ] as const)
            tw.message(13, (kv) => kv.string(1, k).string(2, v));
          tw.int(14, 1); // data_location: EXTERNAL
        } else tw.bytes(9, t.raw ?? new Uint8Array(0));
      });
    }
    for (const v of m.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of m.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (o) => o.string(1, '').int(2, m.opset));
  w.message(8, (o) => o.string(1, 'com.microsoft').int(2, 1));
  return w.finish();
}
