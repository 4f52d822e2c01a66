// Signing in a device (the CLI) through a browser, RFC 8628 style: the device asks for a code, a
// signed-in user approves or denies it on a page of any replica, and the device's polls (to any
// replica) take the token once. Everything between the three is kept here, not in memory.
import type { Kysely } from 'kysely';
import type { StoreDialect } from '../dialect.js';
import { withId } from './id-column.js';

export async function up(db: Kysely<unknown>, dialect: StoreDialect): Promise<void> {
  await withId(db.schema.createTable('device_logins'), dialect)
    // The device's secret, hashed like tokens: a database dump does not let anyone poll for it.
    .addColumn('device_code_hash', 'text', (c) => c.notNull().unique())
    // What the user types: 8 letters, stored without the dash.
    .addColumn('user_code', 'text', (c) => c.notNull().unique())
    // The device as it described itself ("tandem CLI on host X") and where it asked from.
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('address', 'text')
    // The lifetime of the token it gets; null: it never expires.
    .addColumn('token_lifetime_ms', 'bigint')
    // pending, approved or denied.
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('user_id', 'bigint', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('decided_at', 'bigint')
    .addColumn('interval_ms', 'bigint', (c) => c.notNull())
    .addColumn('last_polled_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('device_logins_expires').on('device_logins').column('expires_at').execute();
  await db.schema.createIndex('device_logins_address').on('device_logins').column('address').execute();
}
