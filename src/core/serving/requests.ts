/** Requests as a structure of typed arrays (no per-token objects): what each one asks and what happened to it. */

export class Requests {
  readonly arrival: Float64Array;
  readonly input: Int32Array;
  readonly output: Int32Array;
  /** Tokens whose KV is computed (prompt progress, then generated tokens). */
  readonly computed: Int32Array;
  readonly generated: Int32Array;
  /** KV tokens allocated to the request on its rank. */
  readonly held: Int32Array;
  readonly scheduled: Float64Array;
  readonly firstToken: Float64Array;
  readonly lastToken: Float64Array;
  readonly finish: Float64Array;
  /** Prompt tokens served from the prefix cache at first admission. */
  readonly cachedPrefix: Int32Array;
  readonly preemptions: Int32Array;
  /** Attention-DP rank (within its instance) the request runs on. */
  readonly rank: Int32Array;
  /** Prefix-cache block hashes of the prompt (Mooncake traces), else null. */
  hashes: (readonly number[] | null)[] | null = null;
  count = 0;

  constructor(readonly capacity: number) {
    this.arrival = new Float64Array(capacity);
    this.input = new Int32Array(capacity);
    this.output = new Int32Array(capacity);
    this.computed = new Int32Array(capacity);
    this.generated = new Int32Array(capacity);
    this.held = new Int32Array(capacity);
    this.scheduled = new Float64Array(capacity).fill(NaN);
    this.firstToken = new Float64Array(capacity).fill(NaN);
    this.lastToken = new Float64Array(capacity).fill(NaN);
    this.finish = new Float64Array(capacity).fill(NaN);
    this.cachedPrefix = new Int32Array(capacity);
    this.preemptions = new Int32Array(capacity);
    this.rank = new Int32Array(capacity);
  }

  add(arrival: number, input: number, output: number, hashes: readonly number[] | null = null): number {
    const i = this.count++;
    this.arrival[i] = arrival;
    this.input[i] = input;
    this.output[i] = output;
    if (hashes) {
      this.hashes ??= [];
      this.hashes[i] = hashes;
    }
    return i;
  }

  /** Tokens the request's sequence has now: prompt + generated. */
  tokens(i: number): number {
    return this.input[i]! + this.generated[i]!;
  }
}
