/**
 * What list endpoints show of a stored config, kept in its own small column at import so that listing models
 * never reads (or parses) every stored config.
 */
export interface ConfigShape {
  model_type: string | null;
  hidden_size: number | null;
  num_hidden_layers: number | null;
  num_attention_heads: number | null;
  num_key_value_heads: number | null;
  vocab_size: number | null;
}

export function configShape(config: Record<string, unknown>): ConfigShape {
  const pick = (...keys: string[]) => {
    for (const k of keys) if (typeof config[k] === 'number') return config[k] as number;
    return null;
  };
  return {
    model_type: typeof config['model_type'] === 'string' ? config['model_type'] : null,
    hidden_size: pick('hidden_size', 'n_embd', 'd_model'),
    num_hidden_layers: pick('num_hidden_layers', 'n_layer', 'num_layers'),
    num_attention_heads: pick('num_attention_heads', 'n_head', 'num_heads'),
    num_key_value_heads: pick('num_key_value_heads', 'num_attention_heads', 'n_head'),
    vocab_size: pick('vocab_size'),
  };
}
