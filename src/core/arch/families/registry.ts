/** model_type -> adapter for the families that are not llama-shaped (those live in llama.ts). */
import type { ConfigReader } from '../reader.js';
import type { ModelSpec } from '../spec.js';
import { bloom, falcon, gpt2, gptj, gptNeox, opt, phi } from './classic.js';
import { deepseek } from './deepseek.js';
import { deepseekV32, glmMoeDsa } from './dsa.js';
import { gemma3n } from './gemma3n.js';
import { glm4Moe } from './glm.js';
import { kimiK25 } from './kimi.js';
import { minimaxM2 } from './minimax.js';
import { qwen35, qwen3Next } from './qwen-hybrid.js';
import { bert, t5 } from './encoders.js';
import { gemma3, llama4, llava, qwen2vl } from './multimodal.js';
import { jamba, mamba, mamba2 } from './ssm.js';

export type Adapter = (r: ConfigReader, modelType: string) => ModelSpec;

export const OTHER_FAMILIES: Record<string, Adapter> = {
  gpt2,
  gpt_neox: gptNeox,
  gptj,
  opt,
  bloom,
  falcon,
  phi,
  bert,
  roberta: bert,
  t5,
  mamba,
  mamba2,
  jamba,
  deepseek,
  deepseek_v2: deepseek,
  deepseek_v3: deepseek,
  llava,
  qwen2_vl: qwen2vl,
  gemma3,
  llama4,
  llama4_text: (r, t) => llama4(r, t),
  // Newer architectures: DeepSeek-V3 derivatives, DSA, hybrid linear attention, MiniMax.
  kimi_k2: deepseek,
  kimi_k25: kimiK25,
  deepseek_v32: deepseekV32,
  glm_moe_dsa: glmMoeDsa,
  glm4_moe: glm4Moe,
  glm4_moe_lite: deepseek,
  minimax_m2: minimaxM2,
  gemma3n,
  gemma3n_text: gemma3n,
  qwen3_next: qwen3Next,
  qwen3_5: qwen35,
  qwen3_5_text: qwen35,
  qwen3_5_moe: qwen35,
  qwen3_5_moe_text: qwen35,
};
