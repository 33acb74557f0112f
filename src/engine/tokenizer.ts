/**
 * Tokenizer: tokenizer.json (+ tokenizer_config.json) through @huggingface/tokenizers, plus a small chat-template
 * renderer for the common `{% for message in messages %}` templates, with a plain fallback format.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';

export interface ChatMessage {
  role: string;
  content: string;
}

export class Tokenizer {
  private constructor(
    private readonly tok: HfTokenizer,
    readonly vocabSize: number,
    readonly eosTokenIds: number[],
    readonly bosTokenId: number | null,
    private readonly addBos: boolean,
  ) {}

  static fromDir(dir: string, configEos: number[], configBos: number | null): Tokenizer {
    const file = join(dir, 'tokenizer.json');
    if (!existsSync(file)) throw new Error(`${dir}: no tokenizer.json`);
    const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const cfgFile = join(dir, 'tokenizer_config.json');
    const cfg = existsSync(cfgFile)
      ? (JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>)
      : {};
    const tok = new HfTokenizer(json, cfg);
    const model = json['model'] as { vocab?: Record<string, number> | unknown[] } | undefined;
    const added = (json['added_tokens'] as { id: number }[] | undefined) ?? [];
    const vocab = model?.vocab;
    const base = Array.isArray(vocab) ? vocab.length : vocab ? Object.keys(vocab).length : 0;
    const size = Math.max(base, ...added.map((a) => a.id + 1));
    return new Tokenizer(
      tok,
      size,
      configEos,
      configBos,
      cfg['add_bos_token'] === true && configBos !== null,
    );
  }

  encode(text: string): number[] {
    const ids = this.tok.encode(text, { add_special_tokens: false }).ids;
    return this.addBos && this.bosTokenId !== null ? [this.bosTokenId, ...ids] : ids;
  }

  decode(ids: readonly number[]): string {
    return this.tok.decode([...ids], { skip_special_tokens: true });
  }

  /** Token strings, as the tokenizer's vocabulary spells them. */
  tokens(text: string): string[] {
    return this.tok.encode(text, { add_special_tokens: false }).tokens;
  }

  /** A plain chat format: "role: content" lines, then "assistant:". */
  applyChat(messages: readonly ChatMessage[]): string {
    return messages.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant:';
  }
}
