/** "Did you mean" for precision names: the nearest weight formats or KV dtypes to a typo (fp61 -> fp16). */
import { distance } from 'fastest-levenshtein';
import { FORMAT_IDS, KV_DTYPES } from '../core/numerics/formats.js';

const WEIGHT_NAMES = ['auto', 'float32', 'float16', 'bfloat16', ...FORMAT_IDS];

const sorted = (s: string) => [...s].sort().join('');

/** Edit distance, with a swap of letters (fp61 for fp16) or a name containing the typo counted as one edit. */
function nameDistance(name: string, q: string): number {
  if (name === q) return 0;
  if ((q.length >= 2 && name.includes(q)) || (name.length === q.length && sorted(name) === sorted(q)))
    return 1;
  return distance(name, q);
}

/** Up to n names within edit distance 2 of `typo` (or containing it), nearest first. */
export function precisionSuggestions(typo: string, kind: 'weight' | 'kv' = 'weight', n = 3): string[] {
  const q = typo.toLowerCase().slice(0, 40);
  const names = kind === 'kv' ? KV_DTYPES : WEIGHT_NAMES;
  return names
    .map((name) => ({ name, d: nameDistance(name.toLowerCase(), q) }))
    .filter((x) => x.d <= 2)
    .sort((a, b) => a.d - b.d || a.name.length - b.name.length || a.name.localeCompare(b.name))
    .slice(0, n)
    .map((x) => x.name);
}

/** "; did you mean 'fp16', 'bf16'?" or '' when nothing is near. */
export function didYouMean(typo: string, kind: 'weight' | 'kv' = 'weight'): string {
  const s = precisionSuggestions(typo, kind);
  return s.length ? `; did you mean ${s.map((x) => `'${x}'`).join(', ')}?` : '';
}
