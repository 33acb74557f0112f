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
  const layers = inner['quantized_layers'];
  const moduleFormats: Record<string, string> = {};
  if (isObject(layers)) {
    for (const [name, v] of Object.entries(layers)) {
      const f = isObject(v) ? modeloptFormat(String(v['quant_algo'] ?? ''), v['group_size']) : null;
      if (f) moduleFormats[name] = f;
    }
  }
  // MIXED_PRECISION names the format most of its listed modules use (weights.ts applies each module's own);
  // anything else unknown keeps the model dtype in weights.ts.
  const listed = Object.values(moduleFormats);
  const counts = new Map<string, number>();
  for (const f of listed) counts.set(f, (counts.get(f) ?? 0) + 1);
  const majority = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const format =
    algo === 'NVFP4'
      ? 'nvfp4'
      : algo.startsWith('FP8')
        ? 'fp8'
        : (majority ?? `modelopt-${algo.toLowerCase() || 'unknown'}`);
  return {
    method: 'modelopt',
    format,
    excludedRoles: KEEP_16BIT,
    blockSize: null,
    excludedModules: [...strings(inner['exclude_modules']), ...strings(inner['ignore'] ?? q['ignore'])],
    kvCacheDtype: kv,
    ...(Object.keys(moduleFormats).length ? { moduleFormats } : {}),
  };
}

/** A ModelOpt per-layer algorithm as a storage format; null for one infersim does not model (kept at 16 bit). */
function modeloptFormat(algo: string, group: unknown): string | null {
  const a = algo.toUpperCase();
  // W4A16_NVFP4 stores the same NVFP4 weights and computes with 16-bit activations.
  if (a === 'NVFP4' || a === 'W4A16_NVFP4') return 'nvfp4';
  if (a.startsWith('FP8')) return 'fp8';
  if (a === 'W4A8_AWQ' || a === 'W4A16_AWQ' || a === 'INT4_AWQ')
    return `awq-int4-g${typeof group === 'number' ? group : 128}`;
  return null;
}

/**
 * The format of a tensor in a mixed-precision checkpoint: its module's, or the nearest listed parent's
 * (`mlp.experts` covers every expert projection); null when its module is not listed.
 */
export function moduleFormat(
  q: CheckpointQuant,
  t: Tensor,
  g: LayerGroup | null,
  layer: number,
): string | null {
  const map = q.moduleFormats;
  if (!map) return null;
  for (let name of moduleNames(t, g, layer)) {
    for (;;) {
      const f = map[name];
      if (f !== undefined) return f;
      const dot = name.lastIndexOf('.');
      if (dot < 0) break;
      name = name.slice(0, dot);
    }
  }
  return null;
}

/**
 * llm-compressor's compressed-tensors (Red Hat releases, Kimi-K2.x int4): the weights scheme of the config group
 * that targets the linear layers (num_bits, type int|float, strategy, group_size, block_structure) names the format.
 */
function compressedTensors(q: RawConfig): CheckpointQuant {
  const groups = isObject(q['config_groups']) ? Object.values(q['config_groups']) : [];
  const w = groups.map((g) => (isObject(g) && isObject(g['weights']) ? g['weights'] : null)).find(Boolean);
  const fmt = typeof q['format'] === 'string' ? q['format'] : '';
  let format = `compressed-tensors-${fmt || 'unknown'}`;
  let block: number[] | null = null;
  if (w) {
    const bits = w['num_bits'];
    const type = w['type'];
    const strategy = w['strategy'];
    const gs = typeof w['group_size'] === 'number' ? w['group_size'] : null;
    if (bits === 4 && type === 'float') format = fmt.startsWith('mxfp4') || gs === 32 ? 'mxfp4' : 'nvfp4';
    else if (bits === 4 && type === 'int' && w['symmetric'] !== false)
      format = gs === 128 || gs === null ? 'int4' : `int4-sym-g${gs}`;
    else if (bits === 4 && type === 'int') format = `awq-int4-g${gs ?? 128}`;
    else if (bits === 8 && type === 'float') {
      block =
        strategy === 'block' && Array.isArray(w['block_structure'])
          ? (w['block_structure'] as number[])
          : null;
      format = strategy === 'block' ? 'fp8_block' : 'fp8';
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
  if (method === 'fbgemm_fp8') {
    // Meta's FP8 releases (Llama-3.1-405B-Instruct-FP8): fp8 rows with one scale each; attention stays 16-bit.
    return { method, format: 'fp8', excludedRoles: [...KEEP_16BIT, 'attention'], blockSize: null, ...extra };
  }
  if (method === 'bitsandbytes') {
    const nf4 = q['bnb_4bit_use_double_quant'] ? 'nf4_dq' : 'nf4';
    const fmt = q['load_in_4bit'] ? (q['bnb_4bit_quant_type'] === 'fp4' ? 'bnb_fp4' : nf4) : 'int8';
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
