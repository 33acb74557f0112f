/**
 * What the browser tests and scripts/screenshots.ts share: the front end built (when web/dist is missing or older
 * than its sources), the app with the web routes listening on 127.0.0.1, and Debian's headless Chromium driven by
 * playwright-core (installed by scripts/ci/ensure-chromium.sh when missing).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { buildApp, type BuiltApp } from '../../src/server/app.js';
import type { RouteModule } from '../../src/server/context.js';
import { registerWebRoutes } from '../../src/server/routes/web.js';
import { ROUTES } from '../../src/server/routes/index.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = '/usr/bin/chromium';
const WEB = join(ROOT, 'web');
const DIST_INDEX = join(WEB, 'dist', 'index.html');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds web/dist unless it is there and newer than web/src, web/index.html and the Vite config. */
export function ensureWebBuilt(): void {
  const built = existsSync(DIST_INDEX) ? statSync(DIST_INDEX).mtimeMs : 0;
  const sources = Math.max(
    newestMtime(join(WEB, 'src')),
    statSync(join(WEB, 'index.html')).mtimeMs,
    statSync(join(WEB, 'vite.config.ts')).mtimeMs,
  );
  if (built >= sources) return;
  execFileSync(join(ROOT, 'node_modules', '.bin', 'vite'), ['build', 'web', '--logLevel', 'warn'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}

export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  execFileSync('bash', [join(ROOT, 'scripts', 'ci', 'ensure-chromium.sh')], { stdio: 'inherit' });
}

/** Whether the app's built-in routes include the web module (else the harness adds it). */
const webBuiltIn = ROUTES.includes(registerWebRoutes as RouteModule);

export interface Served extends BuiltApp {
  url: string;
  /** Why the engine routes are not served, when they are not. */
  engineMissing: string | null;
  close: () => Promise<void>;
}

const ENGINE_MODEL = join(ROOT, 'models', 'kjv-llama-tiny');

/**
 * The engine routes over the repository's shipped tiny model, as a route module; null (with the reason) when the
 * engine or its routes cannot be loaded here.
 */
async function engineModule(): Promise<{
  module: RouteModule | null;
  close: () => Promise<void>;
  reason: string | null;
}> {
  try {
    const { Engine } = await import('../../src/engine/engine.js');
    const { registerEngineRoutes } = await import('../../src/server/routes/engine.js');
    const { registerOpenAiRoutes } = await import('../../src/server/routes/openai.js');
    const engine = await Engine.load(ENGINE_MODEL, { threads: 1, maxNumSeqs: 4 });
    const module: RouteModule = (app) => {
      registerEngineRoutes(app as unknown as Parameters<typeof registerEngineRoutes>[0], engine);
      registerOpenAiRoutes(app as unknown as Parameters<typeof registerOpenAiRoutes>[0], engine);
    };
    return { module, close: () => engine.close(), reason: null };
  } catch (e) {
    return { module: null, close: async () => {}, reason: `engine not loadable: ${(e as Error).message}` };
  }
}

/**
 * The app with the web routes on 127.0.0.1 (a free port). With `engine`, the engine routes too: the app's own
 * when it registers them, else loaded here over models/kjv-llama-tiny.
 */
export async function startServer(o: { engine?: boolean } = {}): Promise<Served> {
  const extra: RouteModule[] = webBuiltIn ? [] : [registerWebRoutes];
  let engineMissing: string | null = null;
  let closeEngine = async () => {};
  if (o.engine) {
    const probe = await buildApp({ store: null, hub: null });
    const builtIn = probe.app.hasRoute({ method: 'POST', url: '/generate' });
    await probe.app.close();
    if (!builtIn) {
      const m = await engineModule();
      if (m.module) extra.push(m.module);
      engineMissing = m.reason;
      closeEngine = m.close;
    }
  }
  const built = await buildApp({ store: null, hub: null, routes: extra });
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    ...built,
    url,
    engineMissing,
    close: async () => {
      await built.app.close();
      await closeEngine();
    },
  };
}

export interface Launched {
  context: BrowserContext;
  close: () => Promise<void>;
}

/** Headless Chromium with a fresh profile directory (Playwright passes it as --user-data-dir). */
export async function launchBrowser(viewport = { width: 1360, height: 900 }): Promise<Launched> {
  ensureChromium();
  const profile = mkdtempSync(join(tmpdir(), 'infersim-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
