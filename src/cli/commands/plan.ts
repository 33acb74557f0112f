/**
 * `infersim plan`: with a workload (--users N or --rate R, --isl, --osl) and latency limits, the cheapest
 * deployments that serve it (core/planner: devices × layouts × precisions × engines × replicas, simulated, ranked
 * by $/M output tokens). Without a workload: the single-sequence plan of before (fewest devices that fit, then
 * fastest), on one --gpu.
 */
import { Presets, SingleBar } from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { defaultKvPrecision } from '../../core/defaults.js';
import { recommendPlans } from '../../core/parallel/recommend.js';
import { type Candidate, type PlanResult, type PricePolicy } from '../../core/planner/index.js';
import { checkMargin } from '../../core/planner/limits.js';
import { ENGINE_IDS, type EngineId } from '../../core/serving/index.js';
import { planDevices } from '../../catalog/prices/devices.js';
import { choice, int, LIMITS } from '../options.js';
import { duration, gb, printJson, printTable } from '../output.js';
import { resolveHardware, resolveModel, UsageError } from '../resolve.js';
import { defaultWorkers, planInWorkers } from '../../workers/plan-workers.js';
import { planTrain, trainPlanOptions, type PlanTrainOpts } from './plan-train.js';

interface Opts {
  train?: boolean;
  gpu?: string;
  seq: number;
  precision?: string;
  kvPrecision?: string;
  maxGpus?: number;
  json?: boolean;
  users?: number;
  rate?: number;
  isl?: number;
  osl?: number;
  ttftMs?: number;
  tpotMs?: number;
  e2eMs?: number;
  percentile: 50 | 90 | 99;
  limitMargin?: number;
  engine?: string;
  pricePerGpuHour?: number;
  prices?: string;
  pricePolicy: PricePolicy;
  top: number;
  workers?: number;
  disagg?: boolean;
  exhaustive?: boolean;
}

