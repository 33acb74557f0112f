/**
 * vLLM V1's KV-cache sizing, as its worker computes it (vllm/v1/worker/gpu_worker.py determine_available_memory
 * with vllm/utils/mem_utils.py memory_profiling, 0.19.0, whose DEBUG line prints each term):
 *
 *   requested = total_memory x gpu_memory_utilization
 *   available_kv = requested - (weights + torch peak increase + non-torch increase [+ CUDA-graph estimate])
 *
 * - weights: "Model loading took X GiB": parameters as loaded on the rank plus the RoPE cos/sin cache.
 * - torch peak increase: growth of torch's allocated-bytes peak over what was allocated when profiling began;
 *   the profile run (gpu_model_runner profile_run) is one forward of max_num_batched_tokens
 *   tokens, then the sampler warm-up (_dummy_sampler_run) over min(max_num_seqs, max_num_batched_tokens) rows x
 *   the vocabulary while the forward's output is still held; MoE layers keep their kernel workspace alive
 *   across both.
 * - non-torch increase: memory outside PyTorch's allocator that appears after worker start (cuBLAS/cuDNN
 *   workspaces and kernel modules; at TP>1 NCCL and custom all-reduce buffers).
 * - CUDA graphs: 0.19.0 estimates them but subtracts the estimate only with
 *   VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1 (its log: "In v0.19, CUDA graph memory profiling will be enabled
 *   by default ..."); subtracted by default from 0.21 on.
 * Measured lines quoted below are from vLLM 0.19.0 startup logs on H100 80GB (llm-d-incubation/llm-d-planner
 * PR #205, accuracy/results/v0.19.0/logs), the same runs as shared/reference/calibration/vllm-logs.json.
 */
import type { ModelSpec } from '../../arch/spec.js';
import { Trace, NO_TRACE } from '../../explain.js';
import type { HardwareSpec } from '../../hardware/spec.js';
import { InputError } from '../inference.js';
import {
  forwardPeakBytes,
  GiB,
  kvBytesPerTokenAll,
  kvLayerTypes,
  loadedWeights,
  MiB,
  moePath,
  moeWorkspaceBytes,
  paddedVocab,
  parseVersion,
  stageFilter,
  versionAtLeast,
  visionProfileBytes,
  type UncertainTerm,
} from './common.js';
import { checkFraction, checkPositive, resolveCommon } from './device.js';
import type { EngineCapacity, EngineOptions } from './types.js';
import { vllmKvCache, vllmKvLayout } from './vllm-kv.js';

export const VLLM_DEFAULT_VERSION = '0.19.0';
/** V1 with hardware-dependent scheduler defaults (PR #17885, released in 0.9.0). */
const VLLM_MIN_VERSION = [0, 9, 0] as const;
/** The release whose logs the rules are checked against. */
const VLLM_VERIFIED = [0, 19, 0] as const;

/**
 * Scheduler defaults (vllm/engine/arg_utils.py _set_default_args, asserted by vLLM's
 * tests/engine/test_arg_utils.py test_defaults_with_usage_context): devices with at least 70 GiB that are not
 * an A100 get max_num_batched_tokens 8192 (`vllm serve`) or 16384 (LLM class) and max_num_seqs 1024; others
 * 2048 / 8192 and 256. The 0.19.0 logs print "Defaulting max_num_seqs to 1024 for OPENAI_API_SERVER".
 */
export function vllmSchedulerDefaults(
  deviceTotal: number,
  hw: HardwareSpec,
  usage: 'openai_api_server' | 'llm_class',
): { maxNumSeqs: number; maxNumBatchedTokens: number } {
  const big = deviceTotal >= 70 * GiB && !/a100/i.test(`${hw.id} ${hw.name}`);
  if (big) return { maxNumSeqs: 1024, maxNumBatchedTokens: usage === 'llm_class' ? 16384 : 8192 };
  return { maxNumSeqs: 256, maxNumBatchedTokens: usage === 'llm_class' ? 8192 : 2048 };
}

