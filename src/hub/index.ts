/**
 * Hugging Face Hub client: repo-id validation, config.json and model metadata (downloads, likes, tags,
 * safetensors parameter count, size). HF_ENDPOINT and HF_TOKEN are honoured; every request has a timeout and
 * transient failures (network, timeout, 429, 5xx) are retried with backoff. Only repo ids are accepted, never
 * URLs to other hosts: the client only ever talks to its endpoint.
 */

export type HubErrorCode =
  'invalid_id' | 'not_found' | 'gated' | 'unavailable' | 'timeout' | 'malformed' | 'too_large' | 'redirect';

/** A failure with the HTTP status the server should answer with (4xx for the caller's input, 502/504 for the Hub). */
export class HubError extends Error {
  constructor(
    readonly code: HubErrorCode,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HubError';
  }
}

export interface HubModelInfo {
  id: string;
  author: string | null;
  downloads: number | null;
  likes: number | null;
  tags: string[];
  pipeline_tag: string | null;
  library_name: string | null;
  gated: boolean;
  /** Parameters per dtype and their total, as the Hub reads them from the safetensors headers. */
  safetensors_parameters: Record<string, number> | null;
  safetensors_total: number | null;
  /** Checkpoint bytes: parameters × dtype size from the safetensors info, else the repo's usedStorage. */
  size_bytes: number | null;
  last_modified: string | null;
}

export interface HubOptions {
  endpoint?: string;
  token?: string;
  timeoutMs?: number;
  retries?: number;
  /** First retry delay; doubles each time. */
  backoffMs?: number;
  /** Largest response body accepted. */
  maxBytes?: number;
  /**
   * Hosts a redirect may lead to besides the endpoint's own ('*.hf.co' matches every subdomain). Default:
   * HF_REDIRECT_HOSTS (comma-separated), else the Hub's CDN hosts when the endpoint is huggingface.co, else none.
   */
  redirectHosts?: string[];
}

/** Redirects followed for one request at most. */
export const MAX_REDIRECTS = 5;

/** Where huggingface.co sends file downloads (LFS and Xet storage). */
const HF_CDN_HOSTS = ['*.huggingface.co', '*.hf.co'];

function hostAllowed(host: string, allowed: string[]): boolean {
  const h = host.toLowerCase();
  return allowed.some((a) => (a.startsWith('*.') ? h.endsWith(a.slice(1)) : h === a));
}

/** Segment rules of Hub repo names: letters, digits, '-', '_', '.', no '--' or '..', at most 96 characters. */
const SEGMENT = /^(?!.*(--|\.\.))[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9_])?$/;

/**
 * The repo id named by `input`: 'org/name', a legacy canonical id without an org ('gpt2', 'distilgpt2'), or a
 * huggingface.co model URL. Anything else (other hosts, paths, query strings) is rejected.
 */
export function parseRepoId(input: string): string {
  let s = input.trim();
  const url = /^https?:\/\/(?:www\.)?huggingface\.co\/(.+)$/i.exec(s);
  if (url) s = url[1]!.replace(/\/(tree|blob|resolve)\/.*$/, '').replace(/\/+$/, '');
  const parts = s.split('/');
  if (s.length > 200 || parts.length > 2 || !parts.every((p) => SEGMENT.test(p))) {
    throw new HubError(
      'invalid_id',
      422,
      `'${input.slice(0, 120)}' is not a Hugging Face repo id: expected 'org/name' (letters, digits, '-', '_', '.') or a huggingface.co/org/name URL`,
    );
  }
  return s;
}

