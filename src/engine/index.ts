/** The reference inference engine: load a Hugging Face checkpoint directory and serve it (see engine.ts). */
export { Engine, EngineError, type EngineOptions } from './engine.js';
export type { GenerationResult } from './request.js';
export type { SamplingParams } from './sampler.js';
export { ConfigError as EngineConfigError } from './config.js';
export { CheckpointError } from './safetensors.js';

/** The model shipped in the repository (models/kjv-llama-tiny), relative to the repository root. */
export const DEFAULT_MODEL_DIR = 'models/kjv-llama-tiny';
