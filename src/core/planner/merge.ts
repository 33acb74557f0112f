import { nearestOptions } from './nearest.js';
import { paretoFront } from './pareto.js';
import { nearer, STAGE_ORDER } from './prepare.js';
import type {
  Candidate,
  EstimatePart,
  FamilyState,
  PlanPart,
  PlanRequest,
  PlanResult,
  Rejection,
} from './types.js';

/** The shards' findings as one answer: ranked candidates, Pareto front, rejected families, nearest options. */
export function mergePlans(
  r: PlanRequest,
  estimated: readonly EstimatePart[],
  simulated: readonly PlanPart[],
): PlanResult {
  const candidates = simulated.flatMap((p) => p.candidates).sort(rank);
  const families = new Map<string, FamilyState>();
  for (const f of [...estimated, ...simulated].flatMap((p) => p.families)) {
    const key = `${f.gpu}|${f.engine}|${f.precision}`;
    const g = families.get(key);
    if (!g) families.set(key, { ...f });
    else {
      g.met ||= f.met;
      const further = STAGE_ORDER.indexOf(f.stage) - STAGE_ORDER.indexOf(g.stage);
      if (further > 0 || (further === 0 && nearer(f.miss, f.reason, g)))
        Object.assign(g, { stage: f.stage, reason: f.reason, miss: f.miss });
    }
  }
  const order = (f: Rejection) =>
    [r.devices.findIndex((d) => d.id === f.gpu), r.engines.indexOf(f.engine)] as const;
  const rejected = [...families.values()]
    .filter((f) => !f.met)
    .sort((a, b) => {
      const [da, ea] = order(a);
      const [db, eb] = order(b);
      return da - db || ea - eb || (a.precision < b.precision ? -1 : a.precision > b.precision ? 1 : 0);
    })
    .map(({ met: _met, miss: _miss, ...f }) => f);
  const anyFit = estimated.some((p) => p.anyFit);
  const sum = <T>(parts: readonly T[], f: (p: T) => number) => parts.reduce((a, p) => a + f(p), 0);
  return {
    recommended: candidates[0] ?? null,
    candidates,
    pareto: paretoFront(candidates),
    rejected,
    nearest: candidates.length ? [] : nearestOptions(r, anyFit),
    searched: {
      configurations: sum(estimated, (p) => p.configurations),
      prefiltered: sum(estimated, (p) => p.prefiltered),
      estimated: sum(estimated, (p) => p.estimates.length),
      simulated: sum(simulated, (p) => p.configurations),
      simulations: sum(simulated, (p) => p.simulations),
    },
  };
}

/** Priced before unpriced; then $/M output tokens; then tokens/s per GPU; then fewer GPUs. */
function rank(a: Candidate, b: Candidate): number {
  const ca = a.usd_per_million_output_tokens;
  const cb = b.usd_per_million_output_tokens;
  if ((ca === null) !== (cb === null)) return ca === null ? 1 : -1;
  if (ca !== null && cb !== null && ca !== cb) return ca - cb;
  if (a.output_tokens_per_s_per_gpu !== b.output_tokens_per_s_per_gpu)
    return b.output_tokens_per_s_per_gpu - a.output_tokens_per_s_per_gpu;
  if (a.gpus !== b.gpus) return a.gpus - b.gpus;
  // A fixed order for ties, whatever order the shards finished in.
  const key = (c: Candidate) => `${c.gpu}|${c.layout}|${c.engine}|${c.precision}|${c.kv_precision}`;
  return key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
}