const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  U32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  U16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export class HubClient {
  readonly endpoint: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBytes: number;
  private readonly redirectHosts: string[];

  constructor(o: HubOptions = {}) {
    this.endpoint = (o.endpoint ?? process.env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(
      /\/+$/,
      '',
    );
    this.token = o.token ?? process.env['HF_TOKEN'] ?? undefined;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.retries = o.retries ?? 2;
    this.backoffMs = o.backoffMs ?? 250;
    this.maxBytes = o.maxBytes ?? 8 * 2 ** 20;
    const env = process.env['HF_REDIRECT_HOSTS'];
    this.redirectHosts = (
      o.redirectHosts ??
      (env !== undefined
        ? env.split(',')
        : new URL(this.endpoint).hostname.toLowerCase() === 'huggingface.co'
          ? HF_CDN_HOSTS
          : [])
    )
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean);
  }

  /**
   * fetch with redirects followed by hand: at most MAX_REDIRECTS, only to the endpoint's host or an allowed one,
   * and the token only ever sent to the endpoint's own origin.
   */
  private async fetchFollowing(
    url: string,
    headers: Record<string, string>,
    signal: AbortSignal,
    id: string,
    what: string,
  ): Promise<Response> {
    const origin = new URL(this.endpoint).origin;
    const ownHost = new URL(this.endpoint).hostname.toLowerCase();
    let current = new URL(url);
    for (let hop = 0; ; hop++) {
      const sameOrigin = current.origin === origin;
      const res = await fetch(current, {
        headers: {
          ...headers,
          ...(this.token && sameOrigin ? { authorization: `Bearer ${this.token}` } : {}),
        },
        redirect: 'manual',
        signal,
      });
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || res.status === 304 || !location) return res;
      await res.body?.cancel().catch(() => undefined);
      if (hop >= MAX_REDIRECTS)
        throw new HubError(
          'redirect',
          502,
          `the Hub redirected ${what} of ${id} more than ${MAX_REDIRECTS} times`,
        );
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new HubError('redirect', 502, `the Hub redirected ${what} of ${id} to an invalid URL`);
      }
      const host = next.hostname.toLowerCase();
      if (!/^https?:$/.test(next.protocol) || (host !== ownHost && !hostAllowed(host, this.redirectHosts)))
        throw new HubError(
          'redirect',
          502,
          `the Hub redirected ${what} of ${id} to ${next.protocol}//${host.slice(0, 100)}, which is not an allowed host ` +
            `(${[ownHost, ...this.redirectHosts].join(', ')}; HF_REDIRECT_HOSTS adds hosts)`,
        );
      current = next;
    }
  }

  /** Whether the repo exists and is readable with the configured token: never throws for Hub answers. */
  async validate(input: string): Promise<{ valid: boolean; id: string | null; error: string | null }> {
    let id: string | null = null;
    try {
      id = parseRepoId(input);
      await this.modelInfo(id);
      return { valid: true, id, error: null };
    } catch (e) {
      if (e instanceof HubError) return { valid: false, id, error: e.message };
      throw e;
    }
  }

  async modelInfo(input: string): Promise<HubModelInfo> {
    const id = parseRepoId(input);
    const raw = await this.getJson(`/api/models/${id}`, id, 'model info');
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw new HubError('malformed', 502, `the Hub's model info for ${id} is not a JSON object`);
    return toModelInfo(id, raw as Record<string, unknown>);
  }

  async config(input: string, revision = 'main'): Promise<Record<string, unknown>> {
    const id = parseRepoId(input);
    if (!/^[\w.-]{1,100}$/.test(revision))
      throw new HubError('invalid_id', 422, `revision '${revision}' is not a branch, tag or commit`);
    const raw = await this.getJson(`/${id}/resolve/${revision}/config.json`, id, 'config.json');
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw new HubError('malformed', 502, `config.json of ${id} on the Hub is not a JSON object`);
    return raw as Record<string, unknown>;
  }

  /** GET `path` as JSON (bounded, retried); malformed or truncated JSON is a 502 naming `what` of `id`. */
  async getJson(path: string, id: string, what: string): Promise<unknown> {
    const text = await this.get(path, id, what);
    try {
      return JSON.parse(text);
    } catch {
      throw new HubError(
        'malformed',
        502,
        `the Hub returned malformed or truncated JSON for ${what} of ${id} (${text.length} bytes)`,
      );
    }
  }

  private async get(path: string, id: string, what: string): Promise<string> {
    return this.request(path, id, what, (res) => readBounded(res, this.maxBytes, id, what));
  }

  /**
   * GET `path` on the Hub and hand the successful response to `read`, retrying network failures, timeouts, 429
   * and 5xx (and a body cut off while `read` consumed it) with backoff. `timeoutMs` bounds the whole exchange
   * unless `bodyTimeout` is false (large downloads: only reaching the Hub and its headers are bounded then).
   */
  async request<T>(
    path: string,
    id: string,
    what: string,
    read: (res: Response) => Promise<T>,
    o: { accept?: string; bodyTimeout?: boolean } = {},
  ): Promise<T> {
    const [route, query] = path.split('?', 2) as [string, string | undefined];
    const url =
      this.endpoint + route.split('/').map(encodeURIComponent).join('/') + (query ? `?${query}` : '');
    let last: HubError | null = null;
    const started = performance.now();
    let attempts = 0;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      attempts = attempt + 1;
      if (attempt > 0) await sleep(this.backoffMs * 2 ** (attempt - 1));
      let res: Response;
      const abort = new AbortController();
      const timer = setTimeout(
        () => abort.abort(new DOMException('timeout', 'TimeoutError')),
        this.timeoutMs,
      );
      try {
        res = await this.fetchFollowing(
          url,
          { accept: o.accept ?? 'application/json', 'user-agent': 'infersim' },
          abort.signal,
          id,
          what,
        );
      } catch (e) {
        clearTimeout(timer);
        if (e instanceof HubError) throw e;
        const timeout = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
        last = timeout
          ? new HubError(
              'timeout',
              504,
              `the Hub did not answer ${what} of ${id} within ${this.timeoutMs} ms`,
            )
          : new HubError('unavailable', 502, `could not reach the Hub at ${this.endpoint}: ${reason(e)}`);
        continue;
      }
      if (o.bodyTimeout === false) clearTimeout(timer);
      if (res.ok) {
        try {
          return await read(res);
        } catch (e) {
          if (e instanceof HubError && e.code !== 'malformed') throw e;
          // Local failures (a file that cannot be written: fs errors carry its path) are not the Hub's to retry.
          if (e instanceof Error && 'path' in e) throw e;
          const timeout = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
          last = timeout
            ? new HubError('timeout', 504, `the Hub stopped sending ${what} of ${id} (timeout)`)
            : new HubError(
                'malformed',
                502,
                `the Hub's answer for ${what} of ${id} was cut off: ${reason(e)}`,
              );
          continue;
        } finally {
          clearTimeout(timer);
        }
      }
      clearTimeout(timer);
      await res.body?.cancel().catch(() => undefined);
      const code = res.headers.get('x-error-code') ?? '';
      if (res.status === 404 || code === 'RepoNotFound' || code === 'EntryNotFound') {
        throw new HubError(
          'not_found',
          404,
          what === 'config.json' && code === 'EntryNotFound'
            ? `${id} has no config.json on the Hub`
            : `model '${id}' was not found on the Hub`,
        );
      }
      if (res.status === 401 || res.status === 403 || code === 'GatedRepo') {
        throw new HubError(
          'gated',
          403,
          `model '${id}' is gated or private on the Hub (HTTP ${res.status}): ` +
            (this.token
              ? 'the HF_TOKEN given has no access to it; accept its licence on huggingface.co'
              : 'set HF_TOKEN to a token with access'),
        );
      }
      if (res.status === 429 || res.status >= 500) {
        last = new HubError('unavailable', 502, `the Hub answered HTTP ${res.status} for ${what} of ${id}`);
        continue;
      }
      throw new HubError('unavailable', 502, `the Hub answered HTTP ${res.status} for ${what} of ${id}`);
    }
    // The message tells the whole story: how many attempts and how long in all (backoff included).
    const total = ((performance.now() - started) / 1000).toFixed(1);
    throw new HubError(
      last!.code,
      last!.status,
      `${last!.message} (${attempts} attempt${attempts > 1 ? 's' : ''}, ${total} s in all)`,
    );
  }
}

