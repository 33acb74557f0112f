/**
 * Runtime overhead lines: memory an engine holds besides weights, KV and activations. Each constant is a
 * measurement with its source; profiles differ because engines account differently.
 */
import type { ModelSpec } from '../arch/spec.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
// Profiles are read off logs in GiB with two decimals; bytes are whole, so each constant is rounded.

export type RuntimeId = 'none' | 'pytorch' | 'vllm-v0' | 'vllm-v1';

export const RUNTIME_IDS: readonly RuntimeId[] = ['none', 'pytorch', 'vllm-v0', 'vllm-v1'];

interface Profile {
  description: string;
  /** CUDA context, kernels and library workspaces of one process. */
  contextBytes: number;
  /** Extra non-torch memory of a tensor-parallel rank (NCCL and custom all-reduce buffers). */
  collectiveBytes: number;
  /** Whether the engine keeps a RoPE cos/sin cache of max_position_embeddings × rotary_dim in the model dtype. */
  rotaryCache: boolean;
  source: string;
}

export const RUNTIME_PROFILES: Record<RuntimeId, Profile> = {
  none: {
    description: 'no runtime overhead',
    contextBytes: 0,
    collectiveBytes: 0,
    rotaryCache: false,
    source: '',
  },
  pytorch: {
    description: 'PyTorch / transformers eager process',
    // nvidia-smi 13,213 MiB for Llama-2-7B fp16 whose weights are 12,852 MiB: 361 MiB of context and allocator.
    contextBytes: 361 * MiB,
    collectiveBytes: 0,
    rotaryCache: false,
    source: 'lm-sys/FastChat issue #2005 (RTX 3090, Llama-2-7b-hf fp16)',
  },
  'vllm-v0': {
    description: 'vLLM V0 worker (memory profiling of Dec 2024)',
    // non_torch_memory 1.79 GiB at TP1 and 3.58 GiB at TP2 for Llama-3-8B on an 80 GB GPU.
    contextBytes: Math.round(1.79 * GiB),
    collectiveBytes: Math.round(1.79 * GiB),
    rotaryCache: true,
    source: 'vllm-project/vllm PR #10511, profile tables by youkaichao, 2024-12-14',
  },
  'vllm-v1': {
    description:
      'vLLM V1 engine: the CUDA context at start is outside the budget; non-torch memory that appears after it counts',
    // vLLM 0.19.0 DEBUG "non-torch forward increase memory" on H100: 0.24-0.27 GiB at TP1, 2.07-2.10 GiB at TP2
    // (the largest of each kept; see core/memory/engines/vllm.ts for the full engine profile).
    contextBytes: Math.round(0.27 * GiB),
    collectiveBytes: Math.round((2.1 - 0.27) * GiB),
    rotaryCache: true,
    source:
      'vLLM 0.19.0 startup logs, llm-d-incubation/llm-d-planner PR #205 (accuracy/results/v0.19.0/logs)',
  },
};

export interface RuntimeLines {
  lines: Record<string, number>;
  total: number;
}

export function runtimeOverhead(
  id: RuntimeId,
  o: { tp: number; pp: number; ep: number; rotaryTokens: number; spec: ModelSpec; b: number },
): RuntimeLines {
  const p = RUNTIME_PROFILES[id];
  const lines: Record<string, number> = {};
  if (p.contextBytes) lines['cuda_context'] = p.contextBytes;
  if (p.collectiveBytes && o.tp * o.pp * o.ep > 1) lines['collectives'] = p.collectiveBytes;
  if (p.rotaryCache) {
    const a = o.spec.groups.find((g) => g.attention)?.attention;
    // vLLM builds the cache for the config's max_position_embeddings, not for max_model_len.
    const positions = o.spec.maxPositionEmbeddings ?? o.rotaryTokens;
    if (a) lines['rotary_cache'] = positions * (a.mla ? a.mla.qkRopeHeadDim : a.headDim) * o.b;
  }
  let total = 0;
  for (const v of Object.values(lines)) total += v;
  return { lines, total };
}
