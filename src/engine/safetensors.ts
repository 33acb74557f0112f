/**
 * safetensors reader: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
 * then the raw tensor bytes. fp32 is taken as is; fp16 and bf16 are widened to fp32 (the engine computes in
 * fp32). Files are read lazily, tensor by tensor (openSafetensors); sharded checkpoints through
 * model.safetensors.index.json's weight_map.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface TensorData {
  shape: number[];
  /** The dtype in the file. */
  dtype: 'F32' | 'F16' | 'BF16';
  /** The values as fp32; read from the file on each access for a lazily opened file (openSafetensors). */
  readonly data: Float32Array;
  /**
   * Where the fp32 bytes lie in the checkpoint (F32 tensors of lazily opened files only): a tensor used as is can
   * be handed to onnxruntime as external data, which it reads from the file itself, with no copy in JavaScript.
   */
  readonly file?: FileRange;
}

/** A byte range of a file. */
export interface FileRange {
  path: string;
  offset: number;
  length: number;
}

export class CheckpointError extends Error {}

const SUPPORTED = new Set(['F32', 'F16', 'BF16']);

/** IEEE half → float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Bytes → fp32: a copy for F32 (the caller's buffer is not kept), widened for F16 and BF16. */
function decode(dtype: string, bytes: Uint8Array, count: number, name: string): Float32Array {
  const out = new Float32Array(count);
  if (bytes.byteLength !== count * (dtype === 'F32' ? 4 : 2))
    throw new CheckpointError(`tensor ${name}: byte size does not match shape`);
  if (dtype === 'F32') {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const u16 = new Uint16Array(count);
  new Uint8Array(u16.buffer).set(bytes);
  widen(dtype, u16, out);
  return out;
}

function widen(dtype: string, u16: Uint16Array, out: Float32Array): void {
  if (dtype === 'BF16') {
    const u32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < u16.length; i++) u32[i] = u16[i]! << 16;
  } else for (let i = 0; i < u16.length; i++) out[i] = halfToFloat(u16[i]!);
}

interface Entry {
  name: string;
  dtype: TensorData['dtype'];
  shape: number[];
  count: number;
  /** Byte range in the file. */
  start: number;
  end: number;
}

/** The tensors a header lists, checked against the file's size. */
function parseHeader(headerBytes: Uint8Array, headerLen: number, size: number, file: string): Entry[] {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(headerBytes));
  } catch {
    throw new CheckpointError(`${file}: header is not valid JSON`);
  }
  const base = 8 + headerLen;
  const out: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const info = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const { dtype, shape, data_offsets: off } = info;
    if (!dtype || !SUPPORTED.has(dtype))
      throw new CheckpointError(
        `${file}: tensor ${name} has dtype ${dtype}; the engine reads F32, F16 and BF16`,
      );
    if (!Array.isArray(shape) || !Array.isArray(off) || off.length !== 2)
      throw new CheckpointError(`${file}: tensor ${name} lacks shape or data_offsets`);
    if (base + off[1] > size || off[0] > off[1])
      throw new CheckpointError(`${file}: tensor ${name} lies outside the file`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (off[1] - off[0] !== count * (dtype === 'F32' ? 4 : 2))
      throw new CheckpointError(`tensor ${name}: byte size does not match shape`);
    out.push({
      name,
      dtype: dtype as Entry['dtype'],
      shape,
      count,
      start: base + off[0],
      end: base + off[1],
    });
  }
  return out;
}

function headerLength(first8: Uint8Array, size: number, file: string): number {
  if (size < 8) throw new CheckpointError(`${file}: too short to be a safetensors file`);
  const headerLen = Number(new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true));
  if (headerLen <= 0 || 8 + headerLen > size) throw new CheckpointError(`${file}: bad header length`);
  return headerLen;
}

/** Parse one .safetensors buffer (every tensor decoded now). */
export function parseSafetensors(buf: Uint8Array, file = 'safetensors'): Map<string, TensorData> {
  const headerLen = headerLength(buf, buf.byteLength, file);
  const out = new Map<string, TensorData>();
  for (const e of parseHeader(buf.subarray(8, 8 + headerLen), headerLen, buf.byteLength, file))
    out.set(e.name, {
      shape: e.shape,
      dtype: e.dtype,
      data: decode(e.dtype, buf.subarray(e.start, e.end), e.count, e.name),
    });
  return out;
}

