/** GET /models and GET /hardware: the catalogs as lists (the single-item routes belong to system.ts). */
import { catalog, hardwareSpec, modelSpec } from '../../catalog/index.js';
import { countParameters } from '../../core/arch/index.js';
import type { App, AppContext } from '../context.js';
import { attentionKind, modelClass } from '../describe.js';

const TAG = 'catalog';

interface ModelRow {
  id: string;
  name: string;
  author: string | null;
  family: string | null;
  aliases: string[];
  model_type: string;
  config_model_type: string;
  attention_type: string | null;
  total_parameters: number;
  /** null for imported models (only the total is stored). */
  active_parameters: number | null;
  source: 'model_dict' | 'database';
}

export function registerListRoutes(app: App, ctx: AppContext): void {
  app.get(
    '/models',
    { schema: { tags: [TAG], summary: 'Built-in and imported models: id, name, type, parameters' } },
    async () => {
      const c = catalog();
      const models: ModelRow[] = c.models.items.map((e) => {
        const spec = modelSpec(e);
        const p = countParameters(spec);
        return {
          id: e.id,
          name: e.name,
          author: e.author,
          family: e.family,
          aliases: e.aliases,
          model_type: modelClass(spec),
          config_model_type: spec.modelType,
          attention_type: attentionKind(spec),
          total_parameters: p.total,
          active_parameters: p.active,
          source: 'model_dict',
        };
      });
      const stored = ctx.store ? await ctx.store.listSummaries() : [];
      for (const s of stored) {
        if (c.models.find(s.id)) continue;
        models.push({
          id: s.id,
          name: s.name,
          author: s.author,
          family: null,
          aliases: [],
          model_type: s.model_type,
          config_model_type: s.shape.model_type ?? '',
          attention_type: s.attention_type,
          total_parameters: s.parameter_count,
          active_parameters: null,
          source: 'database',
        });
      }
      return { models, count: models.length };
    },
  );

  app.get(
    '/hardware',
    { schema: { tags: [TAG], summary: 'Devices (memory in bytes, bandwidth, dense FLOP/s) and systems' } },
    async () => {
      const c = catalog();
      return {
        devices: c.devices.items.map((d) => {
          const h = hardwareSpec(d);
          return {
            id: d.id,
            name: d.name,
            vendor: d.vendor,
            kind: d.kind,
            aliases: d.aliases,
            memory_bytes: h.memoryBytes,
            visible_memory_bytes: h.visibleMemoryBytes,
            memory_gb: Math.round(h.memoryBytes / 1e7) / 100,
            memory_bandwidth_bytes_per_s: h.memoryBandwidthBytesPerS,
            dense_flops: h.denseFlops,
            interconnect_bytes_per_s: h.interconnectBytesPerS,
          };
        }),
        systems: c.systems.items.map((s) => ({
          id: s.id,
          name: s.name,
          device: s.device,
          devices_per_node: s.devices_per_node,
          nodes: s.nodes,
          num_chips: s.devices_per_node * s.nodes,
          aliases: s.aliases,
        })),
      };
    },
  );
}
