// Secrets at rest. Data keys encrypt secrets (AES-256-GCM) and are stored wrapped by the master
// key, which never enters the database. Signing keys sign the tokens Tandem issues; their private
// halves are secrets like any other. A partial unique index keeps one active key of each kind, so
// replicas rotating at the same moment cannot both win.
//
// Variable values become ciphertexts naming their data key (`data_key_id`). This migration cannot
// encrypt the values already stored, because migrations never see the master key: a row without a
// data key is a plain value from before, and the server encrypts those in place when it starts
// (src/auth/secrets). The foreign key keeps a data key from being deleted while a value uses it.
import { sql, type Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';

export async function up(db: Kysely<unknown>, _dialect: StoreDialect): Promise<void> {
  const s = db.schema;
  await s
    .createTable('data_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('wrapped_key', 'text', (c) => c.notNull())
    .addColumn('master_key_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('retired_at', 'bigint')
    .execute();
  await s.createIndex('data_keys_one_active').unique().on('data_keys').column('state').where(sql.ref('state'), '=', 'active').execute();

  await s
    .alterTable('variables')
    .addColumn('data_key_id', 'text', (c) => c.references('data_keys.id'))
    .execute();

  await s
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('private_key', 'text', (c) => c.notNull())
    .addColumn('data_key_id', 'text', (c) => c.notNull().references('data_keys.id'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('retired_at', 'bigint')
    // Retired keys stay in the JWKS until every token they signed has expired.
    .addColumn('publish_until', 'bigint')
    .execute();
  await s
    .createIndex('signing_keys_one_active')
    .unique()
    .on('signing_keys')
    .column('state')
    .where(sql.ref('state'), '=', 'active')
    .execute();
}
