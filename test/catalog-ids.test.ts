/**
 * The repo ids people type resolve to a catalog entry with a real config.json: the ids named in issue 12 (the
 * deployments behind shared/reference/calibration/vllm-logs.json), every model_path of the serving benchmarks
 * (shared/reference/serving/measured.csv), and quantised releases whose format `--precision auto` must see.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalog, expandModelFile, modelSpec } from '../src/catalog/index.js';
import { countParameters } from '../src/core/arch/index.js';
import { modelFile } from '../src/catalog/schema.js';
import { getFormat } from '../src/core/numerics/formats.js';
import { REFERENCE } from './helpers.js';

const resolves = (id: string) => catalog().models.find(id)?.id ?? null;

/** Ids named in issue 12, as its deployments' logs spell them (the lookup ignores case). */
const ISSUE_IDS = [
  'meta-llama/Llama-3.1-8B-Instruct',
  'Qwen/Qwen2.5-7B-Instruct',
  'Qwen/Qwen2-7B-Instruct',
  'deepseek-ai/DeepSeek-V2-Lite-Chat',
  'google/gemma-2-27b-it',
  'ibm-granite/granite-3.1-8b-instruct',
  'mistralai/Mixtral-8x7B-Instruct-v0.1',
  'RedHatAI/Llama-3.3-70B-Instruct-fp8-dynamic',
  'Qwen/Qwen2.5-72B-Instruct',
  'RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16',
  'meta-llama/Llama-3.1-70B',
  'meta-llama/Llama-3.1-405B-Instruct',
  'meta-llama/Llama-4-Maverick-17B-128E-Instruct',
  'meta-llama/Llama-4-Scout-17B-16E-Instruct',
];

describe('repo ids of issue 12', () => {
  it('every id named in the issue and in vllm-logs.json resolves, case-insensitively', () => {
    const logs = JSON.parse(readFileSync(join(REFERENCE, 'calibration', 'vllm-logs.json'), 'utf8')) as {
      records: { model: string }[];
    };
    const ids = [...new Set([...ISSUE_IDS, ...logs.records.map((r) => r.model)])];
    expect(ids.filter((id) => !resolves(id))).toEqual([]);
    expect(resolves('redhatai/llama-3.3-70b-instruct-FP8-DYNAMIC')).toBe(
      'RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic',
    );
  });

  it('quantised releases carry their format to --precision auto', () => {
    // The vLLM 0.19 logs name the method: compressed-tensors W8A8Fp8 (R13), gptq_marlin (R16), mxfp4 (R15).
    const fmt = (id: string) => modelSpec(catalog().models.get(id)).checkpointQuant?.format ?? null;
    expect(fmt('RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic')).toBe('fp8');
    expect(fmt('RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16')).toBe('gptq-int4-g128');
    expect(fmt('RedHatAI/Qwen2.5-7B-Instruct-quantized.w8a8')).toBe('int8');
    expect(fmt('openai/gpt-oss-20b')).toBe('mxfp4');
    expect(fmt('meta-llama/Llama-3.1-8B-Instruct')).toBeNull();
  });

  it('a bare repo name means the publisher, not a re-upload', () => {
    expect(resolves('Llama-3.1-8B-Instruct')).toBe('meta-llama/Llama-3.1-8B-Instruct');
    expect(resolves('Meta-Llama-3.1-8B-Instruct')).toBe('meta-llama/Llama-3.1-8B-Instruct');
  });
});

