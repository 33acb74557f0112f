/**
 * Downloads a checkpoint the reference engine can run (config.json, safetensors weights, tokenizer.json) from the
 * Hub into a local cache: <cache>/<org>--<name>/<revision>/. Files are written to a private temporary folder and
 * the folder is renamed into place only when every file is complete, so a failed or interrupted download leaves
 * nothing behind, and a complete one is reused without asking the Hub again.
 */
import { randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HubError, parseRepoId, type HubClient } from './index.js';

export interface DownloadProgress {
  file: string;
  /** Bytes of all files received so far, and their total when the Hub declared every size (else null). */
  receivedBytes: number;
  totalBytes: number | null;
}

export interface DownloadOptions {
  /** Default: INFERSIM_CACHE_DIR, else ~/.cache/infersim/hub. */
  cacheDir?: string;
  /** Branch, tag or commit; default 'main'. */
  revision?: string;
  onProgress?: (p: DownloadProgress) => void;
}

export interface DownloadResult {
  id: string;
  dir: string;
  files: string[];
  /** True when the cache already held the checkpoint and the Hub was not asked. */
  cached: boolean;
  bytes: number;
}

/** Files besides the weights that are fetched when the repo has them. */
const OPTIONAL = [
  'tokenizer_config.json',
  'generation_config.json',
  'special_tokens_map.json',
  // Newer checkpoints keep the chat template apart from tokenizer_config.json.
  'chat_template.jinja',
  'chat_template.json',
];
const COMPLETE = '.complete.json';

export function defaultCacheDir(): string {
  return process.env['INFERSIM_CACHE_DIR'] ?? join(homedir(), '.cache', 'infersim', 'hub');
}

/** Where `id` at `revision` lives in the cache (whether or not it is there). */
export function cachedModelDir(id: string, revision = 'main', cacheDir = defaultCacheDir()): string {
  return join(cacheDir, parseRepoId(id).replace('/', '--'), revision);
}

/** The repo's files at `revision` with their sizes when the Hub gives them, from the API's `siblings`. */
async function listFiles(
  client: HubClient,
  id: string,
  revision: string,
): Promise<Map<string, number | null>> {
  const raw = await client.getJson(`/api/models/${id}/revision/${revision}?blobs=true`, id, 'file list');
  const siblings = (raw as { siblings?: unknown })?.siblings;
  if (!Array.isArray(siblings))
    throw new HubError('malformed', 502, `the Hub's model info for ${id} lists no files (siblings)`);
  const out = new Map<string, number | null>();
  for (const s of siblings as { rfilename?: unknown; size?: unknown }[])
    if (typeof s?.rfilename === 'string')
      out.set(s.rfilename, typeof s.size === 'number' && s.size >= 0 ? s.size : null);
  return out;
}

/** The shard names of a sharded checkpoint's index file. */
function shardsOf(indexText: string, id: string): string[] {
  let map: unknown;
  try {
    map = (JSON.parse(indexText) as { weight_map?: unknown }).weight_map;
  } catch {
    throw new HubError('malformed', 502, `model.safetensors.index.json of ${id} is not valid JSON`);
  }
  if (!map || typeof map !== 'object')
    throw new HubError('malformed', 502, `model.safetensors.index.json of ${id} has no weight_map`);
  return [...new Set(Object.values(map as Record<string, unknown>).map(String))].sort();
}

/** A file name from the Hub that is safe to create inside the download folder (no folders, no tricks). */
function checkName(name: string, id: string): string {
  if (!/^[\w.-]{1,200}$/.test(name) || name.startsWith('.'))
    throw new HubError(
      'malformed',
      502,
      `${id} names a file infersim will not write: '${name.slice(0, 80)}'`,
    );
  return name;
}

