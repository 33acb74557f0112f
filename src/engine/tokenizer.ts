/**
 * Tokenizer: tokenizer.json (+ tokenizer_config.json) through @huggingface/tokenizers, encoding as Hugging Face
 * does (the post-processor adds BOS/EOS where the tokenizer says so), and chat prompts through the checkpoint's
 * Jinja template (chat_template.ts), with a plain "role: content" format when it ships none.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ChatTemplate, findChatTemplate, type ChatMessage } from './chat_template.js';

export type { ChatMessage } from './chat_template.js';

export class Tokenizer {
  private constructor(
    private readonly tok: HfTokenizer,
    readonly vocabSize: number,
    readonly eosTokenIds: number[],
    readonly bosTokenId: number | null,
    /** tokenizer_config.json's add_bos_token when set (overrides the post-processor, as transformers does). */
    private readonly addBos: boolean | undefined,
    readonly chatTemplate: ChatTemplate | null,
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
    const bosText = typeof cfg['bos_token'] === 'string' ? cfg['bos_token'] : undefined;
    const bos = configBos ?? (bosText !== undefined ? (tok.token_to_id(bosText) ?? null) : null);
    const addBos = typeof cfg['add_bos_token'] === 'boolean' ? cfg['add_bos_token'] : undefined;
    const source = findChatTemplate(dir, cfg);
    return new Tokenizer(tok, size, configEos, bos, addBos, source ? new ChatTemplate(source, cfg) : null);
  }

  /** A prompt as Hugging Face's tokenizer(text) encodes it: special tokens of the post-processor included. */
  encode(text: string): number[] {
    const ids = this.tok.encode(text, { add_special_tokens: true }).ids;
    const bos = this.bosTokenId;
    if (bos === null || this.addBos === undefined) return ids;
    const starts = ids[0] === bos && this.encodePlain(text)[0] !== bos;
    if (this.addBos && !starts) return [bos, ...ids];
    if (!this.addBos && starts) return ids.slice(1);
    return ids;
  }

  /** Text alone, no special tokens added (a rendered chat template carries its own). */
  encodePlain(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], skipSpecial = true): string {
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], { skip_special_tokens: skipSpecial });
  }

  /** Token strings, as the tokenizer's vocabulary spells them. */
  tokens(text: string): string[] {
    return this.tok.encode(text, { add_special_tokens: false }).tokens;
  }

  /**
   * The chat prompt: the checkpoint's template rendered with add_generation_prompt, else "role: content" lines
   * then "assistant:".
   */
  applyChat(messages: readonly ChatMessage[]): string {
    if (this.chatTemplate) return this.chatTemplate.render(messages, true);
    return messages.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant:';
  }

  /**
   * Token ids of a chat: the rendered template tokenized without added special tokens (transformers'
   * apply_chat_template(tokenize=True)); the plain format is an ordinary prompt.
   */
  encodeChat(messages: readonly ChatMessage[]): number[] {
    const text = this.applyChat(messages);
    return this.chatTemplate ? this.encodePlain(text) : this.encode(text);
  }
}
