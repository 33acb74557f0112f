/** model_type -> adapter for the families that are not llama-shaped (those live in llama.ts). */
import type { ConfigReader } from '../reader.js';
import type { ModelSpec } from '../spec.js';
import { bloom, falcon, gpt2, gptj, gptNeox, opt, phi } from './classic.js';
import { deepseek } from './deepseek.js';
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
};
