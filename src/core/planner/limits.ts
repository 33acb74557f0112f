/**
 * When a predicted figure counts as meeting a limit. Predictions carry errors, and a goal may state how far a
 * measured figure may exceed its limit (the planner's Done-when check allows 10%). A configuration whose measured
 * figure sits exactly at the limit is predicted a hair above it half the time, so a strict comparison drops it half
 * the time; a margin, a share of that allowance, keeps it. The rest of the allowance is left for prediction error.
 */

/** The share of a goal's tolerance the planner may use as its margin (the rest absorbs prediction error). */
export const MARGIN_SHARE = 0.5;

/** Whether `predicted` meets `limit` with a relative `margin` (0: strictly at or under the limit). */
export function meetsLimit(predicted: number, limit: number, margin = 0): boolean {
  return predicted <= limit * (1 + margin);
}

/** A margin as given by a user: a fraction in [0, 0.5). */
export function checkMargin(margin: number): string | null {
  return Number.isFinite(margin) && margin >= 0 && margin < 0.5
    ? null
    : `margin must be a fraction from 0 to below 0.5 (got ${margin})`;
}
