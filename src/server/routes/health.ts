/** GET /health: one health check for every spec; it also says which database is in use and whether it answers. */
import type { App, AppContext } from '../context.js';

const started = Date.now();

export const VERSION = '0.1.0';

export function registerHealthRoutes(app: App, ctx: AppContext): void {
  app.get('/health', { schema: { tags: ['service'], summary: 'Service health' } }, async () => {
    let database: { dialect: string; ok: boolean } | null = null;
    if (ctx.store) {
      let ok = true;
      try {
        await ctx.store.countModels();
      } catch {
        ok = false;
      }
      database = { dialect: ctx.store.dialect, ok };
    }
    const health = database && !database.ok ? 'degraded' : 'healthy';
    return {
      // engine-restful-prototype.md writes {"status": "ok"}; api-memory-calculator.md shows no body and its clients
      // read "healthy": status keeps the written shape (ok unless degraded), health carries the other word.
      status: health === 'healthy' ? 'ok' : 'degraded',
      health,
      service: 'infersim',
      version: VERSION,
      uptime_s: Math.round((Date.now() - started) / 1000),
      database,
      hub: ctx.hub ? ctx.hub.endpoint : null,
      timestamp: new Date().toISOString(),
    };
  });
}
