/** OpenAI's logprobs objects from the engine's per-token log-probabilities: completions' and chat's shapes. */
import type { Engine } from '../../engine/engine.js';
import type { TokenLogprob } from '../../engine/logits.js';

/** Completions: {tokens, token_logprobs, top_logprobs, text_offset}; null entries for an echoed first token. */
export function completionLogprobs(e: Engine, lps: readonly (TokenLogprob | null)[], ids: readonly number[]) {
  const tokens = ids.map((id) => e.tokenText(id));
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
      lp ? Object.fromEntries(lp.top.map((t) => [e.tokenText(t.id), t.logprob])) : null,
    ),
    text_offset: textOffset,
  };
}

function entry(e: Engine, id: number, logprob: number) {
  const token = e.tokenText(id);
  return { token, logprob, bytes: [...Buffer.from(token, 'utf8')] };
}

/** Chat: {content: [{token, logprob, bytes, top_logprobs}], refusal: null}. */
export function chatLogprobs(e: Engine, lps: readonly TokenLogprob[]) {
  return {
    content: lps.map((lp) => ({
      ...entry(e, lp.id, lp.logprob),
      top_logprobs: lp.top.map((t) => entry(e, t.id, t.logprob)),
    })),
    refusal: null,
  };
}