function readAt(fd: number, into: Uint8Array, position: number): void {
  for (let done = 0; done < into.byteLength;) {
    const n = readSync(fd, into, done, into.byteLength - done, position + done);
    if (n === 0) throw new CheckpointError('safetensors file ended early');
    done += n;
  }
}

/**
 * One .safetensors file, read lazily: only the header now; each tensor's `data` is read from the file when asked
 * for, straight into the fp32 array returned (F32: no intermediate copy; F16/BF16: a half-size one to widen), and
 * not kept. Loading builds the runtime's copy layer by layer, so the process never holds the whole file as well
 * (what a memory map gives, which Node lacks). Each access reads again: keep the array if it is used repeatedly.
 */
export function openSafetensors(path: string, file = basename(path)): Map<string, TensorData> {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  let entries: Entry[];
  try {
    const first8 = new Uint8Array(8);
    if (size >= 8) readAt(fd, first8, 0);
    const headerLen = headerLength(first8, size, file);
    const header = new Uint8Array(headerLen);
    readAt(fd, header, 8);
    entries = parseHeader(header, headerLen, size, file);
  } finally {
    closeSync(fd);
  }
  // The file's real path (a Hugging Face cache links snapshot files to blobs): onnxruntime resolves links and
  // refuses external data outside the folder it is given.
  const real = realpathSync(path);
  const out = new Map<string, TensorData>();
  for (const e of entries)
    out.set(e.name, {
      shape: e.shape,
      dtype: e.dtype,
      ...(e.dtype === 'F32' ? { file: { path: real, offset: e.start, length: e.end - e.start } } : {}),
      get data(): Float32Array {
        const fd = openSync(path, 'r');
        try {
          const out = new Float32Array(e.count);
          if (e.dtype === 'F32') readAt(fd, new Uint8Array(out.buffer), e.start);
          else {
            const u16 = new Uint16Array(e.count);
            readAt(fd, new Uint8Array(u16.buffer), e.start);
            widen(e.dtype, u16, out);
          }
          return out;
        } finally {
          closeSync(fd);
        }
      },
    });
  return out;
}

/** Every tensor of a checkpoint directory (read lazily): model.safetensors or the shards named by the index. */
export function readCheckpoint(dir: string): Map<string, TensorData> {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(single)) return openSafetensors(single, 'model.safetensors');
  if (!existsSync(index))
    throw new CheckpointError(`${dir}: no model.safetensors or model.safetensors.index.json`);
  const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map;
  if (!map) throw new CheckpointError(`${index}: no weight_map`);
  const out = new Map<string, TensorData>();
  for (const shard of [...new Set(Object.values(map))].sort()) {
    if (shard.includes('/') || shard.includes('..')) throw new CheckpointError(`bad shard name ${shard}`);
    for (const [k, v] of openSafetensors(join(dir, shard), shard)) out.set(k, v);
  }
  for (const name of Object.keys(map))
    if (!out.has(name)) throw new CheckpointError(`${index}: tensor ${name} is not in its shard`);
  return out;
}

/** Write tensors as one safetensors buffer (fp32, or fp16/bf16 by rounding); used by tests and scripts. */
export function writeSafetensors(
  tensors: Record<string, { shape: number[]; data: Float32Array }>,
  dtype: 'F32' | 'F16' | 'BF16' = 'F32',
): Uint8Array {
  const width = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = {};
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const n of names) {
    const bytes = tensors[n]!.data.length * width;
    header[n] = { dtype, shape: tensors[n]!.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8) json += ' ';
  const hdr = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hdr.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hdr.length), true);
  out.set(hdr, 8);
  let p = 8 + hdr.length;
  for (const n of names) {
    const d = tensors[n]!.data;
    if (dtype === 'F32') out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    else {
      const dv = new DataView(out.buffer, p, d.length * 2);
      for (let i = 0; i < d.length; i++)
        dv.setUint16(i * 2, dtype === 'BF16' ? toBf16(d[i]!) : toHalf(d[i]!), true);
    }
    p += d.length * width;
  }
  return out;
}

function toBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  return ((u + 0x7fff + ((u >> 16) & 1)) >>> 16) & 0xffff;
}

function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const e = ((u >>> 23) & 0xff) - 127 + 15;
  let m = u & 0x7fffff;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    m = (m | 0x800000) >> (1 - e);
    return sign | ((m + 0x1000) >> 13);
  }
  const h = sign | (e << 10) | (m >> 13);
  return (m & 0x1000) !== 0 ? h + 1 : h;
}
