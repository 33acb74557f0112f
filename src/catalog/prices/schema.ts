/** The schema of a prices file (src/catalog/prices/prices.json, or a user's file via --prices / INFERSIM_PRICES). */
import { z } from 'zod';

export const priceEntry = z
  .object({
    /** Device id or alias from the hardware catalog. */
    device: z.string().min(1),
    provider: z.string().min(1),
    offering: z.string().min(1).optional(),
    usd_per_gpu_hour: z.number().finite().positive(),
    billing: z.enum(['on-demand']).default('on-demand'),
    region: z.string().min(1).default('unspecified'),
    /** When the price was read (YYYY-MM-DD, or a year where only that is known). */
    as_of: z.string().regex(/^\d{4}(-\d{2}(-\d{2})?)?$/, 'must be YYYY, YYYY-MM or YYYY-MM-DD'),
    source_url: z.string().min(1),
    /** A third party that transcribed the provider's page, when the price was read from it. */
    via: z.string().min(1).optional(),
    note: z.string().optional(),
    gpus_per_instance: z.number().int().positive().optional(),
  })
  .strict();
export type PriceEntry = z.infer<typeof priceEntry>;

/** A file is either { prices: [...] } or a bare array of entries. */
export const priceFile = z.union([
  z.object({ $comment: z.string().optional(), prices: z.array(priceEntry) }).strict(),
  z.array(priceEntry),
]);
