/**
 * vLLM V1's block arithmetic (src/core/memory/engines/vllm-kv.ts) and the version and vocabulary helpers of
 * engines/common.ts, on layouts worked out by hand from vllm/v1/core/kv_cache_utils.py's rules (quoted in
 * vllm-kv.ts) and on the 0.19 log lines of shared/reference/calibration/vllm-logs.json R01.
 */
import { describe, expect, it } from 'vitest';
import { paddedVocab, parseVersion, versionAtLeast } from '../../src/core/memory/engines/common.js';
import { vllmKvCache, vllmKvFromBlocks, vllmKvLayout } from '../../src/core/memory/engines/vllm-kv.js';

describe('vLLM KV layout', () => {
  it('one kind of layer (Llama-3.1-8B, R01): 32 layers share a 64 KiB page; 29,751 blocks print 476,016 tokens', () => {
    // 2 · 8 KV heads · 128 · 2 B = 4,096 B per token and layer; page 16 tokens · 4,096 = 65,536.
    const l = vllmKvLayout([{ bytesPerTokenLayer: 4096, window: null, layers: 32 }], 16, 8192, 8192)!;
    expect(l).toEqual({
      groupSize: 32,
      numGroups: 1,
      pageBytes: 65_536,
      minBlockTokens: 16,
      blocksPerRequest: 512, // cdiv(8192, 16)
      hybrid: false,
    });
    const kv = vllmKvFromBlocks(l, 29_751);
    expect(kv.tokens).toBe(476_016); // R01: "GPU KV cache size: 476,016 tokens"
    expect(kv.concurrency.toFixed(2)).toBe('58.11'); // R01: "58.11x"
    expect(kv.oneRequestBytes).toBe(32 * 65_536 * 512); // 1 GiB
    // A block is page · group size = 2 MiB: one byte short of 29,752 blocks gives 29,751; nothing left, none.
    expect(vllmKvCache(l, 29_752 * 2 ** 21 - 1).numBlocks).toBe(29_751);
    expect(vllmKvCache(l, -5).numBlocks).toBe(0);
  });

  it('hybrid 10 full + 30 sliding (w = 1024) layers: groups of 10, 4 groups', () => {
    // 30 ≥ 1.25 · 10, so the group size is the smaller count, 10: 1 full group + 3 sliding groups.
    // A request of 8192 tokens (2048 batched): full cdiv(8192, 16) = 512 pages; sliding
    // cdiv(min(1023 + 2048, 8192), 16) + 1 = 192 + 1 = 193 per group. 512 + 3 · 193 = 1,091.
    const l = vllmKvLayout(
      [
        { bytesPerTokenLayer: 4096, window: null, layers: 10 },
        { bytesPerTokenLayer: 4096, window: 1024, layers: 30 },
      ],
      16,
      8192,
      2048,
    )!;
    expect(l).toMatchObject({ groupSize: 10, numGroups: 4, blocksPerRequest: 1091, hybrid: true });
    // Tokens: blocks per group (4,000 / 4 = 1,000) · 16.
    expect(vllmKvFromBlocks(l, 4000).tokens).toBe(16_000);
  });

  it('counts within 1.25x take the larger count as the group size (10 and 12 → 12, one group each)', () => {
    const l = vllmKvLayout(
      [
        { bytesPerTokenLayer: 4096, window: null, layers: 10 },
        { bytesPerTokenLayer: 4096, window: 4096, layers: 12 },
      ],
      16,
      8192,
      8192,
    )!;
    expect(l).toMatchObject({ groupSize: 12, numGroups: 2 });
  });

  it('pages of different sizes are matched by scaling the smaller kind’s block (2 KiB/token → 32 tokens)', () => {
    const l = vllmKvLayout(
      [
        { bytesPerTokenLayer: 4096, window: null, layers: 4 },
        { bytesPerTokenLayer: 2048, window: null, layers: 4 },
      ],
      16,
      1024,
      1024,
    )!;
    // Page max(4096, 2048) · 16 = 65,536; the second kind fits 32 tokens a page. Pages per request: 1024/16 +
    // 1024/32 = 64 + 32 = 96; the size line multiplies by the smallest block, 16.
    expect(l).toMatchObject({ pageBytes: 65_536, minBlockTokens: 16, blocksPerRequest: 96, groupSize: 4 });
    expect(vllmKvLayout([{ bytesPerTokenLayer: 4096, window: null, layers: 0 }], 16, 1024, 1024)).toBeNull();
  });
});

describe('engine versions and vocabulary padding', () => {
  it('parseVersion reads major.minor.patch, a leading v, missing parts as 0', () => {
    expect(parseVersion('0.19.0')).toEqual([0, 19, 0]);
    expect(parseVersion(' v0.9 ')).toEqual([0, 9, 0]);
    expect(parseVersion('1')).toEqual([1, 0, 0]);
    expect(parseVersion('0.10.1rc2')).toEqual([0, 10, 1]);
    expect(parseVersion('latest')).toBeNull();
  });
  it('versionAtLeast compares component by component', () => {
    expect(versionAtLeast([0, 19, 0], [0, 9, 0])).toBe(true);
    expect(versionAtLeast([0, 8, 5], [0, 9, 0])).toBe(false);
    expect(versionAtLeast([0, 9, 0], [0, 9, 0])).toBe(true);
    expect(versionAtLeast([0, 9, 0], [0, 9, 1])).toBe(false);
    expect(versionAtLeast([1, 0, 0], [0, 19, 0])).toBe(true);
  });
  it('vocabulary padded to a multiple of 64: GPT-2 50,257 → 50,304; Llama-3 128,256 stays', () => {
    expect(paddedVocab(50_257)).toBe(50_304);
    expect(paddedVocab(128_256)).toBe(128_256);
    expect(paddedVocab(32_001, 128)).toBe(32_128);
  });
});
