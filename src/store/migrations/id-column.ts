// Ids differ by dialect only: SQLite wants `integer primary key autoincrement` (a rowid alias),
// PostgreSQL `bigserial`.
import type { CreateTableBuilder } from 'kysely';
import type { StoreDialect } from '../dialect.js';

export function withId<T extends string>(table: CreateTableBuilder<T>, dialect: StoreDialect): CreateTableBuilder<T> {
  return dialect === 'sqlite'
    ? table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    : table.addColumn('id', 'bigserial', (c) => c.primaryKey());
}
