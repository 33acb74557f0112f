/**
 * Continuous batching (after nano-vllm's scheduler): each step is either a prefill of waiting sequences (as many
 * as fit the token budget, the sequence cap and the free KV blocks) or one decode token for every running
 * sequence. Sequences join between any two steps and leave as soon as they finish; when the cache runs out during
 * decode, the newest running sequence is preempted (its blocks freed, it goes back to the front of the queue and
 * is recomputed later, mostly from the prefix cache). Under a sliding window, blocks that fall out of the window
 * are freed before each decode step (and after each step: block_manager.ts).
 */
import type { BlockManager } from './block_manager.js';
import type { Sequence } from './sequence.js';

export interface ScheduledBatch {
  seqs: Sequence[];
  isPrefill: boolean;
}

export interface SchedulerLimits {
  maxNumSeqs: number;
  maxBatchedTokens: number;
}

export class Scheduler {
  readonly waiting: Sequence[] = [];
  readonly running: Sequence[] = [];
  preemptions = 0;

  constructor(
    private readonly blocks: BlockManager,
    readonly limits: SchedulerLimits,
  ) {}

  get isIdle(): boolean {
    return this.waiting.length === 0 && this.running.length === 0;
  }

  add(seq: Sequence): void {
    seq.status = 'waiting';
    this.waiting.push(seq);
  }

  schedule(): ScheduledBatch | null {
    const prefill: Sequence[] = [];
    let tokens = 0;
    while (this.waiting.length && this.running.length + prefill.length < this.limits.maxNumSeqs) {
      const seq = this.waiting[0]!;
      const need = seq.length;
      if ((prefill.length && tokens + need > this.limits.maxBatchedTokens) || !this.blocks.canAllocate(seq))
        break;
      this.blocks.allocate(seq);
      tokens += seq.length - seq.numCachedTokens;
      seq.status = 'running';
      this.waiting.shift();
      prefill.push(seq);
    }
    if (prefill.length) {
      this.running.push(...prefill);
      return { seqs: prefill, isPrefill: true };
    }
    const decode: Sequence[] = [];
    const queue = [...this.running];
    while (queue.length) {
      const seq = queue.shift()!;
      // The token this step computes moves the window on: blocks before it are free before a new one is asked for.
      this.blocks.freeOutOfWindow(seq, seq.length);
      while (!this.blocks.canAppend(seq)) {
        const victim = queue.pop() ?? null;
        if (victim) this.preempt(victim);
        else {
          this.preempt(seq);
          break;
        }
      }
      if (seq.status !== 'running') continue;
      this.blocks.mayAppend(seq);
      decode.push(seq);
    }
    return decode.length ? { seqs: decode, isPrefill: false } : null;
  }

  preempt(seq: Sequence): void {
    this.preemptions++;
    this.blocks.deallocate(seq);
    seq.status = 'waiting';
    this.remove(seq);
    this.waiting.unshift(seq);
  }

  /** Take a sequence out of the scheduler (finished or aborted) and free its blocks. */
  finish(seq: Sequence): void {
    seq.status = 'finished';
    this.remove(seq);
    const w = this.waiting.indexOf(seq);
    if (w >= 0) this.waiting.splice(w, 1);
    this.blocks.deallocate(seq);
  }

  private remove(seq: Sequence): void {
    const i = this.running.indexOf(seq);
    if (i >= 0) this.running.splice(i, 1);
  }
}
