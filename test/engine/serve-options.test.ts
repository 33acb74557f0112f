/**
 * `serve`'s engine limits (vLLM's names): parsed from flags and the environment with errors naming both, and a
 * real server started with them reports them in /model_info.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it, vi } from 'vitest';
import { engineOptionsFromFlags, registerServe } from '../../src/cli/commands/serve.js';
import { ENGINE_SETTINGS, engineOptionsFromEnv, parseSetting } from '../../src/server/engine-options.js';
import { serve } from '../../src/server/main.js';
import { MODEL_DIR } from './helpers.js';

const setting = (flag: string) => ENGINE_SETTINGS.find((s) => s.flag === flag)!;

describe('engine limits from flags and the environment', () => {
  it('sizes take K/M/G and Ki/Mi/Gi; counts are plain integers; errors name the flag and variable', () => {
    const kv = setting('--kv-cache-memory');
    expect(parseSetting(kv, '2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSetting(kv, '512M')).toBe(512_000_000);
    expect(parseSetting(kv, '1048576')).toBe(1_048_576);
    expect(() => parseSetting(setting('--max-num-seqs'), '2K')).toThrow(
      /--max-num-seqs \(INFERSIM_MAX_NUM_SEQS\) must be an integer from 1 to 1024 \(got '2K'\)/,
    );
    expect(() => parseSetting(setting('--block-size'), '0')).toThrow(/--block-size/);
    expect(() => parseSetting(kv, 'lots')).toThrow(/INFERSIM_KV_CACHE_MEMORY/);
    expect(
      engineOptionsFromEnv({
        INFERSIM_MAX_NUM_SEQS: '32',
        INFERSIM_MAX_NUM_BATCHED_TOKENS: '8192',
        INFERSIM_BLOCK_SIZE: '32',
        INFERSIM_KV_CACHE_MEMORY: '1Gi',
        INFERSIM_MAX_MODEL_LEN: '',
      }),
    ).toEqual({ maxNumSeqs: 32, maxBatchedTokens: 8192, blockSize: 32, kvCacheBytes: 2 ** 30 });
  });

  it('the serve command takes the flags and refuses a bad one by name', async () => {
    const program = new Command().exitOverride();
    registerServe(program);
    const cmd = program.commands[0]!;
    cmd.action(() => undefined);
    await program.parseAsync(
      ['serve', '--max-num-seqs', '16', '--kv-cache-memory', '64MiB', '--block-size', '32'],
      {
        from: 'user',
      },
    );
    expect(engineOptionsFromFlags(cmd.opts())).toEqual({
      maxNumSeqs: 16,
      kvCacheBytes: 64 * 2 ** 20,
      blockSize: 32,
    });
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(program.parseAsync(['serve', '--max-num-seqs', 'many'], { from: 'user' })).rejects.toThrow(
        /--max-num-seqs/,
      );
    } finally {
      err.mockRestore();
    }
  });

  it('a server started with limits (flags over the environment) runs the engine with them', async () => {
    const data = mkdtempSync(join(tmpdir(), 'infersim-serve-'));
    const saved = { ...process.env };
    Object.assign(process.env, {
      INFERSIM_DATA_DIR: data,
      INFERSIM_MAX_NUM_SEQS: '3',
      INFERSIM_BLOCK_SIZE: '8',
    });
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let server: Awaited<ReturnType<typeof serve>> | null = null;
    try {
      // kjv-llama-tiny: 6 layers × 2 (K, V) × 2 KV heads × 32 head dims × 4 bytes = 3,072 bytes per token.
      server = await serve({
        port: 0,
        logger: false,
        model: MODEL_DIR,
        engine: { blockSize: 4, kvCacheBytes: 100 * 4 * 3072 + 5, maxModelLen: 256, maxBatchedTokens: 300 },
      });
      const info = (await (await fetch(`${server.url}/model_info`)).json()) as Record<string, unknown>;
      expect(info).toMatchObject({
        max_num_seqs: 3,
        kv_block_size: 4,
        kv_num_blocks: 100,
        max_model_len: 256,
        max_num_batched_tokens: 300,
      });
      await expect(
        serve({
          port: 0,
          logger: false,
          model: MODEL_DIR,
          engine: { maxModelLen: 256, maxBatchedTokens: 100 },
        }),
      ).rejects.toThrow(/max batched tokens 100 is below the max model length 256/);
    } finally {
      out.mockRestore();
      await server?.close();
      process.env = saved;
      rmSync(data, { recursive: true, force: true });
    }
  });
});
