/** The app listening on a free loopback port (a real server, real sockets), with a small fetch helper. */
import { buildApp, type BuildOptions, type BuiltApp } from '../../src/server/app.js';

export interface Served extends BuiltApp {
  url: string;
  /** Sends `body` as JSON (when given); answers status, parsed JSON (or null) and headers. */
  send: (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; json: any; headers: Headers; text: string }>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export async function serveApp(o: BuildOptions): Promise<Served> {
  const built = await buildApp(o);
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 });
  const send: Served['send'] = async (method, path, body, headers = {}) => {
    const r = await fetch(url + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: r.status, json, headers: r.headers, text };
  };
  return { ...built, url, send };
}
