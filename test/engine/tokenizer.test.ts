/**
 * Golden tokenization on three tokenizer families built with their published structure
 * (scripts/engine/tokenizer_fixtures.ts): BOS from the post-processor (Llama 3) or add_bos_token (Mistral) or none
 * (Qwen2), special tokens in text, and chat templates rendered with add_generation_prompt. Expected ids are derived
 * by hand: in the byte-level fixtures a byte's id is its value and the merges are Hi=256, Ġt=257, Ġth=258,
 * Ġthe=259; in the Mistral one <s>=1, a byte b falls back to <0x..>=3+b, ▁=259, ▁Hi=266, ▁the=269. Every case is
 * also checked against @huggingface/tokenizers' own encode (what tokenizer(text) gives in transformers).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { ChatTemplateError } from '../../src/engine/chat_template.js';
import { Tokenizer } from '../../src/engine/tokenizer.js';
import { FIXTURES } from './helpers.js';

const dir = (f: string) => join(FIXTURES, 'tokenizers', f);
const load = (f: string) => Tokenizer.fromDir(dir(f), [], null);
const hf = (f: string) =>
  new HfTokenizer(
    JSON.parse(readFileSync(join(dir(f), 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(join(dir(f), 'tokenizer_config.json'), 'utf8')),
  );
/** Byte-level ids of text no merge applies to: its UTF-8 bytes. */
const bytes = (s: string) => [...Buffer.from(s, 'utf8')];
/** Mistral byte fallback: <0xNN> = 3 + byte. */
const fb = (s: string) => bytes(s).map((b) => 3 + b);

describe('BOS as Hugging Face adds it', () => {
  it('Llama 3: <|begin_of_text|> from the TemplateProcessing post-processor (no add_bos_token)', () => {
    const t = load('llama3');
    expect(t.encode('Hi the')).toEqual([300, 256, 259]);
    expect(t.encode('Hi the')).toEqual(hf('llama3').encode('Hi the').ids);
    expect(t.encodePlain('Hi the')).toEqual([256, 259]);
  });
  it('Mistral: <s> once (add_bos_token and the post-processor agree), ▁ prepended', () => {
    const t = load('mistral');
    expect(t.encode('Hi the')).toEqual([1, 266, 269]);
    expect(t.encode('Hi the')).toEqual(hf('mistral').encode('Hi the').ids);
  });
  it('Qwen2: no BOS at all', () => {
    const t = load('qwen2');
    expect(t.bosTokenId).toBeNull();
    expect(t.encode('Hi the')).toEqual([256, 259]);
    expect(t.encode('Hi the')).toEqual(hf('qwen2').encode('Hi the').ids);
  });
  it('special tokens written in the text are single ids, and decode drops them', () => {
    const t = load('qwen2');
    expect(t.encode('<|im_start|>Hi<|im_end|>')).toEqual([301, 256, 302]);
    expect(t.decode([301, 256, 302])).toBe('Hi');
    expect(load('llama3').decode(load('llama3').encode('Hi the'))).toBe('Hi the');
  });
});

describe('chat templates (rendered with @huggingface/jinja, add_generation_prompt)', () => {
  const hi = [{ role: 'user', content: 'Hi' }];

  it('Llama 3: header ids, BOS from the template only, the assistant header opened', () => {
    const t = load('llama3');
    expect(t.applyChat(hi)).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    expect(t.encodeChat(hi)).toEqual([
      300,
      302,
      ...bytes('user'),
      303,
      10,
      10,
      256,
      304,
      302,
      ...bytes('assistant'),
      303,
      10,
      10,
    ]);
    expect(t.encodeChat(hi)).toEqual(hf('llama3').encode(t.applyChat(hi), { add_special_tokens: false }).ids);
  });

  it('Mistral: [INST] … [/INST] after one <s>; a template refusal is a ChatTemplateError', () => {
    const t = load('mistral');
    const chat = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'the' },
      { role: 'user', content: 'Hi' },
    ];
    expect(t.applyChat(chat)).toBe('<s>[INST] Hi [/INST]the</s>[INST] Hi [/INST]');
    const inst = [259, ...fb('[INST]'), 266, 259, ...fb('[/INST]')];
    expect(t.encodeChat(hi)).toEqual([1, ...inst]);
    expect(t.encodeChat(hi)).toEqual(
      hf('mistral').encode(t.applyChat(hi), { add_special_tokens: false }).ids,
    );
    expect(() => t.applyChat([{ role: 'system', content: 'x' }])).toThrow(ChatTemplateError);
    expect(() => t.applyChat([{ role: 'system', content: 'x' }])).toThrow(/roles must alternate/);
  });

  it('Qwen2: ChatML with the default system prompt', () => {
    const t = load('qwen2');
    const text =
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n' +
      '<|im_start|>assistant\n';
    expect(t.applyChat(hi)).toBe(text);
    expect(t.encodeChat(hi)).toEqual([
      301,
      ...bytes('system\nYou are a helpful assistant.'),
      302,
      10,
      301,
      ...bytes('user\n'),
      256,
      302,
      10,
      301,
      ...bytes('assistant\n'),
    ]);
    const sys = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ];
    expect(t.applyChat(sys).startsWith('<|im_start|>system\nBe brief.<|im_end|>\n')).toBe(true);
  });

  it('a checkpoint without a template gets the plain format, encoded as a prompt', () => {
    const t = Tokenizer.fromDir(join(FIXTURES, '..', '..', '..', 'models', 'kjv-llama-tiny'), [0], 0);
    expect(t.chatTemplate).toBeNull();
    expect(t.applyChat(hi)).toBe('user: Hi\nassistant:');
  });
});