async function readBounded(res: Response, maxBytes: number, id: string, what: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new HubError('too_large', 502, `${what} of ${id} is larger than ${maxBytes} bytes`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxBytes)
      throw new HubError('too_large', 502, `${what} of ${id} is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function toModelInfo(id: string, r: Record<string, unknown>): HubModelInfo {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const st = r['safetensors'] as { parameters?: Record<string, unknown>; total?: unknown } | undefined;
  let params: Record<string, number> | null = null;
  let size: number | null = null;
  if (st && typeof st === 'object' && st.parameters && typeof st.parameters === 'object') {
    params = {};
    size = 0;
    for (const [dtype, n] of Object.entries(st.parameters)) {
      if (typeof n !== 'number' || !Number.isFinite(n)) continue;
      params[dtype] = n;
      size += n * (DTYPE_BYTES[dtype.toUpperCase()] ?? 2);
    }
  }
  const total = num(st?.total) ?? (params ? Object.values(params).reduce((a, b) => a + b, 0) : null);
  const gated = r['gated'];
  return {
    id: typeof r['id'] === 'string' ? r['id'] : id,
    author: typeof r['author'] === 'string' ? r['author'] : id.includes('/') ? id.split('/')[0]! : null,
    downloads: num(r['downloads']),
    likes: num(r['likes']),
    tags: Array.isArray(r['tags'])
      ? r['tags'].filter((t): t is string => typeof t === 'string').slice(0, 200)
      : [],
    pipeline_tag: typeof r['pipeline_tag'] === 'string' ? r['pipeline_tag'] : null,
    library_name: typeof r['library_name'] === 'string' ? r['library_name'] : null,
    gated: gated === true || gated === 'auto' || gated === 'manual',
    safetensors_parameters: params,
    safetensors_total: total,
    size_bytes: size ?? num(r['usedStorage']),
    last_modified: typeof r['lastModified'] === 'string' ? r['lastModified'] : null,
  };
}

function reason(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? cause.message : e.message;
  }
  return String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
