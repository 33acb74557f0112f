/**
 * The engine's own thread (started by WorkerEngine, engine-worker.ts): loads the checkpoint, runs the
 * continuous-batching loop, research forwards and /parallel/execute's kernel pool here, off the HTTP event
 * loop, and answers the HTTP thread's messages. Streamed text goes back as it is decoded.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Engine, type EngineOptions } from '../engine/engine.js';
import type { Request } from '../engine/request.js';
import { EngineState, runOp } from './engine-ops.js';
import { toWire } from './engine-service.js';
import type { FromEngine, ToEngine } from './engine-worker.js';

const port = parentPort!;
const { dir, options } = workerData as { dir: string; options: EngineOptions };
const send = (m: FromEngine) => port.postMessage(m);

// A load that fails is reported once, as loadError, and the thread ends quietly: rethrowing it here raced the
// message with an 'error' event that reached the HTTP thread first as a plain Error.
let loaded: Engine | null = null;
try {
  loaded = await Engine.load(dir, options);
} catch (e) {
  send({ t: 'loadError', error: toWire(e) });
  port.close();
}
if (loaded) serve(loaded);

function serve(engine: Engine): void {
  const state = new EngineState(engine);
  const running = new Map<number, Request>();

  port.on('message', (m: ToEngine) => {
    // Tokenizing is done on the HTTP thread; its time still counts in this engine's profile.
    for (const ms of m.tokenizeMs ?? []) engine.profiler.add('tokenize', ms);
    switch (m.t) {
      case 'op':
        runOp(state, m.name, m.args as never).then(
          (value) => send({ t: 'result', id: m.id, value }),
          (e: unknown) => send({ t: 'error', id: m.id, error: toWire(e) }),
        );
        return;
      case 'submit': {
        let r: Request;
        try {
          const onDelta = m.stream ? (text: string) => send({ t: 'delta', id: m.id, text }) : null;
          // The session's sparsity mask lives here, beside the engine; the request keeps the one it was given.
          r = engine.submit(m.ids, m.params, onDelta, state.maskOf(m.session));
        } catch (e) {
          send({ t: 'fail', id: m.id, error: toWire(e) });
          return;
        }
        running.set(m.id, r);
        r.done.then(
          (result) => {
            running.delete(m.id);
            send({ t: 'done', id: m.id, result });
          },
          (e: unknown) => {
            running.delete(m.id);
            send({ t: 'fail', id: m.id, error: toWire(e) });
          },
        );
        return;
      }
      case 'abort': {
        const r = running.get(m.id);
        if (r) engine.abort(r);
        return;
      }
      case 'close':
        void (async () => {
          for (const r of running.values()) engine.abort(r);
          await state.close();
          await engine.close();
          port.close();
        })();
        return;
    }
  });

  send({
    t: 'ready',
    info: { name: engine.name, dir: engine.dir, rawConfig: engine.rawConfig, limits: engine.limits },
  });
}
