/**
 * The KV cache storage: per layer one K and one V pool of fixed-size blocks, laid out
 * [block, kv head, slot in block, head dim] in fp32, so one head's keys of one block are contiguous (attention
 * gathers them whole). Which block belongs to which sequence is the block manager's business; this file only knows
 * slots (block · blockSize + offset).
 */
import type { ModelConfig } from './config.js';

export const KV_BYTES_PER_ELEMENT = 4;

export class KvCache {
  readonly k: Float32Array[] = [];
  readonly v: Float32Array[] = [];
  /** Floats per token per layer per K (or V): kv heads · head dim. */
  readonly rowSize: number;
  /** Floats of one head's keys in a block (blockSize · head dim), and of a whole block (blockSize · rowSize). */
  readonly headStride: number;
  readonly blockStride: number;

  constructor(
    readonly config: ModelConfig,
    readonly numBlocks: number,
    readonly blockSize: number,
  ) {
    this.rowSize = config.numKvHeads * config.headDim;
    this.headStride = blockSize * config.headDim;
    this.blockStride = blockSize * this.rowSize;
    for (let l = 0; l < config.numLayers; l++) {
      this.k.push(new Float32Array(numBlocks * blockSize * this.rowSize));
      this.v.push(new Float32Array(numBlocks * blockSize * this.rowSize));
    }
  }

  /** Bytes one token occupies across all layers (K and V). */
  get bytesPerToken(): number {
    return this.config.numLayers * 2 * this.rowSize * KV_BYTES_PER_ELEMENT;
  }

  /** Bytes the pools hold, measured from the arrays themselves. */
  get allocatedBytes(): number {
    let b = 0;
    for (let l = 0; l < this.k.length; l++) b += this.k[l]!.byteLength + this.v[l]!.byteLength;
    return b;
  }

  get capacityTokens(): number {
    return this.numBlocks * this.blockSize;
  }

  /** Slot of position `pos` of a sequence with this block table. */
  slot(blockTable: readonly number[], pos: number): number {
    const b = blockTable[Math.floor(pos / this.blockSize)];
    if (b === undefined || b < 0) throw new Error(`position ${pos} has no block`);
    return b * this.blockSize + (pos % this.blockSize);
  }

  /** Where position `slot`'s key (or value) for KV head 0 starts in a layer's pool; head h is h · headStride on. */
  offset(slot: number): number {
    const bs = this.blockSize;
    return Math.floor(slot / bs) * this.blockStride + (slot % bs) * this.config.headDim;
  }

  /** Write rows of k and v ([tokens, rowSize], heads side by side) for layer `layer` into the given slots. */
  write(layer: number, slots: readonly number[], k: Float32Array, v: Float32Array): void {
    const r = this.rowSize;
    const d = this.config.headDim;
    const kp = this.k[layer]!;
    const vp = this.v[layer]!;
    for (let t = 0; t < slots.length; t++) {
      const base = this.offset(slots[t]!);
      for (let h = 0, src = t * r; h < this.config.numKvHeads; h++, src += d) {
        kp.set(k.subarray(src, src + d), base + h * this.headStride);
        vp.set(v.subarray(src, src + d), base + h * this.headStride);
      }
    }
  }
}
