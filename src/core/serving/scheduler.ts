/**
 * One attention-DP rank of an engine: its waiting queue, running set and KV pool, and each engine's policy for
 * choosing the next step (see engines.ts for the sources of every difference).
 */
import { SGLANG_RATIO, type EngineConfig } from './engines.js';
import type { Requests } from './requests.js';
import type { PrefillChunk, RankMix } from './step-time.js';

export interface RankStep {
  /** Requests in the step and the tokens each computes, as pairs [req, tokens, req, tokens, ...]. */
  items: number[];
  mix: RankMix;
  tokens: number;
}

const EMPTY_MIX: RankMix = { prefill: [], decodes: 0, decodeContext: 0 };

export class Rank {
  /** FCFS queue (read from `head`); preempted requests go to `front` and are taken first, newest first. */
  private readonly queue: number[] = [];
  private head = 0;
  private readonly front: number[] = [];
  running: number[] = [];
  freeBlocks: number;
  /** SGLang's estimate of the fraction of the remaining outputs a running request will still generate. */
  ratio: number = SGLANG_RATIO.init;
  /** Prefix cache: block hash → last use, in least-recently-used order (Map keeps insertion order). */
  private readonly prefix: Map<number, number> | null;
  private readonly prefixCapacity: number;

  constructor(
    readonly cfg: EngineConfig,
    readonly R: Requests,
    readonly totalBlocks: number,
    /** Tokens one trace hash block covers (Mooncake: 512). */
    readonly hashBlockTokens: number,
  ) {
    this.freeBlocks = totalBlocks;
    this.prefix = cfg.prefixCaching ? new Map() : null;
    this.prefixCapacity = Math.floor((totalBlocks * cfg.blockTokens) / hashBlockTokens);
  }

  get waitingCount(): number {
    return this.front.length + this.queue.length - this.head;
  }

  get load(): number {
    return this.running.length + this.waitingCount;
  }

  enqueue(r: number): void {
    this.queue.push(r);
  }

  private peek(): number {
    return this.front.length ? this.front[this.front.length - 1]! : this.queue[this.head]!;
  }

  private pop(): void {
    if (this.front.length) this.front.pop();
    else if (++this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.cfg.blockTokens);
  }

  /** Grow request r's KV to hold `tokens`; false when the pool has too few free blocks. */
  alloc(r: number, tokens: number): boolean {
    const held = this.R.held[r]!;
    if (tokens <= held) return true;
    const need = this.blocksFor(tokens) - this.blocksFor(held);
    if (need > this.freeBlocks) return false;
    this.freeBlocks -= need;
    this.R.held[r] = tokens;
    return true;
  }

  release(r: number): void {
    this.freeBlocks += this.blocksFor(this.R.held[r]!);
    this.R.held[r] = 0;
  }

  /** Preempt by recompute: KV freed, the request goes back to the front of the queue. */
  private preempt(r: number): void {
    this.release(r);
    this.R.computed[r] = 0;
    this.R.preemptions[r]!++;
    this.front.push(r);
  }

  /** Prompt tokens found in the prefix cache (whole hash blocks, at least one prompt token left to compute). */
  private prefixHit(r: number, tick: number): number {
    const h = this.R.hashes?.[r];
    if (!this.prefix || !h) return 0;
    let n = 0;
    while (n < h.length && this.prefix.has(h[n]!)) {
      this.prefix.delete(h[n]!);
      this.prefix.set(h[n]!, tick);
      n++;
    }
    return Math.min(n * this.hashBlockTokens, this.R.input[r]! - 1);
  }

  /** A finished prompt's blocks stay reusable; the least recently used leave when the cache is full. */
  remember(r: number, tick: number): void {
    const h = this.R.hashes?.[r];
    if (!this.prefix || !h) return;
    for (const x of h) {
      this.prefix.delete(x);
      this.prefix.set(x, tick);
    }
    while (this.prefix.size > this.prefixCapacity) this.prefix.delete(this.prefix.keys().next().value!);
  }

