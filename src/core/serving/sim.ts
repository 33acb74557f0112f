/**
 * The event loop: engine instances (one per replica or worker) step through their ranks' schedules; requests
 * arrive (closed loop, rate or trace), run, finish, and in disaggregated serving move from a prefill worker to a
 * decode worker after their KV transfer. Between events, decode-only steps are advanced many at once.
 */
import { InputError } from '../memory/inference.js';
import type { EngineConfig } from './engines.js';
import { GapLog } from './metrics.js';
import { Requests } from './requests.js';
import { Rank, type RankStep } from './scheduler.js';
import type { ServingPlan, StepTimer } from './step-time.js';
import type { TraceRequest } from './workload.js';

export type Role = 'both' | 'prefill' | 'decode';

export interface InstanceSpec {
  role: Role;
  plan: ServingPlan;
  engine: EngineConfig;
  /** KV blocks of one attention-DP rank. */
  blocksPerRank: number;
  timer: StepTimer;
  /** Attention-DP ranks simulated (default all); the others are taken to run the same load, so the MoE layers see
   * attentionDp / ranks times the simulated tokens. */
  ranks?: number;
  /** Multiplies step times: a worker shared with load that is not simulated (mean field). */
  timeScale?: number;
}

export interface SimOptions {
  instances: InstanceSpec[];
  requests: TraceRequest[];
  /** Closed loop: users in flight (requests' arrivals are their predecessors' completions); null: open loop. */
  users: number | null;
  /** KV transfer time of a request from its prefill to its decode worker (disaggregated). */
  transferS?: (input: number) => number;
  /**
   * Closed loop: when each of the first `users` requests is sent (s, default all at 0). Users that start apart stay
   * apart while their requests take equal time, as a benchmark's users drift apart after its first wave.
   */
  starts?: readonly number[];
  /**
   * Closed loop: the wave each of the first `users` users belongs to (ids from 0). A wave's users send their next
   * requests together, when the last of them has finished, so waves persist; without it each user sends on its own.
   */
  waves?: readonly number[];
  /** Time from a request's send to its arrival in the engine's queue (s): the front end's fixed latency. */
  entryDelayS?: number;
  /** Step by step at exact contexts (the reference the fast path is tested against). */
  exact?: boolean;
  collectGaps?: boolean;
  hashBlockTokens?: number;
  /** Called as requests finish (every 256), for progress bars. */
  onProgress?: (finished: number, total: number) => void;
}

export interface SimResult {
  requests: Requests;
  gaps: GapLog | null;
  steps: number;
  preemptions: number;
}

class Instance {
  readonly ranks: Rank[];
  busyUntil = NaN;
  start = 0;
  steps: RankStep[] = [];
  /** Steps the pending work covers (> 1 for a decode run). */
  k = 1;
  cells: { value: number; steps: number }[] = [];
  firstStepS = 0;

  readonly tokenScale: number;
  readonly timeScale: number;

  constructor(
    readonly spec: InstanceSpec,
    R: Requests,
    hashBlockTokens: number,
  ) {
    this.tokenScale = spec.plan.attentionDp / (spec.ranks ?? spec.plan.attentionDp);
    this.timeScale = spec.timeScale ?? 1;
    this.ranks = Array.from(
      { length: spec.ranks ?? spec.plan.attentionDp },
      () => new Rank(spec.engine, R, spec.blocksPerRank, hashBlockTokens),
    );
  }

  get load(): number {
    let l = 0;
    for (const r of this.ranks) l += r.load;
    return l;
  }

  leastLoadedRank(): number {
    let best = 0;
    for (let i = 1; i < this.ranks.length; i++) if (this.ranks[i]!.load < this.ranks[best]!.load) best = i;
    return best;
  }
}

