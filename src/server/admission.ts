/**
 * Per-client limits with @fastify/rate-limit (keyed by client address): imports are limited per client per hour
 * by default (they grow the database for everyone); every route can also be limited per client per minute with
 * INFERSIM_RATE_LIMIT. Beyond a limit: 429 with Retry-After.
 */
import rateLimit from '@fastify/rate-limit';
import type { App } from './context.js';
import { ApiError } from './errors.js';

export interface AdmissionOptions {
  /** Requests per minute per client on every route; 0: none (default INFERSIM_RATE_LIMIT, else 0). */
  perMinute?: number;
  /** Imports (POST /api/models/add/*) per hour per client (default INFERSIM_IMPORTS_PER_HOUR, else 60). */
  importsPerHour?: number;
}

const IMPORT_ROUTE = /^\/api\/models\/add\//;

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer (got '${v}')`);
  return n;
}

export async function registerAdmission(app: App, o: AdmissionOptions = {}): Promise<void> {
  const perMinute = o.perMinute ?? envInt('INFERSIM_RATE_LIMIT', 0);
  const importsPerHour = o.importsPerHour ?? envInt('INFERSIM_IMPORTS_PER_HOUR', 60);
  // Before the plugin's own onRoute hook, which reads config.rateLimit.
  app.addHook('onRoute', (r) => {
    if (importsPerHour > 0 && IMPORT_ROUTE.test(r.url)) {
      r.config = { ...(r.config as object), rateLimit: { max: importsPerHour, timeWindow: 3_600_000 } };
    }
  });
  await app.register(rateLimit, {
    global: perMinute > 0,
    max: perMinute > 0 ? perMinute : 1,
    timeWindow: 60_000,
    errorResponseBuilder: (_req, c) =>
      new ApiError(429, `too many requests from this client: at most ${c.max}; retry in ${c.after}`, {
        retry_after_s: Math.ceil(c.ttl / 1000),
      }),
  });
}
