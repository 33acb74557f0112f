/**
 * The HTTP app: one Fastify instance serving every spec's endpoints over the core, with one error contract
 * (errors.ts), bounded inputs (limits.ts), offline docs (docs.ts) and the results cache (cache.ts).
 */
import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyReply, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { HubClient } from '../hub/index.js';
import { openStore, type Store } from '../store/index.js';
import { ResultCache } from './cache.js';
import type { App, AppContext, RouteModule } from './context.js';
import { registerDocs } from './docs.js';
import { ApiError, errorBody, sendError } from './errors.js';
import { registerAdmission, type AdmissionOptions } from './admission.js';
import { registerGuards, SECURITY_HEADERS, type GuardOptions } from './guard.js';
import { jsonDepthExceeds, LIMITS } from './limits.js';
import { ROUTES } from './routes/index.js';

export interface BuildOptions {
  /** The store; undefined opens the default (DATABASE_URL or ./data/infersim.db); null runs without one. */
  store?: Store | null;
  /** The Hub client; undefined makes one from HF_ENDPOINT / HF_TOKEN; null disables Hub access. */
  hub?: HubClient | null;
  /** Fastify's logger option (false by default; main.ts turns it on). */
  logger?: FastifyServerOptions['logger'];
  /** Entries the in-process results cache keeps. */
  cacheEntries?: number;
  /** Route modules beyond the built-in list (tests, experiments). */
  routes?: RouteModule[];
  /** Host allow-list and API key (defaults: INFERSIM_ALLOWED_HOSTS or loopback; INFERSIM_API_KEY). */
  guard?: GuardOptions;
  /** Per-client rate limits (defaults from INFERSIM_RATE_LIMIT and INFERSIM_IMPORTS_PER_HOUR). */
  admission?: AdmissionOptions;
}

/** A framework error answered outside the routes (bad URL, a header block too large): the same contract. */
function rawError(status: number, message: string): string {
  const body = JSON.stringify(errorBody(message));
  const headers = Object.entries(SECURITY_HEADERS)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${headers}Connection: close\r\n\r\n${body}`
  );
}

function dropProto(k: string, v: unknown): unknown {
  return k === '__proto__' ? undefined : v;
}

export interface BuiltApp {
  app: App;
  ctx: AppContext;
}

/** Route patterns by method, to tell a wrong method (405) from an unknown route (404). */
class RouteTable {
  private readonly routes: { method: string; re: RegExp }[] = [];
  add(method: string | string[], url: string): void {
    const pattern = url
      .split('/')
      .map((seg) =>
        seg === '*' ? '.*' : seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    const re = new RegExp(`^${pattern}/?$`);
    for (const m of Array.isArray(method) ? method : [method]) this.routes.push({ method: m, re });
  }
  allowed(path: string): string[] {
    return [...new Set(this.routes.filter((r) => r.re.test(path)).map((r) => r.method))];
  }
}

export async function buildApp(opts: BuildOptions = {}): Promise<BuiltApp> {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: LIMITS.bodyBytes,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 500 },
    frameworkErrors: (err, _req, reply) => {
      const bad = err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const status = bad ? (err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400) : 500;
      const message = bad
        ? `url: ${err.code === 'FST_ERR_BAD_URL' ? 'not a valid URL (bad percent-encoding)' : 'a path segment is too long'}`
        : 'internal error';
      void (reply as unknown as FastifyReply)
        .code(status)
        .headers(SECURITY_HEADERS)
        .type('application/json; charset=utf-8')
        .send(errorBody(message));
    },
    clientErrorHandler: (err, socket) => {
      if ((err as { code?: string }).code === 'ECONNRESET' || socket.destroyed) return;
      const code = (err as { code?: string }).code;
      const [status, message] =
        code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'request headers are larger than the limit (16 KiB)']
          : code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'request not received in time']
            : [400, 'malformed HTTP request'];
      if (socket.writable) socket.write(rawError(status, message));
      socket.destroy(err);
    },
  }).withTypeProvider<ZodTypeProvider>() as unknown as App;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const store = opts.store === undefined ? await openStore() : opts.store;
  const hub = opts.hub === undefined ? new HubClient() : opts.hub;
  const ctx: AppContext = {
    store,
    hub,
    cache: new ResultCache(store, opts.cacheEntries ?? 5000, (e) =>
      app.log.warn({ err: e }, 'results cache'),
    ),
    log: app.log,
  };

  // JSON bodies: bounded size (bodyLimit) and nesting depth, parsed without prototype pollution.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    if (jsonDepthExceeds(text, LIMITS.jsonDepth))
      return done(
        new ApiError(400, `request body: JSON nested deeper than ${LIMITS.jsonDepth} levels`),
        undefined,
      );
    try {
      // The reviver (which drops __proto__ keys) costs a lot: only bodies that mention one pay for it.
      done(null, text.includes('__proto__') ? JSON.parse(text, dropProto) : JSON.parse(text));
    } catch (e) {
      done(
        new ApiError(400, `request body: invalid JSON (${(e as Error).message.slice(0, 120)})`),
        undefined,
      );
    }
  });

  const table = new RouteTable();
  app.addHook('onRoute', (r) => table.add(r.method as string | string[], r.url));

  registerGuards(app, opts.guard);
  await registerAdmission(app, opts.admission);
  app.setErrorHandler((err, req, reply) => sendError(reply, req, err));
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const methods = table.allowed(path);
    const allowed = methods.filter((m) => m !== req.method);
    // A route of this method matched but found nothing (a static file under /docs): 404, not 405.
    const sameRoute = methods.includes(req.method) || (req.method === 'HEAD' && methods.includes('GET'));
    if (allowed.length && !sameRoute)
      return reply
        .code(405)
        .header('allow', allowed.join(', '))
        .send(
          errorBody(
            `method ${req.method} is not allowed on ${path.slice(0, 200)}; allowed: ${allowed.join(', ')}`,
          ),
        );
    return reply.code(404).send(errorBody(`no route ${req.method} ${path.slice(0, 200)}; see /docs`));
  });

  await registerDocs(app);
  for (const register of [...ROUTES, ...(opts.routes ?? [])]) await register(app, ctx);

  app.addHook('onClose', async () => {
    await ctx.cache.flush();
    if (store && opts.store === undefined) await store.close();
  });
  await app.ready();
  return { app, ctx };
}
