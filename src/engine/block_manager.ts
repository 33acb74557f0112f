/**
 * KV-cache blocks with prefix reuse (after nano-vllm's block_manager): a full block is identified by a hash of its
 * tokens chained with the hash of the block before it, so two prompts that share a prefix share its blocks. Blocks
 * are reference-counted; a freed block keeps its hash and contents until it is handed out again, so a later
 * request with the same prefix still hits. Hits and misses are counted per full block looked up.
 */
import { createHash } from 'node:crypto';
import type { Sequence } from './sequence.js';

export class Block {
  refCount = 0;
  hash: string | null = null;
  tokenIds: number[] = [];
  constructor(readonly id: number) {}
}

export interface CacheStats {
  hits: number;
  misses: number;
  hitTokens: number;
  lookups: number;
  hitRate: number;
}

export function blockHash(tokens: readonly number[], prefix: string | null): string {
  const h = createHash('sha256');
  if (prefix) h.update(prefix);
  h.update(new Uint8Array(new Int32Array(tokens).buffer));
  return h.digest('hex');
}

export class BlockManager {
  readonly blocks: Block[];
  /** Free block ids, least recently freed first. */
  private free: Set<number>;
  private byHash = new Map<string, number>();
  hits = 0;
  misses = 0;
  hitTokens = 0;

  constructor(
    numBlocks: number,
    readonly blockSize: number,
  ) {
    this.blocks = Array.from({ length: numBlocks }, (_, i) => new Block(i));
    this.free = new Set(this.blocks.map((b) => b.id));
  }

  get numFree(): number {
    return this.free.size;
  }

  get numUsed(): number {
    return this.blocks.length - this.free.size;
  }

  private take(id?: number): Block {
    const bid = id ?? this.free.values().next().value;
    if (bid === undefined) throw new Error('out of KV-cache blocks');
    const b = this.blocks[bid]!;
    this.free.delete(bid);
    if (id === undefined && b.hash !== null) {
      if (this.byHash.get(b.hash) === bid) this.byHash.delete(b.hash);
      b.hash = null;
      b.tokenIds = [];
    }
    b.refCount = 1;
    return b;
  }

  canAllocate(seq: Sequence): boolean {
    return this.free.size >= seq.numBlocks(this.blockSize);
  }

  /**
   * Give a waiting sequence its blocks, reusing cached full blocks of its prefix. The block holding the last token
   * is never taken from the cache, so at least one token is computed and yields logits.
   */
  allocate(seq: Sequence): void {
    if (seq.blockTable.length) throw new Error(`sequence ${seq.id} already has blocks`);
    const bs = this.blockSize;
    let prefix: string | null = null;
    let missed = false;
    seq.numCachedTokens = 0;
    for (let i = 0; i < seq.numBlocks(bs); i++) {
      const tokens = seq.block(i, bs);
      const lookup = tokens.length === bs && (i + 1) * bs < seq.length;
      const hash: string | null = tokens.length === bs ? blockHash(tokens, prefix) : null;
      let hitId: number | undefined;
      if (lookup && !missed && hash) {
        const id = this.byHash.get(hash);
        const b = id === undefined ? undefined : this.blocks[id];
        if (b && b.tokenIds.length === bs && b.tokenIds.every((t, j) => t === tokens[j])) hitId = id;
      }
      if (lookup) {
        if (hitId === undefined) {
          missed = true;
          this.misses++;
        } else {
          this.hits++;
          this.hitTokens += bs;
        }
      }
      let block: Block;
      if (hitId !== undefined) {
        block = this.blocks[hitId]!;
        if (this.free.has(hitId)) this.take(hitId);
        else block.refCount++;
        seq.numCachedTokens += bs;
      } else {
        block = this.take();
      }
      seq.blockTable.push(block.id);
      prefix = hash;
    }
    seq.numComputed = seq.numCachedTokens;
  }

  /** Register the hashes of the sequence's full blocks up to `numComputed` tokens (after they are computed). */
  commitFullBlocks(seq: Sequence): void {
    const bs = this.blockSize;
    let prefix: string | null = null;
    const full = Math.floor(seq.numComputed / bs);
    for (let i = 0; i < full; i++) {
      const b = this.blocks[seq.blockTable[i]!]!;
      if (b.hash === null) {
        b.tokenIds = seq.block(i, bs);
        b.hash = blockHash(b.tokenIds, prefix);
        this.byHash.set(b.hash, b.id);
      }
      prefix = b.hash;
    }
  }

  deallocate(seq: Sequence): void {
    for (let i = seq.blockTable.length - 1; i >= 0; i--) {
      const b = this.blocks[seq.blockTable[i]!]!;
      if (--b.refCount === 0) this.free.add(b.id);
    }
    seq.blockTable = [];
    seq.numComputed = 0;
    seq.numCachedTokens = 0;
  }

  /** Whether the sequence can grow by one token (a new block is needed when its length fills the last one). */
  canAppend(seq: Sequence): boolean {
    return seq.length <= seq.blockTable.length * this.blockSize || this.free.size >= 1;
  }

  /** Make room for the sequence's newest token. */
  mayAppend(seq: Sequence): void {
    if (seq.length > seq.blockTable.length * this.blockSize) seq.blockTable.push(this.take().id);
  }

  /** Forget every cached hash (blocks in use keep their contents) and reset the statistics. */
  clear(): number {
    let dropped = 0;
    for (const b of this.blocks) {
      if (b.hash !== null && b.refCount === 0) dropped++;
      if (b.refCount === 0) {
        b.hash = null;
        b.tokenIds = [];
      }
    }
    this.byHash.clear();
    for (const b of this.blocks) if (b.hash !== null) this.byHash.set(b.hash, b.id);
    this.hits = this.misses = this.hitTokens = 0;
    return dropped;
  }

  stats(): CacheStats {
    const lookups = this.hits + this.misses;
    return {
      hits: this.hits,
      misses: this.misses,
      hitTokens: this.hitTokens,
      lookups,
      hitRate: lookups ? this.hits / lookups : 0,
    };
  }

  get cachedBlocks(): number {
    return this.byHash.size;
  }
}
