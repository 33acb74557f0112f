import type { Command } from 'commander';
import { catalog, hardwareSpec, modelSpec } from '../../catalog/index.js';
import { countParameters } from '../../core/arch/index.js';
import { printJson, printTable } from '../output.js';

export function registerCatalog(program: Command): void {
  program
    .command('models')
    .description('the built-in model catalog')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const rows = catalog().models.items.map((m) => {
        const c = countParameters(modelSpec(m));
        return {
          id: m.id,
          name: m.name,
          family: m.family,
          model_type: String(m.config['model_type'] ?? ''),
          total_parameters: c.total,
          active_parameters: c.active,
          aliases: m.aliases,
          config_completeness: m.completeness,
        };
      });
      if (o.json) return printJson(rows);
      printTable(
        ['id', 'type', 'parameters', 'active'],
        rows.map((r) => [
          r.id,
          r.model_type,
          (r.total_parameters / 1e9).toFixed(2) + 'B',
          (r.active_parameters / 1e9).toFixed(2) + 'B',
        ]),
      );
    });
  program
    .command('hardware')
    .description('the built-in devices and systems')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const c = catalog();
      const rows = [
        ...c.devices.items.map((d) => {
          const h = hardwareSpec(d);
          return {
            id: d.id,
            name: d.name,
            type: 'device',
            memory_bytes: h.memoryBytes,
            visible_memory_bytes: h.visibleMemoryBytes,
            memory_bandwidth_bytes_per_s: h.memoryBandwidthBytesPerS,
            dense_flops: h.denseFlops,
            aliases: d.aliases,
          };
        }),
        ...c.systems.items.map((s) => ({
          id: s.id,
          name: s.name,
          type: 'system',
          device: s.device,
          devices: s.devices_per_node * s.nodes,
          aliases: s.aliases,
        })),
      ];
      if (o.json) return printJson(rows);
      printTable(
        // GB (10^9 B) as every result table; 'visible' is what the fit verdicts compare with.
        ['id', 'name', 'memory (GB)', 'visible (GB)', 'bandwidth (TB/s)', 'bf16 dense (TFLOP/s)'],
        rows.map((r) =>
          'memory_bytes' in r
            ? [
                r.id,
                r.name,
                (r.memory_bytes / 1e9).toFixed(2),
                (r.visible_memory_bytes / 1e9).toFixed(2),
                (r.memory_bandwidth_bytes_per_s / 1e12).toFixed(2),
                ((r.dense_flops.bf16 ?? 0) / 1e12).toFixed(0),
              ]
            : [r.id, r.name, `${r.devices} x ${r.device}`, '', '', ''],
        ),
      );
    });
}
