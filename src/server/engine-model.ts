/**
 * Where the engine's checkpoint comes from: a local directory, or a Hub repo id downloaded into the local cache
 * (HF_ENDPOINT, HF_TOKEN, INFERSIM_CACHE_DIR) with a progress bar on a terminal and a line per file otherwise.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { downloadModel } from '../hub/download.js';
import { HubClient, parseRepoId } from '../hub/index.js';

const MB = 1e6;

function isCheckpointDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory() && existsSync(join(p, 'config.json'));
}

/**
 * The checkpoint directory for `model` (a directory, or a repo id such as 'gpt2' or 'org/name'), and the name
 * the engine reports for it (the repo id; for a directory, undefined: its folder name).
 */
export async function engineModelDir(
  model: string,
  o: { revision?: string; client?: HubClient; cacheDir?: string; out?: NodeJS.WriteStream } = {},
): Promise<{ dir: string; name: string | undefined }> {
  if (isCheckpointDir(model)) return { dir: model, name: undefined };
  if (existsSync(model)) throw new Error(`${model} is not a checkpoint directory (no config.json in it)`);
  let id: string;
  try {
    id = parseRepoId(model);
  } catch {
    throw new Error(`'${model}' is neither a checkpoint directory nor a Hugging Face repo id (org/name)`);
  }
  const out = o.out ?? process.stderr;
  const bar = out.isTTY
    ? new cliProgress.SingleBar(
        {
          stream: out,
          format: `${id} |{bar}| {percentage}% {value}/{total} MB {file}`,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let current = '';
  let started = false;
  const r = await downloadModel(o.client ?? new HubClient({ timeoutMs: 30_000 }), id, {
    revision: o.revision,
    cacheDir: o.cacheDir,
    onProgress: (p) => {
      const total = Math.max(1, Math.round((p.totalBytes ?? p.receivedBytes) / MB));
      if (bar && !started) {
        bar.start(total, 0, { file: p.file });
        started = true;
      }
      if (bar) {
        bar.setTotal(total);
        bar.update(Math.round(p.receivedBytes / MB), { file: p.file });
      } else if (p.file !== current) out.write(`downloading ${id}: ${p.file}\n`);
      current = p.file;
    },
  }).finally(() => bar?.stop());
  out.write(
    `${id}: ${r.cached ? 'from the cache' : `downloaded ${(r.bytes / MB).toFixed(1)} MB`} at ${r.dir}\n`,
  );
  return { dir: r.dir, name: id };
}
