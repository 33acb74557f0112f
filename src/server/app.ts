/**
 * The HTTP app: one Fastify instance serving every spec's endpoints over the core, with one error contract
 * (errors.ts), bounded inputs (limits.ts), offline docs (docs.ts) and the results cache (cache.ts).
 */
import Fastify, { type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { HubClient } from '../hub/index.js';
import { openStore, type Store } from '../store/index.js';
import { ResultCache } from './cache.js';
import type { App, AppContext, RouteModule } from './context.js';
import { registerDocs } from './docs.js';
import { ApiError, errorBody, sendError } from './errors.js';
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

  app.setErrorHandler((err, req, reply) => sendError(reply, req, err));
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = table.allowed(path).filter((m) => m !== req.method);
    if (allowed.length)
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
