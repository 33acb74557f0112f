/** The row → simulation mapping of measured-serving rows (src/validation/serving-rows.ts), checked field by field. */
import { describe, expect, it } from 'vitest';
import { RowError, rowConcurrency, rowInput } from '../../src/validation/serving-rows.js';

const src = (c: number) => `db-dump/2026-04-27; config_id=1; silicon_concurrency=${c}; measured=2026-04-17`;

const aggQwen = {
  id: 'a',
  silicon_data_source: src(64),
  backend: 'vllm',
  model_path: 'Qwen/Qwen3-32B',
  system: 'h100_sxm',
  precision: 'fp8',
  mode: 'agg',
  isl: '1024',
  osl: '512',
  gemm_quant_mode: 'fp8',
  moe_quant_mode: '',
  batch_size: '64',
  tp_size: '2',
  pp_size: '1',
  attention_dp_size: '1',
  moe_tp_size: '2',
  moe_ep_size: '1',
};

const aggR1 = {
  ...aggQwen,
  silicon_data_source: src(1024),
  backend: 'trtllm',
  model_path: 'deepseek-ai/DeepSeek-R1',
  system: 'b200_sxm',
  precision: 'fp4',
  gemm_quant_mode: 'nvfp4',
  moe_quant_mode: 'nvfp4',
  tp_size: '1',
  attention_dp_size: '8',
  moe_tp_size: '1',
  moe_ep_size: '8',
};

