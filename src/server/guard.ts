/**
 * Edge checks every request passes before a route sees it, so both stores (and every route) get the same input:
 * the Host allow-list (DNS rebinding), NUL bytes anywhere in the URL or body (PostgreSQL text cannot hold them),
 * numbers beyond the exact integer range (bigint columns, exact counts), JSON-only writes (no cross-site simple
 * request can reach them), the optional API key for writes, and security headers on every answer.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from './context.js';
import { errorBody } from './errors.js';

/** Hosts served when INFERSIM_ALLOWED_HOSTS is unset: loopback names only, any port. */
export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '::1', '[::1]'];

export interface GuardOptions {
  /** Allowed Host names (no port); '*' allows any. Default: INFERSIM_ALLOWED_HOSTS, else loopback. */
  allowedHosts?: string[];
  /** Bearer key writes need; default INFERSIM_API_KEY; empty or undefined: writes are open. */
  apiKey?: string;
}

/**
 * Routes that change state others see (imports, deletes, engine and cache state). They need a JSON content type
 * (a browser cannot send one cross-site without a CORS preflight, which this server never grants) and, when an
 * API key is configured, `Authorization: Bearer <key>`.
 */
const WRITES: { method: string; re: RegExp }[] = [
  { method: 'POST', re: /^\/api\/models\/add\// },
  { method: 'DELETE', re: /^\/api\/models\// },
  { method: 'POST', re: /^\/cache\/clear\/?$/ },
  { method: 'POST', re: /^\/debug\/profiling\/(start|stop)\/?$/ },
  { method: 'POST', re: /^\/optimization\/sparsity_mask\/?$/ },
  { method: 'POST', re: /^\/parallel\/(tensor_split|execute)\/?$/ },
];

/**
 * Writes that change the engine's state (its profiler and KV cache for every client; a sparsity mask, kept per
 * session but moving that session's attention off onnxruntime onto the slower TypeScript path): they need the
 * API key, and are refused when none is configured. Tensor splits are per session and need no key.
 */
const GLOBAL_STATE = /^\/(cache\/clear|debug\/profiling\/(start|stop)|optimization\/sparsity_mask)\/?$/;

export function isWrite(method: string, path: string): boolean {
  return WRITES.some((w) => w.method === method && w.re.test(path));
}

/** Security headers for every answer; the CSP allows only this origin (the web UI and the docs are all local). */
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; " +
    "form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The host name of a Host header, without its port ('[::1]:8000' -> '[::1]', 'a.b:80' -> 'a.b'). */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? h : h.slice(0, end + 1);
  }
  const colon = h.lastIndexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

export function allowedHostsFromEnv(env = process.env): string[] {
  const v = env['INFERSIM_ALLOWED_HOSTS'];
  if (!v || !v.trim()) return LOOPBACK_HOSTS;
  return v
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

/** The first problem of a parsed JSON body: a NUL byte in a string or key, or an integer beyond 2^53 - 1. */
export function bodyProblem(value: unknown, path = 'body'): { field: string; rule: string } | null {
  const stack: [unknown, string][] = [[value, path]];
  while (stack.length) {
    const [v, p] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return { field: p, rule: 'must not contain a NUL byte (\\u0000)' };
    } else if (typeof v === 'number') {
      if (Number.isInteger(v) && !Number.isSafeInteger(v))
        return {
          field: p,
          rule: `${v} is beyond the exact integer range (at most ${Number.MAX_SAFE_INTEGER} in magnitude)`,
        };
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${p}[${i}]`]);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k.includes('\u0000'))
          return {
            field: `${p}.${k.replaceAll('\u0000', '\\u0000')}`,
            rule: 'a key must not contain a NUL byte',
          };
        stack.push([x, p === 'body' ? k : `${p}.${k}`]);
      }
    }
  }
  return null;
}

/** The route's status for invalid input: 422, or 400 where its spec says so (errors.ts). */
function invalidStatus(req: FastifyRequest): number {
  const c = req.routeOptions?.config as { validationStatus?: number } | undefined;
  return c?.validationStatus ?? 422;
}

function refuse(reply: FastifyReply, status: number, message: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(message, extra));
}

function keyMatches(header: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function registerGuards(app: App, o: GuardOptions = {}): void {
  const hosts = new Set((o.allowedHosts ?? allowedHostsFromEnv()).map((h) => h.toLowerCase()));
  const anyHost = hosts.has('*');
  const apiKey = o.apiKey ?? process.env['INFERSIM_API_KEY'] ?? '';

  app.addHook('onSend', async (_req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(k)) reply.header(k, v);
    return payload;
  });

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!anyHost) {
      const host = hostName(req.headers.host ?? '');
      if (!hosts.has(host))
        return refuse(
          reply,
          403,
          `Host '${host.slice(0, 100)}' is not served here; allowed: ${[...hosts].join(', ')} (set INFERSIM_ALLOWED_HOSTS)`,
        );
    }
    const url = req.raw.url ?? '';
    if (/%00/i.test(url) || url.includes('\u0000'))
      return refuse(reply, invalidStatus(req), 'url: must not contain a NUL byte (%00)', {
        errors: [{ field: 'url', message: 'must not contain a NUL byte (%00)' }],
      });
    const path = url.split('?')[0]!;
    if (isWrite(req.method, path)) {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      // DELETE is never a simple request (a browser preflights it), so it may come without a body.
      if (type !== 'application/json' && req.method !== 'DELETE')
        return refuse(
          reply,
          415,
          `${req.method} ${path.slice(0, 100)} changes server state: send Content-Type: application/json (a JSON body, {} when empty)`,
        );
      if (!apiKey && req.method === 'DELETE')
        return refuse(
          reply,
          403,
          'deleting is enabled only with an API key: start the server with INFERSIM_API_KEY',
        );
      if (!apiKey && GLOBAL_STATE.test(path))
        return refuse(
          reply,
          403,
          `${path.slice(0, 100)} changes the engine's state: enabled only with an API key ` +
            '(start the server with INFERSIM_API_KEY and send it as a Bearer token)',
        );
      if (apiKey && !keyMatches(req.headers.authorization, apiKey))
        return refuse(
          reply.header('www-authenticate', 'Bearer'),
          401,
          'this route changes server state: send Authorization: Bearer <INFERSIM_API_KEY>',
        );
    }
  });

  app.addHook('preValidation', async (req, reply) => {
    if (req.body === undefined || req.body === null) return;
    const p = bodyProblem(req.body);
    if (p)
      return refuse(reply, invalidStatus(req), `${p.field}: ${p.rule}`, {
        errors: [{ field: p.field, message: p.rule }],
      });
  });
}
