/**
 * Moonshot Kimi-K2 (model_type kimi_k2: the DeepSeek-V3 architecture with 384 experts, 64 heads, one dense layer)
 * and Kimi-K2.5 (kimi_k25: that text model in text_config behind a MoonViT-3D vision tower and a patch-merger
 * projector). Vision tensors as vLLM's kimi_k25_vit.py builds them for the released config (no attn_bias /
 * norm_type / linear_bias keys: biased q/k/v/o and MLP, LayerNorms): Conv2d patch embedding with bias, a learned
 * [init_pos_emb_height, init_pos_emb_width, hidden] position table (the temporal sin-cos table is a buffer), per
 * block norm0/norm1, wqkv, wo, mlp.fc0/fc1, a final LayerNorm, and the projector's pre_norm, linear_1 and linear_2
 * from the 2x2-merged width to the text width.
 */
import { ConfigReader, type RawConfig } from '../reader.js';
import type { CheckpointQuant, ModelSpec, Tensor } from '../spec.js';
import { linear, norm } from '../tensors.js';
import { deepseek } from './deepseek.js';
import { dense, group, mha, range } from './layer.js';
import { checkpointQuant } from './quant.js';

function nested(parent: ConfigReader, key: string): ConfigReader {
  const raw = (parent.sub(key)?.raw ?? {}) as RawConfig;
  const r = new ConfigReader(raw, `${key}.`);
  r.missing.push = (...items: string[]) => parent.missing.push(...items);
  r.invalid.push = (...items: string[]) => parent.invalid.push(...items);
  return r;
}

/** A quantization_config inside text_config covers the language model only: the vision tower stays bf16. */
function textOnly(q: CheckpointQuant | null): CheckpointQuant | null {
  return q ? { ...q, excludedRoles: [...q.excludedRoles, 'vision', 'projector'] } : null;
}

export function kimiK25(r: ConfigReader, modelType: string): ModelSpec {
  if (!r.has('text_config')) return deepseek(r, modelType);
  const t = nested(r, 'text_config');
  const text = deepseek(t, t.str('model_type', 'kimi_k2'));
  if (!r.has('vision_config')) {
    r.done(modelType);
    return { ...text, modelType, checkpointQuant: checkpointQuant(r) ?? text.checkpointQuant };
  }
  const v = nested(r, 'vision_config');
  const h = v.int('vt_hidden_size', 'hidden_size');
  const inter = v.int('vt_intermediate_size', 'intermediate_size');
  const heads = v.int('vt_num_attention_heads', 'num_attention_heads');
  const depth = v.int('vt_num_hidden_layers', 'num_hidden_layers');
  const p = v.optInt('patch_size', 14);
  const posH = v.optInt('init_pos_emb_height', 64);
  const posW = v.optInt('init_pos_emb_width', 64);
  const merge = (v.array('merge_kernel_size') as number[] | null) ?? [2, 2];
  const textHidden = v.optInt('text_hidden_size', text.hiddenSize);
  const attnBias = v.bool('attn_bias', true);
  const linearBias = v.bool('linear_bias', true);
  const vision = (ts: Tensor[]) => ts.map((x) => ({ ...x, role: 'vision' as const }));
  const layer = vision([
    ...norm('norm0', h, true),
    ...norm('norm1', h, true),
    ...linear('wqkv', 3 * h, h, 'vision', attnBias),
    ...linear('wo', h, h, 'vision', attnBias),
    ...linear('mlp.fc0', inter, h, 'vision', linearBias),
    ...linear('mlp.fc1', h, inter, 'vision', linearBias),
  ]);
  const m = h * merge[0]! * merge[1]!;
  const vt: Tensor[] = [
    ...vision([
      { name: 'vision_tower.patch_embed.proj.weight', shape: [h, 3, p, p], role: 'vision' },
      ...(v.bool('patch_embed_proj_bias', true)
        ? [{ name: 'vision_tower.patch_embed.proj.bias', shape: [h], role: 'vision' as const }]
        : []),
      { name: 'vision_tower.patch_embed.pos_emb.weight', shape: [posH, posW, h], role: 'vision' },
      ...norm('vision_tower.encoder.final_layernorm', h, true),
    ]),
    ...norm('mm_projector.pre_norm', h, true).map((x) => ({ ...x, role: 'projector' as const })),
    ...linear('mm_projector.linear_1', m, m, 'projector', true),
    ...linear('mm_projector.linear_2', textHidden, m, 'projector', true),
  ];
  const vg = group(
    'vision',
    'vision',
    range(depth),
    {
      attention: mha(heads, heads, h / heads, { causal: false }),
      mlp: dense(inter, false, 'gelu_pytorch_tanh'),
    },
    layer,
  );
  r.done(modelType);
  // A 448x448 image: 32x32 patches of 14, merged 2x2 -> 256 tokens.
  const ref = 448;
  return {
    ...text,
    modelType,
    groups: [...text.groups, vg],
    globalTensors: [...text.globalTensors, ...vt],
    vision: {
      tokensPerImage: Math.floor(ref / p / merge[0]!) * Math.floor(ref / p / merge[1]!),
      imageSize: ref,
      patchSize: p,
      hiddenSize: h,
    },
    checkpointQuant: checkpointQuant(r) ?? textOnly(text.checkpointQuant),
    torchDtype: text.torchDtype ?? (r.str('dtype', r.str('torch_dtype', '')) || null),
  };
}
