/**
 * Progress for long commands (crossval, bench:engine): a cli-progress bar with ETA on a terminal; elsewhere (CI
 * logs, pipes) one line per step, so a log still shows where the run is. Always on stderr: stdout stays the result.
 */
import { Presets, SingleBar } from 'cli-progress';

export interface Progress {
  /** One step done; `what` names the step just finished (or the one starting, as the caller says). */
  tick(what: string): void;
  stop(): void;
}

export function progress(label: string, total: number, stream = process.stderr): Progress {
  if (stream.isTTY) {
    const bar = new SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} · {eta_formatted} left · {step}`,
        stream,
        etaBuffer: 4,
        clearOnComplete: false,
      },
      Presets.shades_classic,
    );
    bar.start(total, 0, { step: '' });
    return { tick: (step) => bar.increment(1, { step }), stop: () => bar.stop() };
  }
  let done = 0;
  const t0 = Date.now();
  return {
    tick: (step) => {
      done++;
      const s = ((Date.now() - t0) / 1000).toFixed(0);
      stream.write(`${label}: ${done}/${total} (${s} s) ${step}\n`);
    },
    stop: () => {},
  };
}