/** A binary min-heap of (time, request), ties in request order (first sent, first served). */
class Heap {
  private readonly t: number[] = [];
  private readonly r: number[] = [];
  get size(): number {
    return this.t.length;
  }
  top(): number {
    return this.t.length ? this.t[0]! : Infinity;
  }
  push(time: number, req: number): void {
    const t = this.t;
    const r = this.r;
    let i = t.length;
    t.push(time);
    r.push(req);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p]! < t[i]! || (t[p] === t[i] && r[p]! < r[i]!)) break;
      [t[p], t[i]] = [t[i]!, t[p]!];
      [r[p], r[i]] = [r[i]!, r[p]!];
      i = p;
    }
  }
  pop(): number {
    const t = this.t;
    const r = this.r;
    const out = r[0]!;
    const lt = t.pop()!;
    const lr = r.pop()!;
    if (t.length) {
      t[0] = lt;
      r[0] = lr;
      let i = 0;
      for (;;) {
        const a = 2 * i + 1;
        const b = a + 1;
        let m = i;
        if (a < t.length && (t[a]! < t[m]! || (t[a] === t[m] && r[a]! < r[m]!))) m = a;
        if (b < t.length && (t[b]! < t[m]! || (t[b] === t[m] && r[b]! < r[m]!))) m = b;
        if (m === i) break;
        [t[m], t[i]] = [t[i]!, t[m]!];
        [r[m], r[i]] = [r[i]!, r[m]!];
        i = m;
      }
    }
    return out;
  }
}

/** Input that can never be served (a request larger than the KV cache): the caller's error, not a crash. */
export class StuckError extends InputError {}

