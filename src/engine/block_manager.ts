/**
 * KV-cache blocks with prefix reuse (after nano-vllm's block_manager): a full block is identified by a hash of its
 * tokens chained with the hash of the block before it, so two prompts that share a prefix share its blocks. Blocks
 * are reference-counted; a freed block keeps its hash and contents until it is handed out again, so a later
 * request with the same prefix still hits. Hits and misses are counted per full block looked up.
 * Under a sliding window, the blocks of a sequence that lie wholly before its window are freed as it grows (as
 * vLLM's SlidingWindowManager does): their entries in the block table become FREED.
 * A sequence under a sparsity mask seeds its chain with the mask (Sequence.cacheSalt), so its blocks only match
 * sequences under the same mask.
 */
import { createHash } from 'node:crypto';
import type { Sequence } from './sequence.js';

export class Block {
  refCount = 0;
  hash: string | null = null;
  tokenIds: number[] = [];
  constructor(readonly id: number) {}
}

/** A block-table entry whose block was freed because it fell out of the sliding window. */
export const FREED = -1;

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

  /** `window`: the model's sliding window (tokens), under which blocks before it are freed; null: none. */
  constructor(
    numBlocks: number,
    readonly blockSize: number,
    readonly window: number | null = null,
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
    let prefix: string | null = seq.cacheSalt;
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

  /**
   * After a step: register the hashes of the sequence's full blocks up to `numComputed` tokens (the chain of hashes
   * is kept on the sequence, so blocks freed from a sliding window still prefix the later ones), then, under a
   * sliding window, free the blocks before the window of the `numComputed` tokens cached (freeOutOfWindow).
   */
  commitFullBlocks(seq: Sequence): void {
    const bs = this.blockSize;
    const full = Math.floor(seq.numComputed / bs);
    for (let i = seq.blockHashes.length; i < full; i++) {
      const id = seq.blockTable[i]!;
      if (id === FREED) throw new Error(`sequence ${seq.id}: block ${i} was freed before it was committed`);
      const b = this.blocks[id]!;
      if (b.hash === null) {
        b.tokenIds = seq.block(i, bs);
        b.hash = blockHash(b.tokenIds, seq.blockHashes[i - 1] ?? seq.cacheSalt);
        this.byHash.set(b.hash, b.id);
      }
      seq.blockHashes.push(b.hash);
    }
    this.freeOutOfWindow(seq, seq.numComputed);
  }

  /**
   * Under a sliding window w, a sequence whose cache holds (or is about to hold) `tokens` tokens keeps positions
   * tokens − w … tokens − 1: the newest token attends to those w, and every later query to later ones. Blocks
   * wholly before them are freed, so a sequence holds the blocks that w tokens span: what core/memory/kv.ts counts.
   */
  freeOutOfWindow(seq: Sequence, tokens: number): number {
    return this.window === null ? 0 : this.freeBefore(seq, tokens - this.window);
  }

  private release(id: number): void {
    const b = this.blocks[id]!;
    if (--b.refCount === 0) this.free.add(b.id);
  }

  deallocate(seq: Sequence): void {
    for (let i = seq.blockTable.length - 1; i >= 0; i--)
      if (seq.blockTable[i] !== FREED) this.release(seq.blockTable[i]!);
    seq.blockTable = [];
    seq.blockHashes = [];
    seq.numComputed = 0;
    seq.numCachedTokens = 0;
  }

  /**
   * Free the sequence's blocks that lie wholly before position `from` (no query from now on attends to them under
   * a sliding window). They keep their hash and contents until handed out again, like any freed block. Returns the
   * number freed.
   */
  freeBefore(seq: Sequence, from: number): number {
    let n = 0;
    const upto = Math.min(Math.floor(from / this.blockSize), seq.blockTable.length);
    for (let i = 0; i < upto; i++) {
      const id = seq.blockTable[i]!;
      if (id === FREED) continue;
      this.release(id);
      seq.blockTable[i] = FREED;
      n++;
    }
    return n;
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
