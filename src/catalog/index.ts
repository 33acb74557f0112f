/**
 * The built-in catalog: models (real config.json files with metadata) and hardware (devices and systems with
 * sources), loaded from the JSON files beside this module, validated, and looked up by id or alias.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closest, distance } from 'fastest-levenshtein';
import type { z } from 'zod';
import { specFromConfig, type ModelSpec } from '../core/arch/index.js';
import { DRIVER_RESERVED_FRACTION, type HardwareSpec } from '../core/hardware/spec.js';
import type { Links } from '../core/perf/step.js';
import {
  deviceEntry,
  modelFile,
  systemEntry,
  type DeviceEntry,
  type ModelEntry,
  type ModelFile,
  type SystemEntry,
} from './schema.js';

/** JSON data lives in src/catalog; the compiled module in dist/catalog finds it from the package root. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DATA = join(ROOT, 'src', 'catalog');

export class NotFoundError extends Error {
  constructor(
    readonly kind: 'model' | 'hardware',
    readonly query: string,
    readonly suggestions: string[],
  ) {
    super(
      `unknown ${kind} '${query}'` +
        (suggestions.length ? `; did you mean ${suggestions.map((s) => `'${s}'`).join(', ')}?` : ''),
    );
    this.name = 'NotFoundError';
  }
}

export class CatalogError extends Error {}

function loadDir<T>(dir: string, schema: z.ZodType<T>): T[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.sort().map((f) => {
    const raw = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const r = schema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new CatalogError(`catalog file ${f}: ${issue.path.join('.')} ${issue.message}`);
    }
    return r.data;
  });
}

/**
 * A name under which an entry is found, and how strongly it names it: rank 0 (an id or a declared alias) must be
 * unique; for a weaker key (a repo's name without its org) the lowest rank wins and a tie leaves the key to
 * nobody, so that 'Llama-3.1-8B-Instruct' means Meta's repo, not whichever re-upload sorts first.
 */
type Key = [key: string, rank: number];

/** Case-insensitive index over ids and aliases, with nearest-name suggestions. */
class Index<T> {
  private readonly byKey = new Map<string, { item: T | null; rank: number }>();
  constructor(
    readonly kind: 'model' | 'hardware',
    readonly items: T[],
    keys: (t: T) => Key[],
  ) {
    for (const it of items) {
      for (const [k, rank] of keys(it)) {
        const key = normKey(k);
        const prior = this.byKey.get(key);
        if (prior && prior.item === it) continue;
        if (prior && rank === 0 && prior.rank === 0)
          throw new CatalogError(`catalog: '${k}' names two ${kind} entries`);
        if (!prior || rank < prior.rank) this.byKey.set(key, { item: it, rank });
        else if (rank === prior.rank) prior.item = null;
      }
    }
  }
  find(q: string): T | undefined {
    return this.byKey.get(normKey(q))?.item ?? undefined;
  }
  get(q: string): T {
    const hit = this.find(q);
    if (hit) return hit;
    throw new NotFoundError(this.kind, q, this.suggest(q));
  }
  suggest(q: string, n = 3): string[] {
    const key = normKey(q);
    const keys = [...this.byKey.entries()].filter(([, v]) => v.item !== null).map(([k]) => k);
    if (!keys.length) return [];
    const scored = keys
      .map((k) => ({ k, d: k.includes(key) || key.includes(k) ? 0 : distance(k, key) }))
      .sort((a, b) => a.d - b.d || a.k.length - b.k.length);
    const out = new Set<string>([closest(key, keys)]);
    for (const s of scored) {
      if (out.size >= n) break;
      out.add(s.k);
    }
    return [...out].slice(0, n);
  }
}

/** Case, spaces and underscores do not distinguish names ("H100 SXM 80GB" = "h100-sxm-80gb"). */
function normKey(s: string): string {
  return s
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
}

function modelKeys(m: ModelEntry): Key[] {
  const [org, last] = m.id.split('/') as [string, string];
  // A repo's bare name goes to the model's own publisher (the org of the file's repo) before a re-upload's.
  const publisher = (m.variant_of ?? m.id).split('/')[0]!;
  const rank = org.toLowerCase() === publisher.toLowerCase() ? 1 : 2;
  // An alias that is itself a repo id (a former or mirrored name) lends its bare name too.
  const bare = m.aliases.filter((a) => a.includes('/')).map((a): Key => [a.split('/')[1]!, rank]);
  return [[m.id, 0], ...m.aliases.map((a): Key => [a, 0]), [last, rank], ...bare];
}

