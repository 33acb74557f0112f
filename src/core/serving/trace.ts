/**
 * Request traces, parsed from their text (pure; the CLI reads the file). Formats, told apart by their content:
 * - vLLM `bench serve` result JSON (`--save-result`): per-request `input_lens` and `output_lens`; no arrival times,
 *   so the requests are replayed in order by a closed loop or a rate (its `max_concurrency` is kept as a hint).
 * - Mooncake trace JSONL (kvcache-ai/Mooncake FAST'25 traces): {timestamp (ms), input_length, output_length,
 *   hash_ids}; each hash id names a 512-token block of the prompt, shared prefixes hit the prefix cache.
 * - Azure LLM inference trace CSV (Azure/AzurePublicDataset): TIMESTAMP,ContextTokens,GeneratedTokens.
 * - Plain: one request per line, `arrival_s input output` (comma or space separated, optional header), or JSONL
 *   {arrival_s, input, output}.
 */
import { InputError } from '../memory/inference.js';
import type { TraceRequest } from './workload.js';

export interface ParsedTrace {
  format: 'vllm-bench' | 'mooncake' | 'azure' | 'plain';
  requests: TraceRequest[];
  /** Whether the trace gives arrival times (else replay it with a closed loop or a rate). */
  timed: boolean;
  /** vLLM results: the concurrency the benchmark ran with. */
  maxConcurrency?: number;
}

const MAX_TOKENS = 10_000_000;

function length(v: unknown, what: string, line: number): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_TOKENS)
    throw new InputError(
      `trace line ${line}: ${what} must be a whole number of tokens (got ${JSON.stringify(v)})`,
    );
  return n;
}

function time(v: unknown, what: string, line: number): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
    throw new InputError(
      `trace line ${line}: ${what} must be a non-negative number (got ${JSON.stringify(v)})`,
    );
  return n;
}

/** Zero-token prompts or outputs cannot be simulated: one token at least. */
const atLeast1 = (n: number) => Math.max(1, n);

export function parseTrace(text: string): ParsedTrace {
  const body = text.replace(/^\uFEFF/, '').trim();
  if (body === '') throw new InputError('the trace is empty');
  if (body.startsWith('{') && !body.includes('\n{')) {
    let j: unknown;
    try {
      j = JSON.parse(body);
    } catch (e) {
      throw new InputError(`trace: invalid JSON (${(e as Error).message.slice(0, 100)})`);
    }
    if (j && typeof j === 'object' && ('input_lens' in j || 'output_lens' in j)) return vllmResult(j);
  }
  if (body.startsWith('{')) return jsonl(body);
  return delimited(body);
}

function vllmResult(j: unknown): ParsedTrace {
  const o = j as Record<string, unknown>;
  const ins = o.input_lens;
  const outs = o.output_lens;
  if (!Array.isArray(ins) || !Array.isArray(outs) || ins.length !== outs.length)
    throw new InputError('trace: a vLLM result JSON needs input_lens and output_lens of the same length');
  const requests = ins.map((x, i) => ({
    arrivalS: NaN,
    input: atLeast1(length(x, 'input_lens', i + 1)),
    output: atLeast1(length(outs[i], 'output_lens', i + 1)),
  }));
  const mc = o.max_concurrency;
  return {
    format: 'vllm-bench',
    requests,
    timed: false,
    ...(typeof mc === 'number' && Number.isInteger(mc) && mc > 0 ? { maxConcurrency: mc } : {}),
  };
}

function jsonl(body: string): ParsedTrace {
  const requests: TraceRequest[] = [];
  let mooncake = false;
  const lines = body.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (!l) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(l) as Record<string, unknown>;
    } catch {
      throw new InputError(`trace line ${i + 1}: not JSON`);
    }
    if ('input_length' in o) {
      mooncake = true;
      const hashes = Array.isArray(o.hash_ids)
        ? o.hash_ids.filter((h): h is number => typeof h === 'number')
        : [];
      requests.push({
        arrivalS: time(o.timestamp ?? 0, 'timestamp', i + 1) / 1000,
        input: atLeast1(length(o.input_length, 'input_length', i + 1)),
        output: atLeast1(length(o.output_length, 'output_length', i + 1)),
        ...(hashes.length ? { hashes } : {}),
      });
    } else {
      requests.push({
        arrivalS: time(o.arrival_s, 'arrival_s', i + 1),
        input: atLeast1(length(o.input, 'input', i + 1)),
        output: atLeast1(length(o.output, 'output', i + 1)),
      });
    }
  }
  return { format: mooncake ? 'mooncake' : 'plain', requests: fromZero(requests), timed: true };
}

/**
 * Azure's timestamps: "2023-11-16 18:15:46.6805900" (UTC), as whole seconds since the epoch and the fraction apart:
 * their sum would lose the sub-millisecond digits to rounding.
 */
function azureTime(s: string, line: number): [number, number] {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?/.exec(s.trim());
  const whole = m ? Date.parse(`${m[1]}T${m[2]}Z`) : NaN;
  if (!m || Number.isNaN(whole))
    throw new InputError(`trace line ${line}: TIMESTAMP '${s}' is not a date and time`);
  return [whole / 1000, m[3] ? Number(m[3]) : 0];
}

function delimited(body: string): ParsedTrace {
  const lines = body.split(/\r?\n/);
  const head = lines[0]!.toLowerCase();
  const requests: TraceRequest[] = [];
  if (head.includes('contexttokens')) {
    const cols = head.split(',').map((c) => c.trim());
    const ti = cols.indexOf('timestamp');
    const ci = cols.indexOf('contexttokens');
    const gi = cols.indexOf('generatedtokens');
    if (ti < 0 || gi < 0)
      throw new InputError('trace: an Azure CSV needs TIMESTAMP, ContextTokens, GeneratedTokens');
    let base = NaN;
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i]!.trim();
      if (!l) continue;
      const f = l.split(',');
      const [whole, frac] = azureTime(f[ti] ?? '', i + 1);
      if (Number.isNaN(base)) base = whole;
      requests.push({
        arrivalS: whole - base + frac,
        input: atLeast1(length(f[ci], 'ContextTokens', i + 1)),
        output: atLeast1(length(f[gi], 'GeneratedTokens', i + 1)),
      });
    }
    return { format: 'azure', requests: fromZero(requests), timed: true };
  }
  const start = /[a-z]/.test(head) ? 1 : 0;
  for (let i = start; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (!l || l.startsWith('#')) continue;
    const f = l.split(/[\s,]+/);
    if (f.length < 3) throw new InputError(`trace line ${i + 1}: expected 'arrival_s input output'`);
    requests.push({
      arrivalS: time(f[0], 'arrival_s', i + 1),
      input: atLeast1(length(f[1], 'input', i + 1)),
      output: atLeast1(length(f[2], 'output', i + 1)),
    });
  }
  if (requests.length === 0) throw new InputError('the trace has no requests');
  return { format: 'plain', requests: fromZero(requests), timed: true };
}

/** Arrivals relative to the first one, in arrival order. */
function fromZero(r: TraceRequest[]): TraceRequest[] {
  if (r.length === 0) throw new InputError('the trace has no requests');
  let t0 = Infinity;
  for (const q of r) t0 = Math.min(t0, q.arrivalS);
  return r.map((q) => ({ ...q, arrivalS: q.arrivalS - t0 })).sort((a, b) => a.arrivalS - b.arrivalS);
}