function positive(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number (got '${v}')`);
    return n;
  };
}

function list(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export const MARK = '►';

export function registerPlan(program: Command): void {
  trainPlanOptions(program.command('plan'))
    .description(
      'cheapest deployment for a workload (--users or --rate, --isl, --osl, latency limits); without one, the parallel plan of one sequence on --gpu',
    )
    .argument('<model>', 'catalog id or alias, or a path to a config.json')
    .option(
      '--users <n>',
      'concurrent users (a closed loop, as serving benchmarks measure)',
      int('--users', 1, 10_000_000),
    )
    .option('--rate <r>', 'requests per second (Poisson arrivals)', positive('--rate'))
    .option('--isl <n>', 'prompt tokens per request', int('--isl', 1, LIMITS.seq))
    .option('--osl <n>', 'output tokens per request', int('--osl', 1, LIMITS.seq))
    .option('--ttft-ms <x>', 'time-to-first-token limit', positive('--ttft-ms'))
    .option('--tpot-ms <y>', 'time-per-output-token limit', positive('--tpot-ms'))
    .option('--e2e-ms <z>', 'end-to-end latency limit', positive('--e2e-ms'))
    .option(
      '--percentile <p>',
      'percentile the limits apply to: 50, 90 or 99',
      (v) => {
        if (!['50', '90', '99'].includes(v))
          throw new InvalidArgumentError(`--percentile must be 50, 90 or 99 (got '${v}')`);
        return Number(v) as 50 | 90 | 99;
      },
      50,
    )
    .option(
      '--limit-margin <f>',
      'a prediction up to this fraction over a limit counts as meeting it, from 0 to below 0.5 (default 0)',
      (v) => {
        const n = Number(v);
        const bad = v.trim() === '' ? 'a number is required' : checkMargin(n);
        if (bad) throw new InvalidArgumentError(`--limit-margin: ${bad}`);
        return n;
      },
    )
    .option(
      '--gpu <ids>',
      "device or system ids, comma-separated, or 'all' (default: every GPU with a price)",
    )
    .option('--engine <ids>', `engines, comma-separated: ${ENGINE_IDS.join(', ')} (default all)`)
    .option(
      '--precision <p>',
      "weight formats, comma-separated (default: the model's, and fp8); one sequence: 'auto'",
    )
    .option(
      '--kv-precision <p>',
      'KV-cache dtypes, comma-separated (default: the model dtype, and fp8 where computed)',
    )
    .option(
      '--max-gpus <n>',
      'most GPUs in all (default 16 with a workload, 64 without)',
      int('--max-gpus', 1, 512),
    )
    .option(
      '--price-per-gpu-hour <usd>',
      'price of every device, USD per GPU-hour',
      positive('--price-per-gpu-hour'),
    )
    .option('--prices <file>', 'prices file (JSON) laid over the catalog (default env INFERSIM_PRICES)')
    .option(
      '--price-policy <p>',
      "which provider's price: median or min",
      choice('--price-policy', ['median', 'min'] as const),
      'median',
    )
    .option(
      '--disagg',
      'also search disaggregated replicas: prefill and decode workers of one layout at 1:1, 1:2, 1:3 or 2:1',
    )
    .option(
      '--exhaustive',
      'simulate every configuration past the pre-filter (slow; default: those the steady-state estimate ranks near the top)',
    )
    .option('--top <n>', 'rows in the table', int('--top', 1, 1000), 15)
    .option(
      '--workers <n>',
      'worker threads for the search (default: cores − 1, at most 8)',
      int('--workers', 1, 64),
    )
    .option('--seq <n>', 'one sequence: longest sequence to hold', int('--seq', 2, LIMITS.seq), 4096)
    .option('--json', 'print JSON')
    .action(async (model: string, o: Opts & Partial<PlanTrainOpts>) => {
      if (o.train) return planTrain(model, o as PlanTrainOpts);
      const workload = o.users !== undefined || o.rate !== undefined;
      if (!workload) {
        if (o.isl !== undefined || o.osl !== undefined || o.ttftMs !== undefined || o.tpotMs !== undefined)
          throw new UsageError('a plan with limits needs a workload: --users N or --rate R');
        return singleSequence(model, o);
      }
      if (o.users !== undefined && o.rate !== undefined)
        throw new UsageError('give --users or --rate, not both');
      if (o.isl === undefined || o.osl === undefined)
        throw new UsageError('a workload needs --isl N and --osl N');
      const engines = o.engine ? (list(o.engine) as EngineId[]) : [...ENGINE_IDS];
      for (const e of engines)
        if (!ENGINE_IDS.includes(e))
          throw new UsageError(`--engine must be among ${ENGINE_IDS.join(', ')} (got '${e}')`);
      const m = resolveModel(model);
      const gpus = o.gpu === undefined ? undefined : o.gpu === 'all' ? 'all' : list(o.gpu);
      const devices = planDevices(gpus, {
        pricesFile: o.prices,
        pricePerGpuHour: o.pricePerGpuHour,
        pricePolicy: o.pricePolicy,
      });
      const bar =
        process.stderr.isTTY && !o.json
          ? new SingleBar(
              { format: 'planning [{bar}] {value}/{total} configurations', clearOnComplete: true },
              Presets.shades_classic,
            )
          : null;
      let started = false;
      const res = await planInWorkers(
        {
          spec: m.spec,
          devices,
          users: o.users,
          rate: o.rate,
          isl: o.isl,
          osl: o.osl,
          limits: {
            ttftMs: o.ttftMs,
            tpotMs: o.tpotMs,
            e2eMs: o.e2eMs,
            percentile: o.percentile,
            margin: o.limitMargin,
          },
          engines,
          precisions: o.precision ? list(o.precision) : undefined,
          kvPrecisions: o.kvPrecision ? list(o.kvPrecision) : undefined,
          maxGpus: o.maxGpus ?? 16,
          disagg: o.disagg,
          exhaustive: o.exhaustive,
        },
        o.workers ?? defaultWorkers(),
        bar
          ? (done, total) => {
              if (!started) {
                bar.start(total, 0);
                started = true;
              }
              bar.setTotal(total);
              bar.update(done);
            }
          : undefined,
      );
      bar?.stop();
      const prices = devices.map((d) => ({ gpu: d.id, price: d.price }));
      if (o.json)
        return printJson({
          model: m.id,
          workload: { users: o.users ?? null, rate: o.rate ?? null, isl: o.isl, osl: o.osl },
          limits: {
            ttft_ms: o.ttftMs ?? null,
            tpot_ms: o.tpotMs ?? null,
            e2e_ms: o.e2eMs ?? null,
            percentile: o.percentile,
            margin: o.limitMargin ?? 0,
          },
          ...res,
          prices,
        });
      printPlan(m.id, res, prices, o.top);
    });
}

const same = (a: Candidate, b: Candidate | null) => b !== null && JSON.stringify(a) === JSON.stringify(b);

const f = (x: number | null, d: number) => (x === null || !Number.isFinite(x) ? '–' : x.toFixed(d));

function row(c: Candidate, mark: string): (string | number)[] {
  return [
    mark,
    c.gpu,
    c.gpus,
    `${c.layout}${c.replicas > 1 ? ` ×${c.replicas}` : ''}`,
    c.engine,
    c.kv_precision === c.precision ? c.precision : `${c.precision} / kv ${c.kv_precision}`,
    duration(c.ttft_ms / 1e3),
    duration(c.tpot_ms / 1e3),
    f(c.output_tokens_per_s, 0),
    f(c.output_tokens_per_s_per_gpu, 0),
    f(c.output_tokens_per_s_per_user, 1),
    f(c.usd_per_hour, 2),
    f(c.usd_per_million_output_tokens, 3),
  ];
}

function printPlan(
  model: string,
  res: PlanResult,
  prices: { gpu: string; price: Candidate['price_source'] }[],
  top: number,
): void {
  const w = process.stdout.write.bind(process.stdout);
  const r = res.recommended;
  if (r)
    w(
      `recommended for ${model}: ${r.gpus}× ${r.gpu} (${r.layout}${r.replicas > 1 ? ` × ${r.replicas} replicas` : ''}), ` +
        `${r.engine}, ${r.precision}` +
        (r.usd_per_million_output_tokens !== null
          ? ` — $${r.usd_per_hour!.toFixed(2)}/h, $${r.usd_per_million_output_tokens.toFixed(3)} per million output tokens\n`
          : ' — no price for this device\n'),
    );
  else w(`no configuration of ${model} meets the limits\n`);
  if (res.candidates.length)
    printTable(
      [
        '',
        'gpu',
        'gpus',
        'layout',
        'engine',
        'precision',
        'TTFT',
        'TPOT',
        'tok/s',
        'tok/s/GPU',
        'tok/s/user',
        '$/h',
        '$/M out',
      ],
      // Compared by value: the search runs in worker threads, so `recommended` is a copy, not the row itself.
      res.candidates
        .slice(0, top)
        .map((c) => row(c, same(c, r) ? MARK : res.pareto.some((p) => same(c, p)) ? '·' : '')),
    );
  if (res.candidates.length) w(`${MARK} recommended · on the Pareto front of cost vs tokens/s per user\n`);
  for (const { gpu, price } of prices) {
    if (!res.candidates.some((c) => c.gpu === gpu) && !res.rejected.some((x) => x.gpu === gpu)) continue;
    if (!price) w(`price: ${gpu}: no price known (give --price-per-gpu-hour or --prices FILE)\n`);
    else if (price.policy === 'override') w(`price: ${gpu}: $${price.usd_per_gpu_hour}/GPU-hour as given\n`);
    else
      w(
        `price: ${gpu}: $${price.usd_per_gpu_hour}/GPU-hour (${price.provider}, ${price.region}, ${price.as_of}; ${price.policy} of ${price.providers} provider(s), ` +
          `min $${price.min_usd_per_gpu_hour} at ${price.min_provider}) ${price.source_url}\n`,
      );
  }
  if (res.rejected.length) {
    w('rejected:\n');
    for (const x of res.rejected) w(`  ${x.gpu} · ${x.engine} · ${x.precision}: ${x.reason}\n`);
  }
  for (const s of res.nearest) w(`nearest option (${s.change}): ${s.description}\n`);
  w(
    `searched ${res.searched.configurations} configurations: ${res.searched.prefiltered} pruned by memory and ideal-latency bounds, ${res.searched.estimated} estimated, ${res.searched.simulated} simulated (${res.searched.simulations} simulations)\n`,
  );
}

/** The plan of one sequence (before workloads): fewest devices that fit, then fastest; the table marks it. */
function singleSequence(model: string, o: Opts): void {
  if (!o.gpu)
    throw new UsageError(
      'plan needs --gpu <id> (see `infersim hardware`), or a workload: --users N or --rate R',
    );
  const precision = o.precision ?? 'auto';
  const m = resolveModel(model);
  const hw = resolveHardware(o.gpu);
  const maxGpus = o.maxGpus ?? 64;
  const plans = recommendPlans(m.spec, hw, {
    precision,
    kvPrecision: o.kvPrecision ?? defaultKvPrecision(m.spec, precision),
    seq: o.seq,
    maxDevices: maxGpus,
    // one engine bounds the single-sequence plan's throughput (the first named, vLLM by default)
    engine: o.engine ? (list(o.engine)[0] as EngineId) : 'vllm',
  });
  const best = plans.find((p) => p.fits && p.output_tokens_per_s > 0) ?? null;
  if (o.json)
    return printJson({
      model: m.id,
      gpu: hw.id,
      seq: o.seq,
      recommended: best,
      alternatives: plans.filter((p) => p !== best),
    });
  if (!best) process.stdout.write(`no plan of up to ${maxGpus} devices fits\n`);
  printTable(
    ['', 'tp', 'pp', 'ep', 'devices', 'memory/device', 'fits', 'output tokens/s'],
    plans
      .slice(0, 15)
      .map((p) => [
        p === best ? MARK : '',
        p.plan.tp,
        p.plan.pp,
        p.plan.ep,
        p.devices,
        gb(p.memory_per_device_bytes),
        p.fits ? 'yes' : 'no',
        p.output_tokens_per_s.toFixed(0),
      ]),
  );
  if (best) process.stdout.write(`${MARK} recommended\n`);
}