/**
 * Bytes per logit the sampler warm-up holds at its peak, per row and vocabulary entry. 0.19: the model-dtype
 * logits (held by _dummy_sampler_run), their fp32 copy (Sampler.forward), softmax probabilities and the
 * exponential noise of random_sample (fp32 each), with top-k/top-p masking done in place by a Triton kernel
 * (v1/sample/ops/topk_topp_triton.py) whose scratch, a [num_SMs, vocab] fp32 buffer (132 x 4 B per vocabulary
 * entry on an H100), is bounded here by one byte per logit (1,024 B per entry at max_num_seqs 1024). Releases
 * before 0.19 are assumed (not checked against logs) to take the PyTorch path of apply_top_k_top_p, which sorts
 * the vocabulary: sorted fp32 values, int64 indices, a bool mask and fp32 sorted probabilities on top of the two
 * logits copies.
 */
function samplerBytesPerLogit(v: number[], b: number): { perLogit: number; triton: boolean } {
  const triton = versionAtLeast(v, [0, 19, 0]);
  return { perLogit: triton ? b + 4 + 4 + 4 + 1 : b + 4 + 4 + 8 + 1 + 4, triton };
}

/**
 * Non-torch memory that appears between worker start and the end of profiling. 0.19.0 DEBUG lines: TP1
 * 0.24-0.27 GiB (R01-R11, R16; granite-3.1-8b 0.46), TP2 2.07-2.10 GiB (R02, R12-R15), PP2 at TP1 0.07 GiB.
 * The largest routine TP1 figure and the largest TP2 figure are used. TP>2 is not measured: the TP2 growth
 * (NCCL and all-reduce buffers, 1.83 GiB) is counted once per doubling of the group, an upper-side
 * assumption so that free memory is not overstated.
 */
export function nonTorchBytes(tp: number): number {
  return (0.27 + 1.83 * Math.log2(Math.max(1, tp))) * GiB;
}

/**
 * "Model loading took" exceeds the parameter bytes by 0 to 2 MiB per layer per rank in the 0.19 logs
 * (Qwen2.5-7B +0.06 GiB over 28 layers, Qwen2.5-72B TP2 +0.08 GiB over 80, phi-4 +0.08 GiB over 40;
 * Llama, Qwen3, Gemma-2 and granite none). The cause is not identified; the upper figure is kept so that
 * free memory is not overstated.
 */
const LOADER_SLACK_PER_LAYER = 2 * MiB;

/**
 * MXFP4 experts on Hopper: the MoE kernels want the per-rank intermediate size a multiple of 128 and the
 * hidden size a multiple of 256 (vLLM mxfp4.py create_weights pads both for the Marlin path); gpt-oss-20b TP2
 * loads 7.01 GiB where its parameters are 6.4 GiB.
 */
const MXFP4_EXPERT_PAD = { intermediate: 128, hidden: 256 };

/** CUDA-graph capture sizes (0.19): [1, 2, 4] + 8..248 step 8 + 256.. step 16, up to min(2 x max_num_seqs, 512). */
export function cudaGraphCaptureSizes(maxNumSeqs: number): number[] {
  const max = Math.min(2 * maxNumSeqs, 512);
  const sizes = [1, 2, 4];
  for (let s = 8; s < 256; s += 8) sizes.push(s);
  for (let s = 256; s <= max; s += 16) sizes.push(s);
  return sizes.filter((s) => s <= max);
}

/** The KV layout of one pipeline stage as vLLM builds it (kv_cache_utils), for a KV element size. */
export function vllmStageKvLayout(
  spec: ModelSpec,
  kvBytes: number,
  plan: { tp: number; pp: number },
  stage: number,
  blockSize: number,
  maxModelLen: number,
  maxNumBatchedTokens: number,
) {
  const kv = kvLayerTypes(spec, kvBytes, plan.tp, stageFilter(spec, plan.pp, stage), VLLM_KV_FORMATS);
  return vllmKvLayout(kv.types, blockSize, maxModelLen, maxNumBatchedTokens);
}

/** vLLM's own cache layouts: DeepSeek's fp8_ds_mla for sparse MLA with an fp8 KV cache. */
const VLLM_KV_FORMATS = { fp8DsMla: true };