export function simulate(o: SimOptions): SimResult {
  const M = o.requests.length;
  const R = new Requests(M);
  for (const q of o.requests) R.add(q.arrivalS, q.input, q.output, q.hashes ?? null);
  const hbt = o.hashBlockTokens ?? 512;
  const inst = o.instances.map((s) => new Instance(s, R, hbt));
  const entry = inst.filter((i) => i.spec.role !== 'decode');
  const decoders = inst.filter((i) => i.spec.role === 'decode');
  const gaps = o.collectGaps ? new GapLog() : null;
  const transfers = new Heap();
  /** Requests sent but not yet through the front end (entryDelayS), or closed-loop users not yet started. */
  const entering = new Heap();
  const delay = o.entryDelayS ?? 0;
  let issued = 0;
  let finished = 0;
  let steps = 0;
  let preemptions = 0;

  const leastLoaded = (pool: Instance[]): Instance => {
    let best = pool[0]!;
    for (const i of pool) if (i.load < best.load) best = i;
    return best;
  };
  const dispatch = (r: number, pool: Instance[]): void => {
    const i = leastLoaded(pool);
    const k = i.leastLoadedRank();
    R.rank[r] = k;
    i.ranks[k]!.enqueue(r);
  };
  /** Send the next request at time `t` (now: the simulation's clock); it enters the engine at t + delay. */
  const issue = (t: number, now: number): void => {
    const r = issued++;
    if (o.users !== null) R.arrival[r] = t;
    if (t + delay > now) entering.push(t + delay, r);
    else dispatch(r, entry);
  };
  // Closed-loop waves: the user of each request, the users of each wave, and how many of them are done.
  const waves = o.users !== null ? o.waves : undefined;
  const userOf = waves ? new Int32Array(M) : null;
  const members: number[][] = [];
  const done: number[] = [];
  if (waves)
    waves.forEach((w, u) => {
      (members[w] ??= []).push(u);
      done[w] = 0;
    });
  const finish = (r: number, t: number): void => {
    R.finish[r] = t;
    finished++;
    if (o.onProgress && (finished & 255) === 0) o.onProgress(finished, M);
    if (o.users === null) return;
    if (!userOf) {
      if (issued < M) issue(t, t);
      return;
    }
    const w = waves![userOf[r]!]!;
    if (++done[w]! < members[w]!.length) return;
    done[w] = 0;
    for (const u of members[w]!) {
      if (issued >= M) break;
      userOf[issued] = u;
      issue(t, t);
    }
  };

  /** Apply the pending work of an instance that ends at t. */
  const complete = (ins: Instance, t: number): void => {
    const role = ins.spec.role;
    const k = ins.k;
    let shared = 0; // decodes whose gaps are the steps' own durations
    for (let ri = 0; ri < ins.ranks.length; ri++) {
      const rank = ins.ranks[ri]!;
      const st = ins.steps[ri]!;
      const items = st.items;
      let done = false;
      for (let j = 0; j < items.length; j += 2) {
        const r = items[j]!;
        const n = items[j + 1]!;
        if (k > 1) {
          // a decode run: k tokens each; KV for them was checked by decodeHeadroom
          rank.alloc(r, R.tokens(r) + k - 1);
          R.computed[r]! += k;
          R.generated[r]! += k;
          if (gaps) {
            if (R.lastToken[r] === ins.start) shared++;
            else gaps.add(ins.start + ins.firstStepS - R.lastToken[r]!, 1);
          }
          R.lastToken[r] = t;
        } else {
          R.computed[r]! += n;
          if (R.computed[r]! < R.tokens(r)) continue;
          R.generated[r]!++;
          if (R.generated[r] === 1) {
            R.firstToken[r] = t;
            rank.remember(r, t);
          } else if (gaps) {
            if (R.lastToken[r] === ins.start) shared++;
            else gaps.add(t - R.lastToken[r]!, 1);
          }
          R.lastToken[r] = t;
        }
        if (role === 'prefill' && R.generated[r] === 1) {
          rank.release(r);
          done = true;
          R.computed[r] = -1; // marks it gone from this rank
          const arrive = t + (o.transferS?.(R.input[r]!) ?? 0);
          if (R.output[r]! <= 1) {
            R.firstToken[r] = arrive;
            finish(r, arrive);
          } else transfers.push(arrive, r);
        } else if (R.generated[r]! >= R.output[r]!) {
          rank.release(r);
          done = true;
          R.computed[r] = -1;
          finish(r, t);
        }
      }
      if (done) rank.running = rank.running.filter((r) => R.computed[r]! >= 0);
      if (k > 1) rank.decayRatio(k - 1);
    }
    if (gaps && k > 1) {
      // each decode's first gap is recorded above (shared: it was in the step before); the k − 1 others are the
      // run's own steps, by grid cell
      gaps.add(ins.firstStepS, shared);
      let all = 0;
      for (const st of ins.steps) all += st.mix.decodes;
      for (let c = 0; c < ins.cells.length; c++) {
        const cell = ins.cells[c]!;
        gaps.add(cell.value, (cell.steps - (c === 0 ? 1 : 0)) * all);
      }
    } else if (gaps) gaps.add(t - ins.start, shared);
    ins.busyUntil = NaN;
    ins.k = 1;
  };

  /** Plan the next step of an idle instance at time t; false when it has nothing to run. */
  const plan = (ins: Instance, t: number): boolean => {
    const st: RankStep[] = [];
    let any = false;
    for (const rank of ins.ranks) {
      const s = rank.schedule(t) ?? {
        items: [],
        mix: { prefill: [], decodes: 0, decodeContext: 0 },
        tokens: 0,
      };
      if (s.tokens > 0) any = true;
      st.push(s);
    }
    if (!any) return false;
    let rep = st[0]!;
    let all = 0;
    for (const s of st) {
      all += s.tokens;
      if (s.tokens > rep.tokens || (s.tokens === rep.tokens && s.mix.decodeContext > rep.mix.decodeContext))
        rep = s;
    }
    all *= ins.tokenScale;
    const d =
      ins.timeScale * (o.exact ? ins.spec.timer.exact(rep.mix, all) : ins.spec.timer.time(rep.mix, all));
    ins.steps = st;
    ins.start = t;
    ins.k = 1;
    ins.firstStepS = d;
    ins.busyUntil = t + d;
    steps++;
    return true;
  };

  /** Turn a planned decode-only step into a run of k steps, cut at the first step boundary at or after `cutoff`. */
  const extend = (ins: Instance, cutoff: number): void => {
    let kFinish = Infinity;
    let rep: RankStep | null = null;
    let all = 0;
    for (let i = 0; i < ins.ranks.length; i++) {
      const s = ins.steps[i]!;
      if (s.mix.prefill.length > 0) return;
      const rank = ins.ranks[i]!;
      if (s.mix.decodes !== rank.running.length) return; // someone not in this step (waiting on KV)
      for (let j = 0; j < s.items.length; j += 2) {
        const r = s.items[j]!;
        kFinish = Math.min(kFinish, R.output[r]! - R.generated[r]!);
      }
      all += s.mix.decodes;
      if (!rep || s.mix.decodes > rep.mix.decodes) rep = s;
    }
    if (!rep || rep.mix.decodes === 0 || kFinish <= 1) return;
    let k = kFinish;
    for (const rank of ins.ranks) k = Math.min(k, 1 + rank.decodeHeadroom(k - 1));
    if (k <= 1) return;
    const cells: { value: number; steps: number }[] = [];
    const b = rep.mix.decodes;
    let total = ins.spec.timer.decodeRun(b, rep.mix.decodeContext / b, k, all * ins.tokenScale, cells);
    if (ins.timeScale !== 1) {
      total *= ins.timeScale;
      for (const c of cells) c.value *= ins.timeScale;
    }
    if (ins.start + total > cutoff) {
      // keep the steps up to the first boundary at or after the cutoff
      let acc = ins.start;
      let kept = 0;
      const out: typeof cells = [];
      for (const c of cells) {
        if (acc + c.value * c.steps < cutoff) {
          acc += c.value * c.steps;
          kept += c.steps;
          out.push(c);
          continue;
        }
        const n = Math.max(1, Math.ceil((cutoff - acc) / c.value - 1e-12));
        acc += c.value * n;
        kept += n;
        out.push({ value: c.value, steps: n });
        break;
      }
      k = kept;
      total = acc - ins.start;
      cells.length = 0;
      cells.push(...out);
    }
    if (k <= 1) return;
    ins.k = k;
    ins.cells = cells;
    ins.firstStepS = cells[0]!.value;
    ins.busyUntil = ins.start + total;
    steps += k - 1;
  };

  let t = 0;
  if (o.users !== null) {
    const first = Math.min(o.users, M);
    for (let i = 0; i < first; i++) {
      if (userOf) userOf[i] = i;
      issue(o.starts?.[i] ?? 0, 0);
    }
  }
  for (;;) {
    if (o.users === null) while (issued < M && R.arrival[issued]! <= t) issue(R.arrival[issued]!, t);
    while (entering.size && entering.top() <= t) dispatch(entering.pop(), entry);
    while (transfers.size && transfers.top() <= t) {
      const r = transfers.pop();
      // the first token reaches the client when a decode worker takes the request in (Rank.admitFirst)
      R.firstToken[r] = NaN;
      R.lastToken[r] = NaN;
      R.computed[r] = R.input[r]!;
      R.generated[r] = 1;
      R.held[r] = 0;
      dispatch(r, decoders);
    }
    const planned: Instance[] = [];
    for (const ins of inst) if (Number.isNaN(ins.busyUntil) && plan(ins, t)) planned.push(ins);
    const nextArrival = o.users === null && issued < M ? R.arrival[issued]! : Infinity;
    if (!o.exact) {
      for (const ins of planned) {
        let cutoff = Math.min(nextArrival, transfers.top(), entering.top());
        for (const other of inst)
          if (other !== ins && !Number.isNaN(other.busyUntil)) cutoff = Math.min(cutoff, other.busyUntil);
        extend(ins, cutoff);
      }
    }
    let tn = Math.min(nextArrival, transfers.top(), entering.top());
    for (const ins of inst) if (!Number.isNaN(ins.busyUntil)) tn = Math.min(tn, ins.busyUntil);
    if (tn === Infinity) break;
    t = tn;
    for (const ins of inst) if (ins.busyUntil === t) complete(ins, t);
  }
  for (let i = 0; i < M; i++) preemptions += R.preemptions[i]!;
  if (finished < M)
    throw new StuckError(
      `${M - finished} of ${M} requests can never be scheduled: a request needs more KV cache than one rank holds`,
    );
  return { requests: R, gaps, steps, preemptions };
}
