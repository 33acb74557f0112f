/**
 * Persistence: imported models (source `database`) and the results cache. One query layer (Kysely) over two
 * dialects: a SQLite file by default (./data/infersim.db, WAL; INFERSIM_DATA_DIR moves it) and PostgreSQL when
 * DATABASE_URL is set. Several server instances can share one PostgreSQL.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Selectable } from 'kysely';
import pg from 'pg';
import { canonicalJson, sha256 } from './canonical.js';
import { migrationProvider } from './migrations.js';
import type { Database, ModelsTable } from './schema.js';
import { configShape, type ConfigShape } from './summary.js';

export { canonicalJson, sha256 } from './canonical.js';
export { configShape, type ConfigShape } from './summary.js';

export type Dialect = 'sqlite' | 'postgres';

export interface StoredModel {
  id: string;
  name: string;
  author: string | null;
  origin: string;
  config: Record<string, unknown>;
  metadata: Record<string, unknown>;
  model_type: string;
  attention_type: string | null;
  parameter_count: number;
  tags: string[];
  created_at: string;
}

export type NewModel = Omit<StoredModel, 'created_at'>;

/** A stored model as list endpoints show it: no config, no metadata (never read for a list). */
export type ModelSummary = Omit<StoredModel, 'config' | 'metadata'> & {
  shape: ConfigShape;
  hub_downloads: number | null;
};

/** created: written now; already_existed: the same model was there; conflict: the id holds a different config. */
export interface ImportResult {
  status: 'created' | 'already_existed' | 'conflict';
  model: StoredModel;
}

export interface ModelQuery {
  author?: string;
  minParameters?: number;
  maxParameters?: number;
  /** Every tag must be present (case-insensitive). */
  tags?: string[];
}

export interface StoreOptions {
  /** postgres://… ; defaults to the DATABASE_URL environment variable. */
  databaseUrl?: string;
  /** SQLite file; ':memory:' for a private in-memory database. */
  sqlitePath?: string;
  /** Directory of infersim.db when no path is given; defaults to INFERSIM_DATA_DIR or ./data. */
  dataDir?: string;
  /** Rows the results cache keeps (oldest dropped beyond it). */
  cacheRows?: number;
}

export class StoreError extends Error {}

/** A value the schema cannot hold exactly (too long, a NUL byte, an inexact integer): the caller's input. */
export class StoreInputError extends StoreError {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field}: ${rule}`);
  }
}

/**
 * Characters each text column holds (PostgreSQL varchar(n) counts characters; SQLite would store anything, so
 * both dialects are held to these here and answer the same).
 */
export const TEXT_LIMITS = {
  id: 200,
  name: 300,
  author: 200,
  origin: 32,
  model_type: 32,
  attention_type: 16,
  tag: 200,
} as const;

/** Throws StoreInputError for a model neither dialect could store exactly as given. */
export function checkStorable(m: NewModel): void {
  const text = (field: string, v: string | null, max: number) => {
    if (v === null) return;
    if (v.includes('\u0000')) throw new StoreInputError(field, 'must not contain a NUL byte');
    const n = [...v].length;
    if (n > max) throw new StoreInputError(field, `at most ${max} characters (got ${n})`);
  };
  text('id', m.id, TEXT_LIMITS.id);
  text('name', m.name, TEXT_LIMITS.name);
  text('author', m.author, TEXT_LIMITS.author);
  text('origin', m.origin, TEXT_LIMITS.origin);
  text('model_type', m.model_type, TEXT_LIMITS.model_type);
  text('attention_type', m.attention_type, TEXT_LIMITS.attention_type);
  m.tags.forEach((t, i) => text(`tags[${i}]`, t, TEXT_LIMITS.tag));
  if (!Number.isSafeInteger(m.parameter_count) || m.parameter_count < 0)
    throw new StoreInputError(
      'parameter_count',
      `${m.parameter_count} is not an exact non-negative integer (at most ${Number.MAX_SAFE_INTEGER}); check the config's sizes`,
    );
}

/** Lower-cased id: the primary key. */
export function modelKey(id: string): string {
  return id.trim().toLowerCase();
}

export class Store {
  private cacheWrites = 0;

