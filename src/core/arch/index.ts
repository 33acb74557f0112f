/** HF config.json -> ModelSpec: dispatch on model_type to the family adapter. */
import { ConfigError, ConfigReader, isObject, type RawConfig } from './reader.js';
import type { ModelSpec } from './spec.js';
import { LLAMA_FAMILIES, readLlamaLike } from './families/llama.js';
import { OTHER_FAMILIES } from './families/registry.js';

export { ConfigError } from './reader.js';
export type * from './spec.js';
export { countParameters, type ParamCount, type ParamBreakdown } from './params.js';
export { excludedFromQuant, moduleFormat } from './families/quant.js';

export const SUPPORTED_MODEL_TYPES: readonly string[] = [
  ...Object.keys(LLAMA_FAMILIES),
  ...Object.keys(OTHER_FAMILIES),
].sort();

export function specFromConfig(config: unknown): ModelSpec {
  if (!isObject(config)) throw new ConfigError('config.json must be a JSON object');
  const raw = config as RawConfig;
  const modelType = typeof raw['model_type'] === 'string' ? raw['model_type'] : '';
  const r = new ConfigReader(raw);
  const other = OTHER_FAMILIES[modelType];
  if (other) return other(r, modelType);
  const family = LLAMA_FAMILIES[modelType];
  if (family) return readLlamaLike(r, modelType, family, []);
  // Unknown model_type: read as a llama-like decoder, and say so.
  const warning = modelType
    ? `model_type '${modelType}' is not known to infersim; read as a llama-like decoder (gated MLP, RMSNorm, no biases)`
    : `config.json has no model_type; read as a llama-like decoder (gated MLP, RMSNorm, no biases)`;
  return readLlamaLike(r, modelType || 'unknown', LLAMA_FAMILIES['llama']!, [warning]);
}
