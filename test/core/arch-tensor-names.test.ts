/**
 * Tensor names are checkpoint module paths (`self_attn.q_proj.weight`): exclusion lists and per-module formats are
 * matched against them, so every name of every catalog model must be a well-formed dotted path, unique in its layer
 * group and among the tensors outside the layers. Specs are built from each entry's config directly (not through the
 * catalog's spec cache) so that a change to the readers shows here.
 */
import { describe, expect, it } from 'vitest';
import { specFromConfig } from '../../src/core/arch/index.js';
import { catalog } from '../../src/catalog/index.js';

const PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_#]+)*$/;

function problems(config: unknown): string[] {
  const s = specFromConfig(config);
  const out: string[] = [];
  const check = (where: string, names: string[]) => {
    for (const n of names) if (!PATH.test(n)) out.push(`${where}: '${n}'`);
    const dup = names.filter((n, i) => names.indexOf(n) !== i);
    if (dup.length) out.push(`${where}: repeated ${dup.join(', ')}`);
  };
  // Stacks decide what the KV and performance models count (KV is kept for decoder groups only).
  if (!['decoder', 'encoder', 'encoder-decoder'].includes(s.structure))
    out.push(`structure '${s.structure}'`);
  if (s.structure !== 'encoder' && !s.groups.some((g) => g.stack === 'decoder')) out.push('no decoder group');
  for (const g of s.groups) {
    if (!['decoder', 'encoder', 'vision'].includes(g.stack)) out.push(`${g.name}: stack '${g.stack}'`);
    if (!/^(decoder|encoder|vision|audio)(\.[a-z_]+)*$/.test(g.name)) out.push(`group name '${g.name}'`);
    check(
      g.name,
      g.tensors.map((t) => t.name),
    );
  }
  check(
    'outside the layers',
    s.globalTensors.map((t) => t.name),
  );
  return out;
}

describe('tensor names, group names and stacks', () => {
  const entries = catalog().models.items;

  it('the catalog holds models of every family', () => {
    const types = new Set(entries.map((e) => String((e.config as Record<string, unknown>)['model_type'])));
    expect(types.size).toBeGreaterThanOrEqual(45);
  });

  it('every catalog model: dotted module paths, unique in their group', () => {
    const bad = entries.flatMap((e) => problems(e.config).map((p) => `${e.id} ${p}`));
    expect(bad).toEqual([]);
  });

  it('variants the catalog does not hold', () => {
    const small = { hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, vocab_size: 10 };
    const configs = [
      { ...small, model_type: 'falcon', new_decoder_architecture: true, num_kv_heads: 1 },
      { ...small, model_type: 'falcon', parallel_attn: false, bias: true, tie_word_embeddings: false },
      { ...small, model_type: 'phi', intermediate_size: 16, qk_layernorm: true, tie_word_embeddings: true },
      { ...small, model_type: 'gptj', tie_word_embeddings: true },
      {
        ...small,
        model_type: 'opt',
        ffn_dim: 16,
        max_position_embeddings: 8,
        word_embed_proj_dim: 4,
        tie_word_embeddings: false,
      },
      { ...small, model_type: 'gpt2', n_positions: 8, tie_word_embeddings: false },
      { ...small, model_type: 'gpt_neox', intermediate_size: 16 },
      {
        ...small,
        model_type: 't5',
        d_model: 8,
        d_kv: 4,
        d_ff: 16,
        num_layers: 1,
        num_heads: 2,
        feed_forward_proj: 'gated-gelu',
        tie_word_embeddings: false,
      },
      { ...small, model_type: 'mamba', use_conv_bias: true, tie_word_embeddings: false },
      { ...small, model_type: 'mamba2', num_heads: 2, state_size: 4, tie_word_embeddings: false },
      {
        ...small,
        model_type: 'jamba',
        num_hidden_layers: 4,
        intermediate_size: 16,
        num_experts: 2,
        attn_layer_period: 2,
        attn_layer_offset: 1,
      },
    ];
    expect(configs.flatMap((c) => problems(c).map((p) => `${c.model_type} ${p}`))).toEqual([]);
  });
});
