/**
 * Versioned migrations, run in name order by Kysely's Migrator (which takes a lock, so several server instances
 * starting at once on one PostgreSQL migrate once). Never edit a released migration: add the next one.
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export const MIGRATIONS: Record<string, Migration> = {
  '0001_models': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('models')
        .ifNotExists()
        .addColumn('key', 'varchar(200)', (c) => c.primaryKey())
        .addColumn('id', 'varchar(200)', (c) => c.notNull())
        .addColumn('name', 'varchar(300)', (c) => c.notNull())
        .addColumn('author', 'varchar(200)')
        .addColumn('origin', 'varchar(32)', (c) => c.notNull())
        .addColumn('config_json', 'text', (c) => c.notNull())
        .addColumn('config_sha256', 'varchar(64)', (c) => c.notNull())
        .addColumn('metadata_json', 'text', (c) => c.notNull())
        .addColumn('model_type', 'varchar(32)', (c) => c.notNull())
        .addColumn('attention_type', 'varchar(16)')
        .addColumn('parameter_count', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('model_tags')
        .ifNotExists()
        .addColumn('model_key', 'varchar(200)', (c) =>
          c.notNull().references('models.key').onDelete('cascade'),
        )
        .addColumn('tag', 'varchar(200)', (c) => c.notNull().check(sql`length(tag) <= 200`))
        .addPrimaryKeyConstraint('model_tags_pk', ['model_key', 'tag'])
        .execute();
      await db.schema.createIndex('model_tags_tag').ifNotExists().on('model_tags').column('tag').execute();
      await db.schema
        .createIndex('models_author')
        .ifNotExists()
        .on('models')
        .expression(sql`lower(author)`)
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('model_tags').ifExists().execute();
      await db.schema.dropTable('models').ifExists().execute();
    },
  },
  '0002_results_cache': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('results_cache')
        .ifNotExists()
        .addColumn('key', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('endpoint', 'varchar(100)', (c) => c.notNull())
        .addColumn('response_json', 'text', (c) => c.notNull())
        .addColumn('created_at', 'varchar(40)', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('results_cache_created')
        .ifNotExists()
        .on('results_cache')
        .column('created_at')
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('results_cache').ifExists().execute();
    },
  },
  '0003_model_summary': {
    // The shape list endpoints show, and the Hub's download count (Hub imports only: what /popular ranks by).
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('models').addColumn('summary_json', 'text').execute();
      await db.schema.alterTable('models').addColumn('hub_downloads', 'bigint').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('models').dropColumn('hub_downloads').execute();
      await db.schema.alterTable('models').dropColumn('summary_json').execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};

/** The latest schema version this code knows (the name of its last migration). */
export const SCHEMA_VERSION = Object.keys(MIGRATIONS).sort().at(-1)!;
