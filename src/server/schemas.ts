/** Request schemas shared by the routes. */
import { z } from 'zod';

/** `?explain=true` on computing endpoints: the answer carries the core's trace. */
export const explainQuery = z.object({
  explain: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .describe('true: add `trace`, every figure with its formula, inputs and unit'),
});

export function wantsExplain(q: { explain?: string | undefined }): boolean {
  return q.explain === 'true' || q.explain === '1';
}
