/** The checkpoint quantisation a config declares (quantization_config), as a storage format for core/numerics. */
import { isObject, type ConfigReader, type RawConfig } from '../reader.js';
import type { CheckpointQuant, LayerGroup, Tensor, TensorRole } from '../spec.js';

const KEEP_16BIT: readonly TensorRole[] = ['embedding', 'position', 'lm_head', 'norm', 'router'];

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/**
 * NVIDIA ModelOpt checkpoints: `quant_algo` NVFP4 (16 FP4 + FP8 scale) or FP8 (per-tensor), the modules left in
 * bf16 in `exclude_modules` (hf_quant_config.json) or `ignore` (the same list written into config.json).
 */
function modelopt(q: RawConfig): CheckpointQuant {
  // hf_quant_config.json nests the settings under "quantization"; config.json has them flat.
  const inner = isObject(q['quantization']) ? q['quantization'] : q;
  const algo = String(inner['quant_algo'] ?? '').toUpperCase();
  const kvAlgo = inner['kv_cache_quant_algo'];
  const kvScheme = inner['kv_cache_scheme'] ?? q['kv_cache_scheme'];
  const kv =
    typeof kvAlgo === 'string'
      ? kvAlgo.toLowerCase()
      : isObject(kvScheme) && kvScheme['num_bits'] === 8 && kvScheme['type'] === 'float'
        ? 'fp8'
        : null;
  const format = algo === 'NVFP4' ? 'nvfp4' : algo === 'FP8' ? 'fp8' : algo.toLowerCase() || 'modelopt';
  return {
    method: 'modelopt',
    format,
    excludedRoles: KEEP_16BIT,
    blockSize: null,
    excludedModules: [...strings(inner['exclude_modules']), ...strings(inner['ignore'] ?? q['ignore'])],
    kvCacheDtype: kv,
  };
}

/** compressed-tensors (llm-compressor, Kimi-K2.x int4): the weight scheme of the first config group. */
function compressedTensors(q: RawConfig): CheckpointQuant {
  const groups = isObject(q['config_groups']) ? Object.values(q['config_groups']) : [];
  const w = groups.map((g) => (isObject(g) && isObject(g['weights']) ? g['weights'] : null)).find(Boolean);
  let format = 'compressed-tensors';
  let block: number[] | null = null;
  if (w) {
    const bits = w['num_bits'];
    const type = w['type'];
    const gs = typeof w['group_size'] === 'number' ? w['group_size'] : null;
    if (bits === 4 && type === 'float') format = 'nvfp4';
    else if (bits === 4 && type === 'int' && w['symmetric'] !== false) format = `int4-sym-g${gs ?? 128}`;
    else if (bits === 4 && type === 'int') format = `awq-int4-g${gs ?? 128}`;
    else if (bits === 8 && type === 'float') {
      block = Array.isArray(w['block_structure']) ? (w['block_structure'] as number[]) : null;
      format = w['strategy'] === 'block' ? 'fp8_block' : 'fp8';
    } else if (bits === 8 && type === 'int') format = 'int8';
  }
  const kvScheme = q['kv_cache_scheme'];
  return {
    method: 'compressed-tensors',
    format,
    excludedRoles: KEEP_16BIT,
    blockSize: block,
    excludedModules: strings(q['ignore']),
    kvCacheDtype: isObject(kvScheme) && kvScheme['num_bits'] === 8 ? 'fp8' : null,
  };
}

