/**
 * How vLLM V1 turns available memory into KV blocks (vllm/v1/core/kv_cache_utils.py, 0.19):
 * - layers of one attention kind (full, or sliding window w) share a KV spec; with several kinds (hybrid), each
 *   kind is cut into groups of `group_size` layers (the smallest kind's layer count, or the largest when that is
 *   under 1.25x the smallest), and every group uses the same page size, so one block id addresses one page in
 *   each of `group_size` shared tensors;
 * - num_blocks = available // page_size // group_size;
 * - "GPU KV cache size" = num_blocks // number_of_groups x block_size tokens;
 * - "Maximum concurrency" = num_blocks / blocks one max_model_len request needs, summed over the groups: full
 *   attention cdiv(max_model_len, block), sliding window cdiv(min(w - 1 + max_num_batched_tokens,
 *   max_model_len), block) + 1 (the window may start mid-block). Checked against the 0.19 logs: Llama-3.1-8B
 *   29,751 blocks / 512 = 58.11x; gpt-oss-20b TP2 323,972 blocks / (512 + 513) = 316.07x.
 */
import type { KvLayerType } from './common.js';

export interface VllmKvLayout {
  groupSize: number;
  /** KV cache groups (each `groupSize` layers of one kind). */
  numGroups: number;
  pageBytes: number;
  /** Smallest block size in tokens over the groups (what the size line multiplies by). */
  minBlockTokens: number;
  /** Blocks one request of max_model_len tokens needs over all groups. */
  blocksPerRequest: number;
  hybrid: boolean;
}

const cdiv = (a: number, b: number) => Math.ceil(a / b);

export function vllmKvLayout(
  types: readonly KvLayerType[],
  blockSize: number,
  maxModelLen: number,
  maxNumBatchedTokens: number,
): VllmKvLayout | null {
  const live = types.filter((t) => t.layers > 0);
  if (live.length === 0) return null;
  // Kinds with different page sizes get their block size scaled up until the pages match (the largest page).
  const pageBytes = Math.max(...live.map((t) => t.bytesPerTokenLayer * blockSize));
  const counts = live.map((t) => t.layers);
  const minN = Math.min(...counts);
  const maxN = Math.max(...counts);
  const groupSize = live.length === 1 ? maxN : maxN < minN * 1.25 ? maxN : minN;
  let numGroups = 0;
  let blocksPerRequest = 0;
  let minBlockTokens = Infinity;
  for (const t of live) {
    const groups = cdiv(t.layers, groupSize);
    const block = pageBytes / t.bytesPerTokenLayer;
    minBlockTokens = Math.min(minBlockTokens, block);
    const pages =
      t.window === null
        ? cdiv(maxModelLen, block)
        : cdiv(Math.min(t.window - 1 + maxNumBatchedTokens, maxModelLen), block) + 1;
    numGroups += groups;
    blocksPerRequest += groups * pages;
  }
  return { groupSize, numGroups, pageBytes, minBlockTokens, blocksPerRequest, hybrid: live.length > 1 };
}

export interface VllmKvCache {
  numBlocks: number;
  tokens: number;
  concurrency: number;
  /** KV bytes one max_model_len request needs (vLLM's check before it starts). */
  oneRequestBytes: number;
}

export function vllmKvCache(l: VllmKvLayout, availableBytes: number): VllmKvCache {
  return vllmKvFromBlocks(l, Math.max(0, Math.floor(availableBytes / l.pageBytes / l.groupSize)));
}

/** What vLLM prints for a number of blocks: tokens, concurrency, and one request's KV bytes. */
export function vllmKvFromBlocks(l: VllmKvLayout, numBlocks: number): VllmKvCache {
  return {
    numBlocks,
    tokens: Math.floor(numBlocks / l.numGroups) * l.minBlockTokens,
    concurrency: numBlocks / l.blocksPerRequest,
    oneRequestBytes: l.groupSize * l.pageBytes * l.blocksPerRequest,
  };
}
