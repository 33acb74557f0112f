/** Table types of the store, the same for both dialects (JSON is kept as text, timestamps as ISO strings). */
export interface ModelsTable {
  /** Lower-cased id: Hugging Face ids are case-insensitive, so 'Org/Name' and 'org/name' are one model. */
  key: string;
  /** The id as it was first imported. */
  id: string;
  name: string;
  author: string | null;
  /** Where the model came from: 'huggingface' or 'config'. */
  origin: string;
  config_json: string;
  /** sha256 of the canonical config, to tell an identical re-import from a different model under the same id. */
  config_sha256: string;
  metadata_json: string;
  model_type: string;
  attention_type: string | null;
  /** Exact parameter count at import (bigint in PostgreSQL: read back as a string there). */
  parameter_count: number | string;
  created_at: string;
  /** configShape() of the config as JSON (null on rows imported before migration 0003). */
  summary_json: string | null;
  /** The Hub's download count at import, for Hub imports only (bigint: a string in PostgreSQL). */
  hub_downloads: number | string | null;
}

export interface ModelTagsTable {
  model_key: string;
  tag: string;
}

export interface ResultsCacheTable {
  key: string;
  endpoint: string;
  response_json: string;
  created_at: string;
}

export interface Database {
  models: ModelsTable;
  model_tags: ModelTagsTable;
  results_cache: ResultsCacheTable;
}
