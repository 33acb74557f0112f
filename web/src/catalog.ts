/** The catalogs the controls offer: models (built in + imported), devices and systems, precisions. */
import { getJson, type DeviceRow, type ModelRow, type SystemRow } from './api';

export interface Catalogs {
  models: ModelRow[];
  devices: DeviceRow[];
  systems: SystemRow[];
  precisions: string[];
  kvDtypes: string[];
  optimizers: { id: string; description: string }[];
}

export const catalogs: Catalogs = {
  models: [],
  devices: [],
  systems: [],
  precisions: [],
  kvDtypes: [],
  optimizers: [],
};

export async function loadCatalogs(): Promise<void> {
  const [m, h, o] = await Promise.all([
    getJson<{ models: ModelRow[] }>('/models'),
    getJson<{ devices: DeviceRow[]; systems: SystemRow[] }>('/hardware'),
    getJson<{
      precisions: { id: string }[];
      kv_cache_dtypes: string[];
      optimizers: { id: string; description: string }[];
    }>('/api/config/options').catch(() => null),
  ]);
  catalogs.models = m.models;
  catalogs.devices = h.devices;
  catalogs.systems = h.systems;
  catalogs.precisions = o?.precisions.map((p) => p.id) ?? ['fp32', 'fp16', 'bf16', 'fp8', 'int8', 'int4'];
  catalogs.kvDtypes = o?.kv_cache_dtypes ?? ['fp32', 'fp16', 'bf16', 'fp8'];
  catalogs.optimizers = o?.optimizers ?? [{ id: 'adamw', description: 'AdamW' }];
}

export async function reloadModels(): Promise<void> {
  catalogs.models = (await getJson<{ models: ModelRow[] }>('/models')).models;
}

/** A model by id, alias, name or last path segment (case-insensitive). */
export function findModel(q: string): ModelRow | undefined {
  const k = q.trim().toLowerCase();
  if (!k) return undefined;
  return (
    catalogs.models.find((m) => m.id.toLowerCase() === k) ??
    catalogs.models.find(
      (m) =>
        m.name.toLowerCase() === k ||
        m.id.split('/').pop()!.toLowerCase() === k ||
        m.aliases.some((a) => a.toLowerCase() === k),
    )
  );
}

export function modelName(id: string): string {
  if (id.startsWith('pasted:')) return `${id.slice(7)} (pasted config)`;
  return findModel(id)?.name ?? id;
}

export function deviceOf(hwId: string): DeviceRow | undefined {
  const sys = catalogs.systems.find((s) => s.id === hwId);
  return catalogs.devices.find((d) => d.id === (sys ? sys.device : hwId));
}