export function checkpointQuant(r: ConfigReader): CheckpointQuant | null {
  const q = r.raw['quantization_config'];
  if (!isObject(q)) return null;
  const method = typeof q['quant_method'] === 'string' ? q['quant_method'] : 'unknown';
  const block = Array.isArray(q['weight_block_size']) ? (q['weight_block_size'] as number[]) : null;
  const notConverted = strings(q['modules_to_not_convert']);
  const extra = notConverted.length ? { excludedModules: notConverted } : {};
  if (method === 'mxfp4') {
    // gpt-oss: only the MoE expert weights are MXFP4; attention, router, embeddings and head stay bf16.
    return {
      method,
      format: 'mxfp4',
      excludedRoles: [...KEEP_16BIT, 'attention', 'shared_expert'],
      blockSize: null,
      ...extra,
    };
  }
  if (method === 'modelopt') return modelopt(q);
  if (method === 'compressed-tensors') return compressedTensors(q);
  if (method === 'fp8') {
    return {
      method,
      format: block ? 'fp8_block' : 'fp8',
      excludedRoles: KEEP_16BIT,
      blockSize: block,
      ...extra,
    };
  }
  if (method === 'gptq' || method === 'awq') {
    const bits = typeof q['bits'] === 'number' ? q['bits'] : 4;
    const group = typeof q['group_size'] === 'number' ? q['group_size'] : 128;
    return {
      method,
      format: `${method}-int${bits}-g${group}`,
      excludedRoles: KEEP_16BIT,
      blockSize: null,
      ...extra,
    };
  }
  if (method === 'bitsandbytes') {
    const fmt = q['load_in_4bit'] ? (q['bnb_4bit_quant_type'] === 'fp4' ? 'bnb_fp4' : 'nf4') : 'int8';
    return { method, format: fmt, excludedRoles: KEEP_16BIT, blockSize: null, ...extra };
  }
  return { method, format: method, excludedRoles: KEEP_16BIT, blockSize: block, ...extra };
}

/**
 * The module names a tensor may go by in a checkpoint (`model.layers.3.self_attn.q_proj`), for matching a config's
 * exclusion list: the plain decoder path, the multimodal wrappers' prefixes, and DeepSeek's plural shared_experts.
 */
export function moduleNames(t: Tensor, g: LayerGroup | null, layer: number): string[] {
  const mod = t.name.replace(/\.(weight|bias)$/, '').replace('.#.', '.0.');
  // Vision and projector tensors outside the layers carry their checkpoint prefix (visual., vision_tower., ...).
  if (!g && (t.role === 'vision' || t.role === 'projector')) return [mod, `model.${mod}`];
  if (!g && t.role === 'lm_head') return [mod, `language_model.${mod}`];
  if (g?.stack === 'vision') {
    return [
      `visual.blocks.${layer}.${mod}`,
      `model.visual.blocks.${layer}.${mod}`,
      `vision_tower.encoder.blocks.${layer}.${mod}`,
    ];
  }
  const rest = g ? `layers.${layer}.${mod}` : mod;
  const out = [`model.${rest}`, `model.language_model.${rest}`, `language_model.model.${rest}`];
  if (rest.includes('.shared_expert.'))
    out.push(...out.map((n) => n.replace('.shared_expert.', '.shared_experts.')));
  return out;
}

type Matcher = (name: string) => boolean;

function matcher(pattern: string): Matcher {
  if (pattern.startsWith('re:')) {
    // compressed-tensors applies re.match: anchored at the start only.
    const re = new RegExp(`^(?:${pattern.slice(3)})`);
    return (n) => re.test(n);
  }
  if (pattern.includes('*')) {
    // modelopt uses fnmatch: a glob over the whole name.
    const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    return (n) => re.test(n);
  }
  // A plain name excludes that module, a module it ends (`lm_head`, `gate`), or everything under it.
  return (n) => n === pattern || n.endsWith(`.${pattern}`) || n.startsWith(`${pattern}.`);
}

const compiled = new WeakMap<readonly string[], Matcher[]>();

/** Whether the checkpoint leaves this tensor (in this layer) unquantised. */
export function excludedFromQuant(
  q: CheckpointQuant,
  t: Tensor,
  g: LayerGroup | null,
  layer: number,
): boolean {
  if (q.excludedRoles.includes(t.role)) return true;
  const patterns = q.excludedModules;
  if (!patterns || patterns.length === 0) return false;
  let ms = compiled.get(patterns);
  if (!ms) compiled.set(patterns, (ms = patterns.map(matcher)));
  const names = moduleNames(t, g, layer);
  return ms.some((m) => names.some(m));
}