  private admitFirst(r: number, now: number): void {
    const R = this.R;
    if (Number.isNaN(R.scheduled[r]!)) {
      R.scheduled[r] = now;
      const hit = this.prefixHit(r, now);
      R.cachedPrefix[r] = hit;
      R.computed[r] = hit;
    } else if (Number.isNaN(R.firstToken[r]!)) {
      // Disaggregated: a request handed over by its prefill worker streams its first token once a decode worker
      // has taken it in (the KV transfer needs room there first).
      R.firstToken[r] = now;
      R.lastToken[r] = now;
    }
  }

  decoding(r: number): boolean {
    const R = this.R;
    return R.generated[r]! > 0 && R.tokens(r) - R.computed[r]! === 1;
  }

  schedule(now: number): RankStep | null {
    if (this.running.length === 0 && this.waitingCount === 0) return null;
    return this.cfg.engine === 'sglang' ? this.scheduleSglang(now) : this.scheduleInflight(now);
  }

  /**
   * vLLM V1 and TensorRT-LLM in-flight batching: running requests first (a decode token or the next prompt chunk
   * each), then waiting requests FCFS in the remaining token budget. vLLM allocates KV for the tokens it computes
   * and, when the pool is empty, preempts the newest running request (and admits nothing that step);
   * TensorRT-LLM (GUARANTEED_NO_EVICT) reserved everything at admission and never preempts.
   */
  private scheduleInflight(now: number): RankStep {
    const R = this.R;
    const cfg = this.cfg;
    let budget = cfg.maxStepTokens;
    const items: number[] = [];
    let preempted = false;
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const r = this.running[i]!;
      const need = R.tokens(r) - R.computed[r]!;
      if (need <= 0) continue;
      const n = Math.min(need, budget);
      if (!cfg.chunkedPrefill && n < need) continue;
      let ok = true;
      while (!this.alloc(r, R.computed[r]! + n)) {
        const victim = this.running.pop()!;
        this.preempt(victim);
        preempted = true;
        if (victim === r) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
      items.push(r, n);
      budget -= n;
    }
    if (!preempted) {
      while (this.waitingCount > 0 && budget > 0 && this.running.length < cfg.maxRunning) {
        const r = this.peek();
        const fresh = Number.isNaN(R.scheduled[r]!);
        const cached = fresh ? this.peekPrefix(r) : 0;
        const computed = fresh ? cached : R.computed[r]!;
        const need = R.tokens(r) - computed;
        const n = Math.min(need, budget);
        if (!cfg.chunkedPrefill && n < need) break;
        const target = cfg.reservation === 'full' ? R.input[r]! + R.output[r]! : computed + n;
        if (this.blocksFor(target) - this.blocksFor(R.held[r]!) > this.freeBlocks) break;
        this.admitFirst(r, now);
        this.alloc(r, target);
        this.pop();
        this.running.push(r);
        items.push(r, n);
        budget -= n;
      }
    }
    return this.step(items);
  }

  /** Prefix hit a fresh request would get, without touching the cache's order. */
  private peekPrefix(r: number): number {
    const h = this.R.hashes?.[r];
    if (!this.prefix || !h) return 0;
    let n = 0;
    while (n < h.length && this.prefix.has(h[n]!)) n++;
    return Math.min(n * this.hashBlockTokens, this.R.input[r]! - 1);
  }