/**
 * `--kv-cache-dtype auto` on a ModelOpt checkpoint calibrated with an FP8 KV cache (kv_cache_quant_algo FP8) is fp8
 * in vLLM: resolve_kv_cache_dtype_string / get_kv_cache_quant_algo_string in vllm/utils/torch_utils.py read the
 * quantization_config (quant_method modelopt* only; compressed-tensors kv_cache_scheme is not auto-applied).
 * Added after vLLM issue #34752 (early 2026); earlier releases are given the model dtype (less KV, never more).
 */
function vllmAutoKvDtype(
  spec: ModelSpec,
  asked: string | undefined,
  v: readonly number[],
  uncertain: UncertainTerm[],
): string | undefined {
  if (asked && asked !== 'auto') return asked;
  const q = spec.checkpointQuant;
  if (!q || !q.method.startsWith('modelopt') || q.kvCacheDtype !== 'fp8') return asked;
  if (versionAtLeast(v, VLLM_VERIFIED)) return 'fp8';
  uncertain.push({
    term: 'kv_cache_dtype_auto',
    note: 'the checkpoint ships an FP8 KV cache; releases before 0.19 may not pick it under auto (model dtype assumed)',
  });
  return asked;
}

export function vllmCapacity(spec: ModelSpec, hw: HardwareSpec, o: EngineOptions): EngineCapacity {
  const trace = o.explain ? new Trace(true) : NO_TRACE;
  const uncertain: UncertainTerm[] = [];
  const versionStr = o.engineVersion ?? VLLM_DEFAULT_VERSION;
  const v = parseVersion(versionStr);
  if (!v) throw new InputError(`engine version must look like 0.19.0 (got '${versionStr}')`);
  if (!versionAtLeast(v, VLLM_MIN_VERSION))
    throw new InputError(`vLLM ${versionStr} is not modelled: the V1 profile covers 0.9.0 and later`);
  if (v[0] !== VLLM_VERIFIED[0] || v[1] !== VLLM_VERIFIED[1])
    uncertain.push({
      term: 'engine_version',
      note: `rules are checked against vLLM 0.19.0 logs; ${versionStr} differs only where a rule is cited`,
    });
  const r = resolveCommon(
    spec,
    hw,
    { ...o, kvCacheDtype: vllmAutoKvDtype(spec, o.kvCacheDtype, v, uncertain) },
    uncertain,
  );
  const { plan, b } = r;
  checkPositive('max_num_seqs', o.maxNumSeqs);
  checkPositive('max_num_batched_tokens', o.maxNumBatchedTokens);
  checkPositive('block_size', o.blockSize);
  const util = o.memoryFraction ?? 0.9;
  checkFraction('gpu_memory_utilization', util);
  const defaults = vllmSchedulerDefaults(r.deviceTotal, hw, o.usageContext ?? 'openai_api_server');
  const maxNumSeqs = o.maxNumSeqs ?? defaults.maxNumSeqs;
  const T = o.maxNumBatchedTokens ?? defaults.maxNumBatchedTokens;
  const blockSize = o.blockSize ?? 16;
  const rows = Math.min(maxNumSeqs, T);
  const budget = r.deviceTotal * util;
  trace.add('requested_memory', budget, 'bytes', 'total_memory x gpu_memory_utilization', {
    total_memory: r.deviceTotal,
    gpu_memory_utilization: util,
  });

  const path = moePath(spec, r.precision);
  const sampler = samplerBytesPerLogit(v, b);
  const nonTorch = nonTorchBytes(plan.tp);
  const graphsSubtracted = o.enforceEager ? false : (o.estimateCudaGraphs ?? versionAtLeast(v, [0, 21, 0]));
  const hasMoe = spec.groups.some((g) => g.mlp?.kind === 'moe');

  interface Stage {
    weights: number;
    activation: number;
    graphs: number;
    available: number;
    layout: ReturnType<typeof vllmKvLayout>;
    perToken: number;
    ssm: number;
  }
  const stages: Stage[] = [];
  for (let s = 0; s < plan.pp; s++) {
    const onStage = stageFilter(spec, plan.pp, s);
    const w = loadedWeights(spec, r.precision, plan, s, b, {
      expertPad: path === 'fp4' ? MXFP4_EXPERT_PAD : null,
      slackPerLayer: LOADER_SLACK_PER_LAYER / plan.tp,
    });
    const fwd = forwardPeakBytes(spec, T, plan.tp, b, onStage);
    const ws = moeWorkspaceBytes(spec, path, T, plan.tp, b, onStage);
    const last = s === plan.pp - 1 && spec.structure !== 'encoder';
    // The sampler runs on the last stage while the forward's output (T x H) and its random copy of the
    // sampled rows (rows x H) are alive; logits come out of the LM head at the padded vocabulary.
    const samplerPeak = last
      ? rows * paddedVocab(spec.vocabSize) * b +
        rows * spec.vocabSize * (sampler.perLogit - b) +
        T * spec.hiddenSize * b +
        rows * spec.hiddenSize * b
      : 0;
    // Multimodal models run their vision tower first (first stage) and keep its outputs through the rest.
    const mm = s === 0 ? visionProfileBytes(spec, T, b) : { towerPeak: 0, encoderCache: 0 };
    const activation = Math.max(mm.towerPeak, mm.encoderCache + Math.max(fwd + ws, ws + samplerPeak));
    let graphs = 0;
    if (graphsSubtracted) {
      // Per captured graph ~6 MiB, piecewise graphs at TP>1 ~26 MiB (0.19.0 DEBUG "Estimated PIECEWISE CUDA
      // graph memory: ... per-graph"), plus the first capture's activations at the largest size.
      const sizes = cudaGraphCaptureSizes(maxNumSeqs);
      const full = sizes.filter((x) => x <= maxNumSeqs).length;
      const largest = sizes[sizes.length - 1]!;
      const perPiecewise = (plan.tp > 1 ? 26 : 6) * MiB;
      graphs =
        sizes.length * perPiecewise +
        full * 6 * MiB +
        2 * (forwardPeakBytes(spec, largest, plan.tp, b, onStage) + 128 * MiB);
    }
    const available = budget - w.total - activation - nonTorch - graphs;
    const kv = kvLayerTypes(spec, r.kvBytes, plan.tp, onStage, VLLM_KV_FORMATS);
    stages.push({
      weights: w.total,
      activation,
      graphs,
      available,
      layout: vllmKvLayout(kv.types, blockSize, r.maxModelLen, T),
      perToken: kvBytesPerTokenAll(kv.types),
      ssm: kv.ssmLayers,
    });
    if (s === plan.pp - 1 || plan.pp === 1)
      trace.add(
        `activation_peak (stage ${s})`,
        activation,
        'bytes',
        'max(forward of T tokens + MoE workspace, MoE workspace + rows x vocab x bytes/logit + T x H x b + rows x H x b)',
        {
          T,
          rows,
          vocab: spec.vocabSize,
          bytes_per_logit: sampler.perLogit,
          forward: fwd,
          moe_workspace: ws,
        },
      );
  }
  // Every rank gets the same number of blocks: the stage with the fewest bounds them all.
  let bound = stages[0]!;
  let boundKv = bound.layout ? vllmKvCache(bound.layout, bound.available) : null;
  for (const st of stages.slice(1)) {
    const kv = st.layout ? vllmKvCache(st.layout, st.available) : null;
    if (kv && boundKv && kv.numBlocks < boundKv.numBlocks) {
      bound = st;
      boundKv = kv;
    }
  }

  uncertain.push({
    term: 'non_torch',
    note:
      plan.tp > 2
        ? 'NCCL and all-reduce buffers measured at TP1 and TP2 only (vLLM 0.19, H100); TP>2 counts the TP2 growth once per doubling'
        : 'measured in vLLM 0.19 on H100 (0.24-0.27 GiB at TP1, one model 0.46; 2.07-2.10 GiB at TP2)',
  });
  uncertain.push({
    term: 'weights_loaded_extra',
    note: 'buffers some models add while loading (observed 0-0.19 GiB above parameter bytes) are not counted',
  });
  if (stages.some((st) => st.activation > 0))
    uncertain.push({
      term: sampler.triton ? 'sampler_topk_topp_scratch' : 'sampler_sort_path',
      note: sampler.triton
        ? 'Triton top-k/top-p scratch bounded by one byte per logit'
        : 'releases before 0.19 are assumed to sort the vocabulary in PyTorch (more memory)',
    });
  if (hasMoe)
    uncertain.push({
      term: 'moe_workspace',
      note: `fused-MoE workspace of the ${path} path sized for max_num_batched_tokens tokens`,
    });
  if (spec.vision)
    uncertain.push({
      term: 'mm_encoder_profile',
      note: 'vision tower profiled on max_num_batched_tokens worth of largest images; resolution-dependent models vary',
    });
  if (graphsSubtracted)
    uncertain.push({
      term: 'cuda_graph_memory',
      note: 'estimated from per-graph sizes in vLLM 0.19 logs; the engine measures it',
    });
  if (stages.some((st) => st.ssm > 0))
    uncertain.push({
      term: 'ssm_state',
      note: 'Mamba layers share pages with attention in vLLM; their state is not counted here',
    });

  const perToken = bound.perToken;
  const kv = boundKv ?? { numBlocks: 0, tokens: 0, concurrency: 0, oneRequestBytes: 0 };
  let error: string | null = null;
  if (bound.available <= 0)
    error =
      'No available memory for the cache blocks. Try increasing gpu_memory_utilization when initializing the engine.';
  else if (bound.layout && kv.oneRequestBytes > bound.available) {
    const estLen = perToken > 0 ? Math.floor(bound.available / perToken) : 0;
    error =
      `To serve at least one request with the model's max seq len (${r.maxModelLen}), ` +
      `${(kv.oneRequestBytes / GiB).toFixed(2)} GiB KV cache is needed, which is larger than the available KV ` +
      `cache memory (${(bound.available / GiB).toFixed(2)} GiB). Based on the available memory, the estimated ` +
      `maximum model length is ${estLen}. Try increasing gpu_memory_utilization or decreasing max_model_len.`;
  }
  trace.add(
    'kv_cache_bytes_available',
    bound.available,
    'bytes',
    'requested - weights - activation peak - non-torch - CUDA graphs (stage with fewest blocks)',
    {
      weights: bound.weights,
      activation_peak: bound.activation,
      non_torch: nonTorch,
      cuda_graphs: bound.graphs,
    },
  );
  trace.add('num_blocks', kv.numBlocks, 'blocks', 'available // page_size // layers per KV group', {
    page_bytes: bound.layout?.pageBytes ?? 0,
    group_size: bound.layout?.groupSize ?? 0,
  });
  trace.add(
    'max_concurrency',
    kv.concurrency,
    'requests',
    'num_blocks / blocks one max_model_len request needs',
    {
      blocks_per_request: bound.layout?.blocksPerRequest ?? 0,
      max_model_len: r.maxModelLen,
    },
  );
  return {
    engine: 'vllm',
    engine_version: versionStr,
    settings: {
      tp: plan.tp,
      pp: plan.pp,
      ep: plan.ep,
      max_model_len: r.maxModelLen,
      memory_fraction: util,
      max_num_seqs: maxNumSeqs,
      max_num_batched_tokens: T,
      block_size: blockSize,
      kv_cache_dtype: r.kvCacheDtype,
      dtype: r.dtype,
    },
    device_total_bytes: r.deviceTotal,
    budget_bytes: budget,
    weights_bytes: bound.weights,
    activation_peak_bytes: bound.activation,
    non_torch_bytes: nonTorch,
    cuda_graph_bytes: bound.graphs,
    kv_cache_bytes_available: bound.available,
    kv_cache_bytes_per_token: perToken,
    num_blocks: kv.numBlocks,
    max_kv_tokens: kv.tokens,
    max_concurrency: kv.concurrency,
    fits: error === null,
    error,
    uncertain_terms: uncertain,
    trace: trace.entries,
  };
}