/** Which files the engine needs, from the repo's list: an error names what is missing. */
function plan(files: string[], id: string): { weights: 'single' | 'sharded'; fetch: string[] } {
  const have = new Set(files);
  if (!have.has('config.json')) throw new HubError('not_found', 404, `${id} has no config.json on the Hub`);
  if (!have.has('tokenizer.json'))
    throw new HubError(
      'not_found',
      404,
      `${id} has no tokenizer.json on the Hub (the engine reads the fast-tokenizer format)`,
    );
  const extra = OPTIONAL.filter((f) => have.has(f));
  if (have.has('model.safetensors.index.json'))
    return { weights: 'sharded', fetch: ['config.json', 'tokenizer.json', ...extra] };
  const single = files.filter((f) => /^[^/]+\.safetensors$/.test(f));
  if (!single.length)
    throw new HubError(
      'not_found',
      404,
      `${id} has no safetensors weights on the Hub (pickled .bin checkpoints are not loaded)`,
    );
  return { weights: 'single', fetch: ['config.json', 'tokenizer.json', ...extra, ...single] };
}

/** Downloads (or finds in the cache) a checkpoint directory the engine can load. */
export async function downloadModel(
  client: HubClient,
  input: string,
  o: DownloadOptions = {},
): Promise<DownloadResult> {
  const id = parseRepoId(input);
  const revision = o.revision ?? 'main';
  if (!/^[\w.-]{1,100}$/.test(revision))
    throw new HubError('invalid_id', 422, `revision '${revision}' is not a branch, tag or commit`);
  const dir = cachedModelDir(id, revision, o.cacheDir);
  const marker = join(dir, COMPLETE);
  if (existsSync(marker)) {
    const m = JSON.parse(readFileSync(marker, 'utf8')) as { files: string[]; bytes: number };
    return { id, dir, files: m.files, cached: true, bytes: m.bytes };
  }

  const files = await listFiles(client, id, revision);
  const p = plan([...files.keys()], id);
  const parent = join(dir, '..');
  mkdirSync(parent, { recursive: true });
  const tmp = join(parent, `.${revision}.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp);
  try {
    const queue = [...p.fetch];
    let received = 0;
    /** The planned files' total, once every size is known. */
    const total = () => {
      let t = 0;
      for (const f of queue) {
        const n = files.get(f);
        if (n === null || n === undefined) return null;
        t += n;
      }
      return t;
    };
    const fetchOne = (name: string) =>
      client.request(
        `/${id}/resolve/${revision}/${checkName(name, id)}`,
        id,
        name,
        async (res) => {
          const declared = Number(res.headers.get('content-length') ?? NaN);
          const start = received;
          let got = 0;
          await pipeline(
            res.body as unknown as AsyncIterable<Uint8Array>,
            async function* (src: AsyncIterable<Uint8Array>) {
              for await (const chunk of src) {
                got += chunk.byteLength;
                o.onProgress?.({ file: name, receivedBytes: start + got, totalBytes: total() });
                yield chunk;
              }
            },
            createWriteStream(join(tmp, name)),
          );
          if (Number.isFinite(declared) && got !== declared)
            throw new HubError('malformed', 502, `${name} of ${id}: got ${got} of ${declared} bytes`);
          received = start + got;
        },
        { accept: '*/*', bodyTimeout: false },
      );
    if (p.weights === 'sharded') queue.push('model.safetensors.index.json');
    for (const name of [...queue]) await fetchOne(name);
    if (p.weights === 'sharded') {
      const shards = shardsOf(readFileSync(join(tmp, 'model.safetensors.index.json'), 'utf8'), id);
      for (const sh of shards)
        if (!files.has(sh))
          throw new HubError('not_found', 404, `${id}: the index names ${sh}, which the repo does not have`);
      queue.push(...shards);
      for (const sh of shards) await fetchOne(sh);
    }
    writeFileSync(
      join(tmp, COMPLETE),
      JSON.stringify({
        id,
        revision,
        files: queue,
        bytes: received,
        downloaded_at: new Date().toISOString(),
      }),
    );
    // Another process may have finished the same download first: its copy is as good as ours.
    if (existsSync(marker)) rmSync(tmp, { recursive: true, force: true });
    else {
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
    }
    return { id, dir, files: queue, cached: false, bytes: received };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
