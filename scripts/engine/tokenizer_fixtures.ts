/**
 * Writes small tokenizers with the published structure of three families into test/engine/fixtures/tokenizers/
 * (the real files are megabytes and not available offline): Llama 3 (byte-level BPE, BOS from a
 * TemplateProcessing post-processor, header-id chat template), Mistral v0.1 (SentencePiece BPE with byte fallback,
 * BOS from add_bos_token and the post-processor, [INST] template) and Qwen2 (byte-level BPE, NFC, no BOS, ChatML).
 * Normalizers, pre-tokenizers, post-processors, decoders, regexes and chat templates are copied from the published
 * tokenizer.json / tokenizer_config.json; only the vocabularies are cut to a few hundred entries.
 * Run: npx tsx scripts/engine/tokenizer_fixtures.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OUT = fileURLToPath(new URL('../../test/engine/fixtures/tokenizers/', import.meta.url));

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards. */
function byteChars(): string[] {
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
  let n = 0;
  return Array.from({ length: 256 }, (_, b) =>
    keep(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++),
  );
}

/** Byte-level vocabulary: id = byte value, then the merges' results from 256. */
function byteLevelModel(merges: [string, string][], ignoreMerges: boolean) {
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, i) => (vocab[c] = i));
  merges.forEach(([a, b], i) => (vocab[a + b] = 256 + i));
  return {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: ignoreMerges,
    vocab,
    merges: merges.map(([a, b]) => `${a} ${b}`),
  };
}

const BYTE_MERGES: [string, string][] = [
  ['H', 'i'],
  ['Ġ', 't'],
  ['Ġt', 'h'],
  ['Ġth', 'e'],
];

function added(id: number, content: string, special = true) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const byteLevelPre = (regex: string) => ({
  type: 'Sequence',
  pretokenizers: [
    { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
    { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
  ],
});

const LLAMA3_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

const MISTRAL_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

const QWEN2_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const llama3 = {
  tokenizer: {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      added(300, '<|begin_of_text|>'),
      added(301, '<|end_of_text|>'),
      added(302, '<|start_header_id|>'),
      added(303, '<|end_header_id|>'),
      added(304, '<|eot_id|>'),
    ],
    normalizer: null,
    pre_tokenizer: byteLevelPre(LLAMA3_REGEX),
    post_processor: {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
          ],
          pair: [
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } },
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: {
            '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [300], tokens: ['<|begin_of_text|>'] },
          },
        },
      ],
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: byteLevelModel(BYTE_MERGES, true),
  },
  config: {
    bos_token: '<|begin_of_text|>',
    eos_token: '<|eot_id|>',
    clean_up_tokenization_spaces: true,
    model_max_length: 131072,
    tokenizer_class: 'PreTrainedTokenizerFast',
    chat_template: LLAMA3_TEMPLATE,
  },
};

/** Mistral v0.1: <unk>, <s>, </s>, the 256 byte-fallback pieces, then pieces and their merges. */
function mistralModel() {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  const pieces = ['▁', 'H', 'i', 't', 'h', 'e', 'Hi', '▁Hi', 'th', 'the', '▁the'];
  pieces.forEach((p, i) => (vocab[p] = 259 + i));
  return {
    type: 'BPE',
    dropout: null,
    unk_token: '<unk>',
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: true,
    byte_fallback: true,
    ignore_merges: false,
    vocab,
    merges: ['H i', '▁ Hi', 't h', 'th e', '▁ the'],
  };
}

const mistral = {
  tokenizer: {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: mistralModel(),
  },
  config: {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    legacy: true,
    clean_up_tokenization_spaces: false,
    model_max_length: 1000000000000000019884624838656,
    tokenizer_class: 'LlamaTokenizer',
    chat_template: MISTRAL_TEMPLATE,
  },
};

const qwen2 = {
  tokenizer: {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(300, '<|endoftext|>'), added(301, '<|im_start|>'), added(302, '<|im_end|>')],
    normalizer: { type: 'NFC' },
    pre_tokenizer: byteLevelPre(QWEN2_REGEX),
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: byteLevelModel(BYTE_MERGES, false),
  },
  config: {
    add_prefix_space: false,
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    errors: 'replace',
    model_max_length: 32768,
    split_special_tokens: false,
    tokenizer_class: 'Qwen2Tokenizer',
    chat_template: QWEN2_TEMPLATE,
  },
};

for (const [name, t] of Object.entries({ llama3, mistral, qwen2 })) {
  const dir = join(OUT, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(t.tokenizer, null, 2) + '\n');
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(t.config, null, 2) + '\n');
}