  private constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    /** The SQLite path, or the PostgreSQL URL without its password. */
    readonly location: string,
    private readonly cacheRows: number,
  ) {}

  static async open(o: StoreOptions = {}): Promise<Store> {
    const url = o.databaseUrl ?? (o.sqlitePath ? undefined : process.env['DATABASE_URL']);
    let store: Store;
    if (url) {
      if (!/^postgres(ql)?:\/\//.test(url)) throw new StoreError('DATABASE_URL must be a postgres:// URL');
      const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: 10_000 });
      const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
      store = new Store(db, 'postgres', url.replace(/:[^:@/]*@/, ':***@'), o.cacheRows ?? 100_000);
    } else {
      const path =
        o.sqlitePath ?? join(resolve(o.dataDir ?? process.env['INFERSIM_DATA_DIR'] ?? 'data'), 'infersim.db');
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      const sqlite = new BetterSqlite3(path);
      sqlite.pragma('journal_mode = WAL');
      // WAL with synchronous=NORMAL: durable against crashes of the process, one fsync per checkpoint.
      sqlite.pragma('synchronous = NORMAL');
      sqlite.pragma('busy_timeout = 5000');
      sqlite.pragma('foreign_keys = ON');
      const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
      store = new Store(db, 'sqlite', path, o.cacheRows ?? 100_000);
    }
    try {
      await store.migrate();
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new StoreError(
        `database migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** Applied migration names, oldest first. */
  async appliedMigrations(): Promise<string[]> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider });
    return (await migrator.getMigrations()).filter((m) => m.executedAt).map((m) => m.name);
  }

  async getModel(id: string): Promise<StoredModel | null> {
    // No stored id holds a NUL byte (checkStorable), and PostgreSQL cannot even compare one.
    if (id.includes('\u0000')) return null;
    const row = await this.db
      .selectFrom('models')
      .selectAll()
      .where('key', '=', modelKey(id))
      .executeTakeFirst();
    if (!row) return null;
    const tags = await this.db
      .selectFrom('model_tags')
      .select('tag')
      .where('model_key', '=', row.key)
      .orderBy('tag')
      .execute();
    return toModel(
      row,
      tags.map((t) => t.tag),
    );
  }

  private filtered(q: ModelQuery) {
    let query = this.db.selectFrom('models').orderBy('key');
    if (q.author) query = query.where((eb) => eb(eb.fn('lower', ['author']), '=', q.author!.toLowerCase()));
    if (q.minParameters !== undefined) query = query.where('parameter_count', '>=', q.minParameters);
    if (q.maxParameters !== undefined) query = query.where('parameter_count', '<=', q.maxParameters);
    for (const tag of q.tags ?? []) {
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('model_tags')
            .select('model_tags.tag')
            .whereRef('model_tags.model_key', '=', 'models.key')
            .where('model_tags.tag', '=', tag.toLowerCase()),
        ),
      );
    }
    return query;
  }

  private async tagsOf(keys: string[]): Promise<Map<string, string[]>> {
    const byKey = new Map<string, string[]>();
    if (!keys.length) return byKey;
    const tagRows = await this.db
      .selectFrom('model_tags')
      .select(['model_key', 'tag'])
      .where('model_key', 'in', keys)
      .orderBy('tag')
      .execute();
    for (const t of tagRows) byKey.set(t.model_key, [...(byKey.get(t.model_key) ?? []), t.tag]);
    return byKey;
  }

  /** Whole stored models (configs included): for callers that compute with every one of them. */
  async listModels(q: ModelQuery = {}): Promise<StoredModel[]> {
    const rows = await this.filtered(q).selectAll().execute();
    const tags = await this.tagsOf(rows.map((r) => r.key));
    return rows.map((r) => toModel(r, tags.get(r.key) ?? []));
  }

  /** Stored models as lists show them, without reading a config (except rows stored before their summary). */
  async listSummaries(q: ModelQuery = {}): Promise<ModelSummary[]> {
    const rows = await this.filtered(q)
      .select([
        'key',
        'id',
        'name',
        'author',
        'origin',
        'model_type',
        'attention_type',
        'parameter_count',
        'created_at',
        'summary_json',
        'hub_downloads',
      ])
      .execute();
    const legacy = rows.filter((r) => r.summary_json === null).map((r) => r.key);
    const shapes = new Map<string, ConfigShape>();
    if (legacy.length) {
      const cfg = await this.db
        .selectFrom('models')
        .select(['key', 'config_json'])
        .where('key', 'in', legacy)
        .execute();
      for (const c of cfg)
        shapes.set(c.key, configShape(JSON.parse(c.config_json) as Record<string, unknown>));
    }
    const tags = await this.tagsOf(rows.map((r) => r.key));
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      author: r.author,
      origin: r.origin,
      model_type: r.model_type,
      attention_type: r.attention_type,
      parameter_count: Number(r.parameter_count),
      tags: tags.get(r.key) ?? [],
      created_at: r.created_at,
      shape: r.summary_json ? (JSON.parse(r.summary_json) as ConfigShape) : shapes.get(r.key)!,
      hub_downloads: r.hub_downloads === null ? null : Number(r.hub_downloads),
    }));
  }

  /**
   * The Hub imports with the most Hub downloads, most first. Only Hub imports rank: a config import's metadata
   * is the client's word, not the Hub's.
   */
  async popularImports(limit: number): Promise<StoredModel[]> {
    const rows = await this.db
      .selectFrom('models')
      .select(['key', 'hub_downloads'])
      .where('origin', '=', 'huggingface')
      .where('hub_downloads', 'is not', null)
      .orderBy('hub_downloads', 'desc')
      .orderBy('key')
      .limit(limit)
      .execute();
    const out: StoredModel[] = [];
    for (const r of rows) {
      const m = await this.getModel(r.key);
      if (m) out.push(m);
    }
    return out;
  }

  /** Deletes an imported model and its tags; false when there was none. */
  async deleteModel(id: string): Promise<boolean> {
    if (id.includes('\u0000')) return false;
    const key = modelKey(id);
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('model_tags').where('model_key', '=', key).execute();
      const r = await trx.deleteFrom('models').where('key', '=', key).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async countModels(): Promise<number> {
    const r = await this.db
      .selectFrom('models')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /**
   * Imports a model atomically and idempotently: the row and its tags are written in one transaction, and a
   * second import of the same id writes nothing (concurrent importers on one PostgreSQL included).
   */
  async importModel(m: NewModel): Promise<ImportResult> {
    checkStorable(m);
    const key = modelKey(m.id);
    const configJson = canonicalJson(m.config);
    const row: ModelsTable = {
      key,
      id: m.id,
      name: m.name,
      author: m.author,
      origin: m.origin,
      config_json: configJson,
      config_sha256: sha256(configJson),
      metadata_json: JSON.stringify(m.metadata),
      model_type: m.model_type,
      attention_type: m.attention_type,
      parameter_count: m.parameter_count,
      created_at: new Date().toISOString(),
      summary_json: JSON.stringify(configShape(m.config)),
      hub_downloads:
        m.origin === 'huggingface' && Number.isSafeInteger(m.metadata['downloads'])
          ? (m.metadata['downloads'] as number)
          : null,
    };
    const tags = [...new Set(m.tags.map((t) => t.toLowerCase()))];
    const created = await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('models')
        .values(row)
        .onConflict((oc) => oc.column('key').doNothing())
        .returning('key')
        .executeTakeFirst();
      if (!inserted) return false;
      if (tags.length)
        await trx
          .insertInto('model_tags')
          .values(tags.map((tag) => ({ model_key: key, tag })))
          .onConflict((oc) => oc.columns(['model_key', 'tag']).doNothing())
          .execute();
      return true;
    });
    const stored = await this.getModel(m.id);
    if (!stored) throw new StoreError(`model ${m.id} vanished after import`);
    if (created) return { status: 'created', model: stored };
    const same = sha256(canonicalJson(stored.config)) === row.config_sha256;
    return { status: same ? 'already_existed' : 'conflict', model: stored };
  }

  async cacheGet(key: string): Promise<string | null> {
    const r = await this.db
      .selectFrom('results_cache')
      .select('response_json')
      .where('key', '=', key)
      .executeTakeFirst();
    return r?.response_json ?? null;
  }

  async cacheSet(key: string, endpoint: string, responseJson: string): Promise<void> {
    await this.cacheSetMany([{ key, endpoint, response_json: responseJson }]);
  }

  /** Several entries in one statement (the server batches its writes). */
  async cacheSetMany(rows: { key: string; endpoint: string; response_json: string }[]): Promise<void> {
    if (!rows.length) return;
    const created_at = new Date().toISOString();
    await this.db
      .insertInto('results_cache')
      .values(rows.map((r) => ({ ...r, created_at })))
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    const before = this.cacheWrites;
    this.cacheWrites += rows.length;
    if (Math.floor(before / 1000) !== Math.floor(this.cacheWrites / 1000)) await this.pruneCache();
  }

  /** Keeps the newest `cacheRows` entries. */
  async pruneCache(): Promise<void> {
    const edge = await this.db
      .selectFrom('results_cache')
      .select('created_at')
      .orderBy('created_at', 'desc')
      .limit(1)
      .offset(this.cacheRows)
      .executeTakeFirst();
    if (edge) await this.db.deleteFrom('results_cache').where('created_at', '<=', edge.created_at).execute();
  }

  async cacheCount(): Promise<number> {
    const r = await this.db
      .selectFrom('results_cache')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }
}

function toModel(r: Selectable<ModelsTable>, tags: string[]): StoredModel {
  return {
    id: r.id,
    name: r.name,
    author: r.author,
    origin: r.origin,
    config: JSON.parse(r.config_json) as Record<string, unknown>,
    metadata: JSON.parse(r.metadata_json) as Record<string, unknown>,
    model_type: r.model_type,
    attention_type: r.attention_type,
    parameter_count: Number(r.parameter_count),
    tags,
    created_at: r.created_at,
  };
}

export function openStore(o: StoreOptions = {}): Promise<Store> {
  return Store.open(o);
}
