/** Schemas of the catalog files, checked at load: a bad file is an error naming the file and the field. */
import { z } from 'zod';

export const sourced = z.object({
  value: z.number().finite().nonnegative(),
  source: z.string().min(1),
  confidence: z.enum(['exact-sourced', 'derived', 'recalled', 'low-trust']),
  note: z.string().optional(),
});

/**
 * A JSON object taken as it is: config.json contents are read (and checked) by core/arch, and a record schema
 * would copy every key of every config on each CLI start.
 */
const jsonObject = z.custom<Record<string, unknown>>(
  (v) => !!v && typeof v === 'object' && !Array.isArray(v),
  'must be a JSON object',
);

const repoId = z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'must be an org/name Hugging Face id');
const completeness = z.enum(['verbatim', 'subset', 'reconstructed']);

/**
 * The Hub's figures for a repo as read on `as_of` (YYYY-MM-DD): refreshed by `npm run catalog:hub` (which asks the
 * Hub for each catalog repo) and by importing the repo (add/huggingface), which stores a newer reading.
 */
export const hubSnapshot = z
  .object({
    downloads: z.number().int().min(0),
    likes: z.number().int().min(0),
    as_of: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a YYYY-MM-DD date'),
  })
  .strict();
export type HubSnapshot = z.infer<typeof hubSnapshot>;

/**
 * Another repo whose config.json is the file's config with a few keys changed: an Instruct or chat release, a
 * quantised checkpoint (its quantization_config), a re-upload. `config_changes` replaces top-level keys,
 * `config_removed` drops keys; what results is that repo's config.json as `completeness` says.
 */
export const modelVariant = z
  .object({
    id: repoId,
    name: z.string().min(1).optional(),
    aliases: z.array(z.string().min(1)).default([]),
    release_date: z.string().optional(),
    license: z.string().optional(),
    gated: z.boolean().optional(),
    hub: hubSnapshot.optional(),
    source: z.string().min(1),
    completeness,
    config_changes: jsonObject.default({}),
    config_removed: z.array(z.string().min(1)).default([]),
  })
  .strict();
export type ModelVariant = z.infer<typeof modelVariant>;

/** One file of src/catalog/models: a repo's config.json with its metadata, and the variants that share it. */
export const modelFile = z.object({
  id: repoId,
  name: z.string().min(1),
  author: z.string().min(1),
  family: z.string().min(1),
  aliases: z.array(z.string().min(1)).default([]),
  release_date: z.string().optional(),
  license: z.string().optional(),
  gated: z.boolean().optional(),
  hub: hubSnapshot.optional(),
  source: z.string().min(1),
  completeness,
  config: jsonObject,
  variants: z.array(modelVariant).default([]),
});
export type ModelFile = z.infer<typeof modelFile>;

/** A resolvable catalog model: a file's own repo, or one of its variants with its config applied. */
export type ModelEntry = Omit<ModelFile, 'variants'> & {
  /** The id of the file's repo when this entry is one of its variants. */
  variant_of?: string;
};

export const deviceEntry = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  vendor: z.string().min(1),
  kind: z.enum(['gpu', 'tpu', 'accelerator', 'apple-soc', 'cpu']),
  aliases: z.array(z.string()).default([]),
  architecture: z.string().optional(),
  release_year: z.number().int().optional(),
  memory_bytes: sourced,
  visible_memory_bytes: sourced.optional(),
  memory_bandwidth_bytes_per_s: sourced,
  dense_flops: z.partialRecord(
    z.enum(['fp32', 'tf32', 'bf16', 'fp16', 'fp8', 'int8', 'fp4', 'int4']),
    sourced,
  ),
  interconnect: z.object({ name: z.string(), bandwidth_bytes_per_s: sourced }).optional(),
  tdp_w: sourced.optional(),
  price_usd_per_hour: sourced.optional(),
});
export type DeviceEntry = z.infer<typeof deviceEntry>;

const link = z.object({ name: z.string(), bandwidth_bytes_per_s: sourced, latency_s: sourced.optional() });

export const systemEntry = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  device: z.string().min(1),
  devices_per_node: z.number().int().positive(),
  nodes: z.number().int().positive(),
  aliases: z.array(z.string()).default([]),
  intra_node_link: link.optional(),
  inter_node_link: link.optional(),
  source_note: z.string().optional(),
});
export type SystemEntry = z.infer<typeof systemEntry>;