describe('row → simulation', () => {
  it('agg, dense: users, waves, formats, plan', () => {
    const i = rowInput(aggQwen);
    expect(i.engine).toBe('vllm');
    expect(i.hw.id).toBe('h100-sxm-80gb');
    expect(i.links?.devicesPerNode).toBe(8); // DGX H100
    expect(i.precision).toBe('fp8');
    expect(i.kvPrecision).toBe('fp8'); // FP8 weights: an FP8 KV cache on every engine, as measured.ts reads it
    const bf16 = rowInput({ ...aggQwen, gemm_quant_mode: '', moe_quant_mode: '', precision: 'bf16' });
    expect([bf16.precision, bf16.kvPrecision]).toEqual(['bf16', 'bf16']);
    expect(i.agg).toEqual({
      plan: { tp: 2, pp: 1, attentionDp: 1, moeTp: 2, moeEp: 1 },
      workers: 1,
      simulatedRanks: 1,
    });
    expect(i.workload).toMatchObject({ kind: 'closed', users: 64, numRequests: 192 });
    expect(i.warmup).toBe(64);
    expect(i.batchScale).toBe(1);
  });

  it('agg, MoE with attention DP: one rank of the 8 simulated; R1 has V3 architecture; FP4 with FP8 KV', () => {
    const i = rowInput(aggR1);
    expect(i.spec.groups.some((g) => g.mlp?.kind === 'moe')).toBe(true);
    expect(i.precision).toBe('nvfp4');
    expect(i.kvPrecision).toBe('fp8');
    expect(i.agg!.plan).toEqual({ tp: 1, pp: 1, attentionDp: 8, moeTp: 1, moeEp: 8 });
    expect(i.workload).toMatchObject({ users: 128 }); // 1024 / 8 ranks
    // 4096 users: 512 per rank, simulated as 256 standing for 2 each
    const j = rowInput({ ...aggR1, silicon_data_source: src(4096) });
    expect(j.workload).toMatchObject({ users: 256, numRequests: 768 });
    expect(j.batchScale).toBe(2);
  });

  it('a tp the heads cannot be split by is one attention-DP rank per GPU', () => {
    const i = rowInput({
      ...aggR1,
      backend: 'sglang',
      mode: 'disagg',
      silicon_data_source: src(4800),
      tp_size: '',
      attention_dp_size: '',
      prefill_num_workers: '3',
      prefill_tp_size: '4',
      prefill_pp_size: '1',
      prefill_attention_dp_size: '1',
      prefill_moe_tp_size: '1',
      prefill_moe_ep_size: '4',
      decode_num_workers: '1',
      decode_tp_size: '48',
      decode_pp_size: '1',
      decode_attention_dp_size: '1',
      decode_moe_tp_size: '12',
      decode_moe_ep_size: '4',
    });
    expect(i.disagg!.decode.plan).toEqual({ tp: 1, pp: 1, attentionDp: 48, moeTp: 12, moeEp: 4 });
    // 3 prefill ranks for 48 decode ranks: 16 decode ranks' users (100 each) share one prefill rank
    expect(i.disagg!.prefill).toMatchObject({ workers: 1, simulatedRanks: 1 });
    expect(i.disagg!.decode).toMatchObject({ workers: 1, simulatedRanks: 16 });
    // 4800 users over 48 decode ranks: 100 each; 16 ranks' 1600 users exceed 256, so 7 stand-ins each:
    // round(1600 / 7) = 229 simulated users
    expect(i.workload).toMatchObject({ users: 229, numRequests: 687 });
    expect(i.warmup).toBe(229);
    expect(i.batchScale).toBe(7);
  });

  it('unstated decode workers of an MoE model with EP: attention DP over the worker, ≤ 256 users a rank', () => {
    const row = {
      ...aggR1,
      mode: 'disagg',
      silicon_data_source: src(4096),
      tp_size: '',
      attention_dp_size: '',
      prefill_num_workers: '',
      prefill_tp_size: '8',
      prefill_attention_dp_size: '1',
      prefill_moe_tp_size: '1',
      prefill_moe_ep_size: '8',
      decode_num_workers: '',
      decode_tp_size: '8',
      decode_attention_dp_size: '1',
      decode_moe_tp_size: '1',
      decode_moe_ep_size: '8',
    };
    const i = rowInput(row);
    // tp8 ep8 read as the wide-EP recipe: 8 attention-DP ranks of tp 1, the experts over the same 8 GPUs
    expect(i.disagg!.decode.plan).toEqual({ tp: 1, pp: 1, attentionDp: 8, moeTp: 1, moeEp: 8 });
    // 4096 users need ceil(4096 / (8 · 256)) = 2 workers at least, so a rank runs at most 256 users
    const perRank = (i.workload as { users: number }).users / i.disagg!.decode.simulatedRanks!;
    expect(perRank * (i.batchScale ?? 1)).toBeLessThanOrEqual(256);
    // stated workers are taken as they are: tp8 attention over one worker
    const stated = rowInput({ ...row, decode_num_workers: '1', prefill_num_workers: '1' });
    expect(stated.disagg!.decode.plan).toEqual({ tp: 8, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 8 });
  });

  it('tp_size = tp · moe_tp beyond one node is read as the run it repeats, as the calibration reads it', () => {
    // tp16 moe_tp4 ep4 on 8-GPU B200 nodes: the tp4 moe_tp1 ep4 run (measured.ts relabel)
    const i = rowInput({
      ...aggR1,
      tp_size: '16',
      attention_dp_size: '1',
      moe_tp_size: '4',
      moe_ep_size: '4',
    });
    expect(i.agg!.plan).toEqual({ tp: 4, pp: 1, attentionDp: 1, moeTp: 1, moeEp: 4 });
  });

  it('concurrency without silicon_concurrency', () => {
    expect(
      rowConcurrency({ ...aggQwen, silicon_data_source: 'x', batch_size: '28', attention_dp_size: '2' }),
    ).toBe(56);
    expect(
      rowConcurrency({
        mode: 'disagg',
        silicon_data_source: '',
        decode_batch_size: '48',
        decode_num_workers: '4',
      }),
    ).toBe(192);
  });

  it('what cannot be simulated is a RowError naming it', () => {
    expect(() => rowInput({ ...aggQwen, system: 'x100' })).toThrow(/system 'x100'/);
    expect(() => rowInput({ ...aggQwen, backend: 'tgi' })).toThrow(/backend 'tgi'/);
    expect(() => rowInput({ ...aggQwen, gemm_quant_mode: 'int2' })).toThrow(RowError);
    expect(() => rowInput({ ...aggQwen, model_path: 'nobody/nothing' })).toThrow(/not in the catalog/);
    expect(() => rowInput({ ...aggQwen, isl: 'ten' })).toThrow(/isl/);
  });
});
