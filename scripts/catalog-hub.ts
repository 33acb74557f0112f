/**
 * Refreshes the Hub's downloads and likes of every catalog repo (`npm run catalog:hub`): asks the Hub (HF_ENDPOINT,
 * HF_TOKEN honoured) for each file's repo and each variant's, and writes `hub: { downloads, likes, as_of }` into
 * src/catalog/models/*.json. A repo the Hub does not answer for keeps its previous figures. Needs the network.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HubClient, HubError } from '../src/hub/index.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'catalog', 'models');
const today = new Date().toISOString().slice(0, 10);
const hub = new HubClient();

interface Repo {
  id: string;
  hub?: { downloads: number; likes: number; as_of: string };
}

async function refresh(r: Repo): Promise<boolean> {
  try {
    const info = await hub.modelInfo(r.id);
    if (info.downloads === null) return false;
    r.hub = { downloads: info.downloads, likes: info.likes ?? 0, as_of: today };
    return true;
  } catch (e) {
    if (!(e instanceof HubError)) throw e;
    process.stderr.write(`${r.id}: ${e.message}\n`);
    return false;
  }
}

let ok = 0;
let failed = 0;
for (const f of readdirSync(DIR).filter((x) => x.endsWith('.json'))) {
  const path = join(DIR, f);
  const file = JSON.parse(readFileSync(path, 'utf8')) as Repo & { variants?: Repo[] };
  for (const r of [file, ...(file.variants ?? [])]) {
    if (await refresh(r)) ok++;
    else failed++;
  }
  writeFileSync(path, JSON.stringify(file, null, 2) + '\n');
}
console.log(JSON.stringify({ refreshed: ok, failed, as_of: today }));
