/**
 * Engine capacity: what vLLM, SGLang or TensorRT-LLM would give the KV cache on each device, computed the way
 * each engine's own code sizes it. The serving simulation and the planner call `engineKvCapacity`.
 */
import type { ModelSpec } from '../../arch/spec.js';
import type { HardwareSpec } from '../../hardware/spec.js';
import { InputError } from '../inference.js';
import { sglangCapacity } from './sglang.js';
import { trtllmCapacity } from './trtllm.js';
import { ENGINE_IDS, type EngineCapacity, type EngineId, type EngineOptions } from './types.js';
import { vllmCapacity } from './vllm.js';

export { ENGINE_IDS, type EngineCapacity, type EngineId, type EngineOptions };
export type { UncertainTerm } from './common.js';

/**
 * KV-cache capacity of one model replica under an engine, per device of the rank that bounds it.
 *
 * @param spec the model (catalog or config.json)
 * @param hw the device each rank runs on
 * @param opts the engine and its launch settings; anything left out takes the engine's own default
 *   (engine 'vllm', version 0.19.0, TP1, max_model_len = the model's maximum, ...)
 * @returns bytes available for KV, KV tokens and `max_concurrency` as the engine prints them (unrounded),
 *   the terms it subtracted, whether it starts (`fits`, with the engine's error otherwise) and `uncertain_terms`
 * @throws InputError / PlanError naming the bad setting
 */
export function engineKvCapacity(
  spec: ModelSpec,
  hw: HardwareSpec,
  opts: EngineOptions & { engine?: EngineId } = {},
): EngineCapacity {
  const engine = opts.engine ?? 'vllm';
  const c = byEngine(engine, spec, hw, opts);
  // A sequence split over cp devices would leave 1/cp of each request's KV per device; the profiles size the
  // cache per TP rank only, so capacity under cp is counted as without it (less, never more) and said so.
  if ((opts.plan?.cp ?? 1) > 1)
    c.uncertain_terms.push({
      term: 'context_parallel',
      note: `the ${engine} profile does not model context parallelism; capacity is counted as at cp 1 (an underestimate)`,
    });
  return c;
}

function byEngine(engine: EngineId, spec: ModelSpec, hw: HardwareSpec, opts: EngineOptions): EngineCapacity {
  switch (engine) {
    case 'vllm':
      return vllmCapacity(spec, hw, opts);
    case 'sglang':
      return sglangCapacity(spec, hw, opts);
    case 'trtllm':
      return trtllmCapacity(spec, hw, opts);
    default:
      throw new InputError(`engine must be one of ${ENGINE_IDS.join(', ')} (got '${String(engine)}')`);
  }
}
