/**
 * Upper bounds on every input, so that each request is answered in bounded time and memory. They are documented
 * in the OpenAPI description and the README; a request beyond one is a 4xx naming the bound.
 */
export const LIMITS = {
  /** Request body, bytes (a large config.json is ~100 kB). */
  bodyBytes: 1024 * 1024,
  /** Nesting depth of a JSON body. */
  jsonDepth: 64,
  /** Models in /api/models/compare and configurations in /api/memory/compare. */
  compareItems: 32,
  /** Entries of `sequence_lengths` in /api/models/analyze. */
  sequenceLengths: 64,
  /** Sequences in one request. */
  batch: 1_000_000,
  /** Tokens per sequence (prompt + generated). */
  seq: 100_000_000,
  /** Images per sequence. */
  images: 1000,
  /** Tensor/pipeline/expert parallel degree. */
  parallel: 4096,
  /** /api/models/popular?limit. */
  popular: 100,
  /** Layers a model config may declare, and experts per MoE layer. */
  configLayers: 1024,
  configExperts: 4096,
  /** Characters of a model id or name. */
  idLength: 200,
  /** Bytes of the metadata object stored with an imported model. */
  metadataBytes: 64 * 1024,
  /** Bytes of an imported config.json (the largest published ones are ~100 kB). */
  configBytes: 256 * 1024,
  /** Imported models the database holds (INFERSIM_MAX_MODELS overrides). */
  storedModels: 10_000,
} as const;

/** Bracket nesting depth of a JSON text (outside strings), stopping early once `max` is exceeded. */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123 /* [ { */) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}
