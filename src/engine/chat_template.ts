/**
 * Chat templates as `transformers` applies them: the Jinja template of the checkpoint (tokenizer_config.json's
 * `chat_template`, a named list of them, chat_template.jinja or chat_template.json), rendered by
 * @huggingface/jinja with the messages, `add_generation_prompt` and the tokenizer's special-token strings.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: string;
  content: string;
}

/** A template that refuses the conversation (raise_exception) or fails to render: the caller's 400. */
export class ChatTemplateError extends Error {}

/** The template text, where the checkpoint ships one; `transformers` picks 'default' from a named list. */
export function findChatTemplate(dir: string, cfg: Record<string, unknown>): string | null {
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return readFileSync(jinja, 'utf8');
  const json = join(dir, 'chat_template.json');
  if (existsSync(json)) {
    const t = (JSON.parse(readFileSync(json, 'utf8')) as { chat_template?: unknown }).chat_template;
    if (typeof t === 'string') return t;
  }
  const t = cfg['chat_template'];
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as { name?: unknown; template?: unknown }[];
    const pick = named.find((x) => x.name === 'default') ?? named[0];
    if (pick && typeof pick.template === 'string') return pick.template;
  }
  return null;
}

/** A special token of tokenizer_config.json: a string or an AddedToken object `{content}`. */
export function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string')
    return (v as { content: string }).content;
  return undefined;
}

export class ChatTemplate {
  private readonly template: Template;
  private readonly specials: Record<string, string>;

  constructor(
    readonly source: string,
    cfg: Record<string, unknown>,
  ) {
    this.template = new Template(source);
    this.specials = {};
    for (const k of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const s = tokenString(cfg[k]);
      if (s !== undefined) this.specials[k] = s;
    }
  }

  render(messages: readonly ChatMessage[], addGenerationPrompt = true): string {
    try {
      return this.template.render({
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: addGenerationPrompt,
        ...this.specials,
      });
    } catch (e) {
      throw new ChatTemplateError(
        `the model's chat template refused the messages: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
}