/** JSON with object keys sorted: two configs are the same config.json when this text is equal. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

describe('catalog entries', () => {
  it('at least 300 repo ids over at least 120 distinct config.json files, each with its source', () => {
    const items = catalog().models.items;
    expect(items.length).toBeGreaterThanOrEqual(300);
    expect(new Set(items.map((e) => canonical(e.config))).size).toBeGreaterThanOrEqual(120);
    expect(new Set(items.map((e) => e.id.toLowerCase())).size).toBe(items.length);
    expect(items.filter((e) => e.source.trim().length < 10).map((e) => e.id)).toEqual([]);
  });

  it('entries added for issue 12 count the parameters the Hub publishes for them', () => {
    // Safetensors totals as the Hugging Face model pages print them (bf16 checkpoints, tied heads once).
    const published: Record<string, number> = {
      'mistralai/Mistral-Small-24B-Instruct-2501': 23_572_403_200,
      'mistralai/Ministral-8B-Instruct-2410': 8_019_808_256,
      'mistralai/Mistral-Nemo-Instruct-2407': 12_247_782_400,
      'mistralai/Mistral-Large-Instruct-2407': 122_610_069_504,
      'google/gemma-3-270m': 268_098_176,
      'microsoft/Phi-3-medium-4k-instruct': 13_960_238_080,
      'ibm-granite/granite-3.3-2b-instruct': 2_533_539_840,
      'allenai/OLMo-2-0425-1B': 1_484_916_736,
      'allenai/OLMo-2-0325-32B': 32_234_279_936,
      'HuggingFaceTB/SmolLM2-135M': 134_515_008,
      'HuggingFaceTB/SmolLM2-1.7B': 1_711_376_384,
      'Qwen/Qwen3-Coder-480B-A35B-Instruct': 480_154_875_392,
      'Qwen/Qwen3-4B-Instruct-2507': 4_022_468_096,
      'Qwen/Qwen3-30B-A3B-Instruct-2507': 30_532_122_624,
      'Qwen/Qwen2-7B-Instruct': 7_615_616_512,
      'codellama/CodeLlama-13b-hf': 13_016_028_160,
      'codellama/CodeLlama-34b-hf': 33_743_970_304,
    };
    const counted = Object.fromEntries(
      Object.keys(published).map((id) => [id, countParameters(modelSpec(catalog().models.get(id))).total]),
    );
    expect(counted).toEqual(published);
  });

  it('every quantised entry names a storage format core/numerics knows', () => {
    const unknown = catalog()
      .models.items.map((e) => [e.id, modelSpec(e).checkpointQuant?.format] as const)
      .filter(([, f]) => f !== undefined && !getFormat(f));
    expect(unknown).toEqual([]);
  });

  it('a variant is its file config with config_changes applied and config_removed dropped', () => {
    const f = modelFile.parse({
      id: 'org/base',
      name: 'Base',
      author: 'org',
      family: 'llama',
      source: 's',
      completeness: 'verbatim',
      config: { a: 1, b: 2, c: 3 },
      variants: [
        {
          id: 'other/base-q',
          source: 't',
          completeness: 'reconstructed',
          config_changes: { b: 20, d: 4 },
          config_removed: ['c'],
        },
      ],
    });
    const [base, v] = expandModelFile({ ...f, gated: true, release_date: '2024-01' });
    expect(base!.config).toEqual({ a: 1, b: 2, c: 3 });
    expect(v).toMatchObject({
      id: 'other/base-q',
      author: 'other',
      variant_of: 'org/base',
      source: 't',
      completeness: 'reconstructed',
      config: { a: 1, b: 20, d: 4 },
    });
    // A re-upload by another org is neither gated like the original nor released on its date.
    expect(base!.gated).toBe(true);
    expect(v!.gated).toBeUndefined();
    expect(v!.release_date).toBeUndefined();
    expect(() =>
      modelFile.parse({ ...f, variants: [{ id: 'x/y', source: 's', completeness: 'verbatim', config: {} }] }),
    ).toThrow();
  });
});

/**
 * Every model_path of the serving benchmarks. Most of these (MiniMax-M2.5, Qwen3.5-397B-A17B, DeepSeek-R1,
 * Kimi-K2.5, GLM-5, nvidia's DeepSeek NVFP4 releases) come with the new architectures of the `arch` branch: this
 * test fails on the catalog branch alone until that branch is merged.
 */
describe('serving benchmark models', () => {
  it('every model_path of measured.csv resolves', () => {
    const csv = readFileSync(join(REFERENCE, 'serving', 'measured.csv'), 'utf8').split('\n');
    const header = csv[0]!.split(',');
    const col = header.indexOf('model_path');
    expect(col).toBeGreaterThanOrEqual(0);
    const paths = new Set<string>();
    for (const line of csv.slice(1)) {
      if (!line.trim()) continue;
      // model_path holds no commas; fields before it may be quoted, so count from a simple split only up to it.
      const cells = line.split(',');
      paths.add(cells[col]!);
    }
    expect(paths.size).toBeGreaterThan(5);
    expect([...paths].filter((p) => !resolves(p)).sort()).toEqual([]);
  });
});