/** A file's own entry and one entry per variant, each with its config.json as that repo publishes it. */
export function expandModelFile(f: ModelFile): ModelEntry[] {
  const { variants, ...base } = f;
  return [
    base,
    ...variants.map((v) => {
      const config: Record<string, unknown> = { ...base.config, ...v.config_changes };
      for (const k of v.config_removed) delete config[k];
      const entry: ModelEntry = {
        ...base,
        id: v.id,
        name: v.name ?? v.id.split('/')[1]!,
        author: v.id.split('/')[0]!,
        aliases: v.aliases,
        source: v.source,
        completeness: v.completeness,
        config,
        variant_of: base.id,
      };
      // The Hub's figures are the variant repo's own, never the original's.
      delete entry.hub;
      if (v.hub) entry.hub = v.hub;
      // Another org's re-upload is not gated like the original and was released on its own date.
      if (entry.author.toLowerCase() !== base.author.toLowerCase()) {
        delete entry.gated;
        delete entry.release_date;
      }
      for (const k of ['release_date', 'license', 'gated'] as const)
        if (v[k] !== undefined) (entry as Record<string, unknown>)[k] = v[k];
      return entry;
    }),
  ];
}

export interface Catalog {
  models: Index<ModelEntry>;
  devices: Index<DeviceEntry>;
  systems: Index<SystemEntry>;
}

let loaded: Catalog | null = null;

export function catalog(): Catalog {
  if (loaded) return loaded;
  const models = loadDir(join(DATA, 'models'), modelFile).flatMap(expandModelFile);
  const devices = loadDir(join(DATA, 'hardware', 'devices'), deviceEntry);
  const systems = loadDir(join(DATA, 'hardware', 'systems'), systemEntry);
  const c: Catalog = {
    models: new Index('model', models, modelKeys),
    devices: new Index('hardware', devices, (d) => [d.id, ...d.aliases].map((k): Key => [k, 0])),
    systems: new Index('hardware', systems, (s) => [s.id, ...s.aliases].map((k): Key => [k, 0])),
  };
  for (const s of systems) {
    if (!c.devices.find(s.device))
      throw new CatalogError(`catalog system ${s.id}: unknown device '${s.device}'`);
  }
  loaded = c;
  return c;
}

const specs = new Map<string, ModelSpec>();

/** The architecture of a catalog model (parsed once). */
export function modelSpec(entry: ModelEntry): ModelSpec {
  let s = specs.get(entry.id);
  if (!s) specs.set(entry.id, (s = specFromConfig(entry.config)));
  return s;
}

export function findModel(name: string): ModelEntry {
  return catalog().models.get(name);
}

/** A device by id or alias; a system id resolves to its device. */
export function findDevice(name: string): DeviceEntry {
  const c = catalog();
  const d = c.devices.find(name);
  if (d) return d;
  const s = c.systems.find(name);
  if (s) return c.devices.get(s.device);
  const pool = [...c.devices.suggest(name, 3), ...c.systems.suggest(name, 1)];
  throw new NotFoundError('hardware', name, pool.slice(0, 4));
}

export function hardwareSpec(d: DeviceEntry): HardwareSpec {
  const flops: HardwareSpec['denseFlops'] = {};
  for (const [k, v] of Object.entries(d.dense_flops))
    if (v && v.value > 0) flops[k as keyof typeof flops] = v.value;
  const memory = d.memory_bytes.value;
  return {
    id: d.id,
    name: d.name,
    vendor: d.vendor,
    kind: d.kind,
    architecture: d.architecture ?? '',
    memoryBytes: memory,
    visibleMemoryBytes: d.visible_memory_bytes?.value ?? memory * (1 - DRIVER_RESERVED_FRACTION),
    memoryBandwidthBytesPerS: d.memory_bandwidth_bytes_per_s.value,
    denseFlops: flops,
    interconnectBytesPerS: d.interconnect?.bandwidth_bytes_per_s.value ?? null,
    tdpW: d.tdp_w?.value ?? null,
  };
}

export type { ModelEntry, DeviceEntry, SystemEntry };

/** The links of a named system (NVLink domain size, intra- and inter-node bandwidth and latency); null for a device. */
export function systemLinks(name: string): Links | null {
  const s = catalog().systems.find(name);
  if (!s || !s.intra_node_link) return null;
  const link = (l: NonNullable<SystemEntry['intra_node_link']>) => ({
    name: l.name,
    bandwidthBytesPerS: l.bandwidth_bytes_per_s.value,
    latencyS: l.latency_s?.value ?? 3e-6,
  });
  return {
    intra: link(s.intra_node_link),
    inter: s.inter_node_link ? link(s.inter_node_link) : null,
    devicesPerNode: s.devices_per_node,
  };
}
