/** Resolve what the user named: a catalog model or a config.json path; a device or system. */
import { existsSync, readFileSync } from 'node:fs';
import { specFromConfig, type ModelSpec } from '../core/arch/index.js';
import { findDevice, findModel, hardwareSpec, modelSpec } from '../catalog/index.js';
import type { HardwareSpec } from '../core/hardware/spec.js';

export class UsageError extends Error {}

export interface ResolvedModel {
  id: string;
  spec: ModelSpec;
}

export function resolveModel(name: string): ResolvedModel {
  if (name.endsWith('.json') || (existsSync(name) && !/^[\w.-]+\/[\w.-]+$/.test(name))) {
    if (!existsSync(name)) throw new UsageError(`no such file: ${name}`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(name, 'utf8'));
    } catch (e) {
      throw new UsageError(`${name} is not valid JSON: ${(e as Error).message}`);
    }
    return { id: name, spec: specFromConfig(raw) };
  }
  const entry = findModel(name);
  return { id: entry.id, spec: modelSpec(entry) };
}

export function resolveHardware(name: string): HardwareSpec {
  return hardwareSpec(findDevice(name));
}
