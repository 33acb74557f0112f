import type { Command } from 'commander';
import { countParameters } from '../../core/arch/index.js';
import { weightLayout } from '../../core/memory/weights.js';
import { weightsByPrecision, wantsAll } from '../all-precisions.js';
import { gb, printJson, printTable } from '../output.js';
import { resolveModel } from '../resolve.js';

export function registerParams(program: Command): void {
  program
    .command('params')
    .description('exact parameter count of a model, tensor by tensor, with a breakdown')
    .argument('<model>', 'catalog id or alias, or a path to a config.json')
    .option('--json', 'print JSON')
    .option('--explain', 'show how the figure was counted')
    .option('--precision <p>', "'all': the weights' size in every common format (or one format)")
    .action((model: string, o: { json?: boolean; explain?: boolean; precision?: string }) => {
      const m = resolveModel(model);
      const c = countParameters(m.spec);
      if (o.precision !== undefined) {
        const rows = wantsAll(o.precision)
          ? weightsByPrecision(m.spec)
          : [{ precision: o.precision, weights_bytes: weightLayout(m.spec, o.precision).total }];
        if (o.json) return printJson({ model: m.id, total_parameters: c.total, weights: rows });
        printTable(
          ['precision', 'weights (bytes)', 'GB (10^9 B)', 'GiB'],
          rows.map((r) => [
            r.precision,
            r.weights_bytes.toLocaleString('en-US'),
            gb(r.weights_bytes),
            `${(r.weights_bytes / 2 ** 30).toFixed(2)} GiB`,
          ]),
        );
        process.stdout.write(`${m.id}: ${c.total.toLocaleString('en-US')} parameters\n`);
        return;
      }
      const groups = m.spec.groups.map((g) => ({
        group: g.name,
        layers: g.count,
        parameters_per_layer: g.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0),
      }));
      const out = {
        model: m.id,
        model_type: m.spec.modelType,
        total_parameters: c.total,
        active_parameters: c.active,
        breakdown: c.breakdown,
        tied_embeddings: m.spec.tiedEmbeddings,
        layer_groups: groups,
        warnings: m.spec.warnings,
        ...(o.explain
          ? {
              trace: [
                {
                  figure: 'total_parameters',
                  value: c.total,
                  unit: 'parameters',
                  formula:
                    'sum over layer groups of layers · parameters per layer + embeddings, final norm, head (tied once)',
                  inputs: Object.fromEntries(
                    groups.map((g) => [g.group, `${g.layers} x ${g.parameters_per_layer}`]),
                  ),
                },
              ],
            }
          : {}),
      };
      if (o.json) return printJson(out);
      printTable(
        ['model', 'total parameters', 'active parameters'],
        [[m.id, c.total.toLocaleString('en-US'), c.active.toLocaleString('en-US')]],
      );
      printTable(
        ['component', 'parameters'],
        Object.entries(c.breakdown)
          .filter(([, v]) => v > 0)
          .map(([k, v]) => [k, v.toLocaleString('en-US')]),
      );
      if (o.explain)
        printTable(
          ['layer group', 'layers', 'parameters per layer'],
          groups.map((g) => [g.group, g.layers, g.parameters_per_layer.toLocaleString('en-US')]),
        );
    });
}