  /**
   * SGLang: a prefill batch (the request being chunked first, then waiting requests admitted while the pool covers
   * their prompt plus new_token_ratio of everyone's remaining output) runs on its own; the decodes run only in steps
   * with no prefill, unless mixed chunking puts them into the prefill step. A decode that finds no free KV retracts
   * the newest request and resets the ratio; each decode step decays the ratio toward its floor.
   */
  private scheduleSglang(now: number): RankStep {
    const R = this.R;
    const cfg = this.cfg;
    let budget = cfg.maxStepTokens;
    const items: number[] = [];
    for (const r of this.running) {
      if (budget <= 0) break;
      if (this.decoding(r)) continue;
      const n = Math.min(R.tokens(r) - R.computed[r]!, budget);
      if (!this.alloc(r, R.computed[r]! + n)) continue;
      items.push(r, n);
      budget -= n;
    }
    let reserve = 0;
    if (cfg.reservation === 'ratio')
      for (const r of this.running)
        reserve += Math.min(R.output[r]! - R.generated[r]!, SGLANG_RATIO.clipMaxNewTokens) * this.ratio;
    let avail = this.freeBlocks * cfg.blockTokens - reserve;
    while (this.waitingCount > 0 && budget > 0 && this.running.length < cfg.maxRunning) {
      const r = this.peek();
      const fresh = Number.isNaN(R.scheduled[r]!);
      const computed = fresh ? this.peekPrefix(r) : R.computed[r]!;
      const need = R.tokens(r) - computed;
      const est =
        need +
        (cfg.reservation === 'ratio'
          ? Math.min(R.output[r]! - R.generated[r]!, SGLANG_RATIO.clipMaxNewTokens) * this.ratio
          : 0);
      if (est > avail) break;
      const n = Math.min(need, budget);
      if (this.blocksFor(computed + n) - this.blocksFor(R.held[r]!) > this.freeBlocks) break;
      this.admitFirst(r, now);
      this.alloc(r, computed + n);
      this.pop();
      this.running.push(r);
      items.push(r, n);
      budget -= n;
      avail -= est;
    }
    if (items.length > 0) {
      if (cfg.mixed)
        for (const r of this.running) if (this.decoding(r) && this.alloc(r, R.tokens(r))) items.push(r, 1);
      return this.step(items);
    }
    for (let i = 0; i < this.running.length; i++) {
      const r = this.running[i]!;
      let ok = true;
      while (!this.alloc(r, R.tokens(r))) {
        const victim = this.running.pop()!;
        this.preempt(victim);
        this.ratio = SGLANG_RATIO.init;
        if (victim === r) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
      items.push(r, 1);
    }
    this.ratio = Math.max(
      SGLANG_RATIO.min,
      this.ratio - (SGLANG_RATIO.init - SGLANG_RATIO.min) / SGLANG_RATIO.decaySteps,
    );
    return this.step(items);
  }

  private step(items: number[]): RankStep {
    if (items.length === 0) return { items, mix: EMPTY_MIX, tokens: 0 };
    const R = this.R;
    const prefill: PrefillChunk[] = [];
    let decodes = 0;
    let decodeContext = 0;
    let tokens = 0;
    for (let i = 0; i < items.length; i += 2) {
      const r = items[i]!;
      const n = items[i + 1]!;
      tokens += n;
      if (n === 1 && R.generated[r]! > 0) {
        decodes++;
        decodeContext += R.computed[r]!;
      } else prefill.push({ tokens: n, context: R.computed[r]! });
    }
    return { items, mix: { prefill, decodes, decodeContext }, tokens };
  }

  /** Most further decode steps (after the one just scheduled) the pool can hold for every running request. */
  decodeHeadroom(limit: number): number {
    if (this.cfg.reservation === 'full' || limit <= 0) return limit;
    const R = this.R;
    const extraBlocks = (k: number): number => {
      let b = 0;
      for (const r of this.running) b += this.blocksFor(R.tokens(r) + k) - this.blocksFor(R.held[r]!);
      return b;
    };
    if (extraBlocks(limit) <= this.freeBlocks) return limit;
    let lo = 0;
    let hi = limit;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (extraBlocks(mid) <= this.freeBlocks) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Ratio decay for k more decode steps taken at once (SGLang). */
  decayRatio(k: number): void {
    if (this.cfg.reservation === 'ratio')
      this.ratio = Math.max(
        SGLANG_RATIO.min,
        this.ratio - (k * (SGLANG_RATIO.init - SGLANG_RATIO.min)) / SGLANG_RATIO.decaySteps,
      );
  }
}
