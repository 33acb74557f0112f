/** OpenAI's logprobs objects from the engine's per-token log-probabilities: completions' and chat's shapes. */
import type { EngineService } from '../engine-service.js';
import type { TokenLogprob } from '../../engine/logits.js';

/** A token's spelling: its text, or "token_id:ID" under vLLM's return_tokens_as_token_ids. */
export type Spell = (id: number) => string;

export function speller(e: EngineService, asIds: boolean): Spell {
  return asIds ? (id) => `token_id:${id}` : (id) => e.tokenText(id);
}

/** Completions: {tokens, token_logprobs, top_logprobs, text_offset}; null entries for an echoed first token. */
export function completionLogprobs(
  spell: Spell,
  lps: readonly (TokenLogprob | null)[],
  ids: readonly number[],
) {
  const tokens = ids.map(spell);
  let offset = 0;
  const textOffset = tokens.map((t) => {
    const at = offset;
    offset += t.length;
    return at;
  });
  return {
    tokens,
    token_logprobs: lps.map((lp) => lp?.logprob ?? null),
    top_logprobs: lps.map((lp) =>
      lp ? Object.fromEntries(lp.top.map((t) => [spell(t.id), t.logprob])) : null,
    ),
    text_offset: textOffset,
  };
}

function entry(spell: Spell, id: number, logprob: number) {
  const token = spell(id);
  return { token, logprob, bytes: [...Buffer.from(token, 'utf8')] };
}

/** Chat: {content: [{token, logprob, bytes, top_logprobs}], refusal: null}. */
export function chatLogprobs(spell: Spell, lps: readonly TokenLogprob[]) {
  return {
    content: lps.map((lp) => ({
      ...entry(spell, lp.id, lp.logprob),
      top_logprobs: lp.top.map((t) => entry(spell, t.id, t.logprob)),
    })),
    refusal: null,
  };
}
