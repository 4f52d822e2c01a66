// Envelope encryption: secrets are encrypted (AES-256-GCM) by a data key; data keys are stored
// wrapped by the master key. A ciphertext names its data key, so a new key can take over while the
// old ones still decrypt, and re-encryption can proceed in batches. The authenticated data names
// the table, column and row, so a ciphertext copied to another row (or column) does not decrypt.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { DataKey, Store } from '../../store/index.js';
import { SecretsError, type MasterKey } from './master-key.js';

const VERSION = 'tdx1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A column holding secrets, and the columns that identify its row in the authenticated data. */
export interface EncryptedColumn {
  table: string;
  column: string;
  /** The column naming the data key of the value (null: a plain value from before encryption). */
  keyColumn: string;
  /** Primary key: re-encryption walks the table in its order. */
  idColumn: string;
  contextColumns: readonly string[];
}

export const VARIABLE_VALUE: EncryptedColumn = {
  table: 'variables',
  column: 'value',
  keyColumn: 'data_key_id',
  idColumn: 'id',
  contextColumns: ['repo_id', 'key'],
};
export const SIGNING_KEY_PRIVATE: EncryptedColumn = {
  table: 'signing_keys',
  column: 'private_key',
  keyColumn: 'data_key_id',
  idColumn: 'kid',
  contextColumns: ['kid'],
};

/** A repository's webhook secret (null when it has none). Repository ids never change; names could be reused. */
export const WEBHOOK_SECRET: EncryptedColumn = {
  table: 'repos',
  column: 'webhook_secret',
  keyColumn: 'webhook_secret_key_id',
  idColumn: 'id',
  contextColumns: ['id'],
};

/** The credentials taken out of a repository's http(s) URL, as JSON {username, password}. */
export const URL_CREDENTIALS: EncryptedColumn = {
  table: 'repos',
  column: 'url_credentials',
  keyColumn: 'url_credentials_key_id',
  idColumn: 'id',
  contextColumns: ['id'],
};

/** A repository's SSH deploy key and its known hosts, as JSON {privateKey, knownHosts}. */
export const SSH_KEY: EncryptedColumn = {
  table: 'repos',
  column: 'ssh_key',
  keyColumn: 'ssh_key_key_id',
  idColumn: 'id',
  contextColumns: ['id'],
};

/** The token a repository's commit statuses are sent to its forge with. */
export const FORGE_TOKEN: EncryptedColumn = {
  table: 'repos',
  column: 'forge_token',
  keyColumn: 'forge_token_key_id',
  idColumn: 'id',
  contextColumns: ['id'],
};

/** A pipeline schedule's variables, as JSON {KEY: value} (null when it has none). */
export const SCHEDULE_VARIABLES: EncryptedColumn = {
  table: 'schedules',
  column: 'variables',
  keyColumn: 'variables_key_id',
  idColumn: 'id',
  contextColumns: ['id'],
};

/** A GitHub App's private key (PEM) for a repository's Checks runs. */
export const FORGE_APP_KEY: EncryptedColumn = {
  table: 'repos',
  column: 'forge_app_key',
  keyColumn: 'forge_app_key_key_id',
  idColumn: 'id',
  contextColumns: ['id'],
};

/** The password (or token) of a repository's container registry, given to its jobs as CI_REGISTRY_PASSWORD. */
export const REGISTRY_PASSWORD: EncryptedColumn = {
  table: 'repos',
  column: 'registry_password',
  keyColumn: 'registry_password_key_id',
  idColumn: 'id',
  contextColumns: ['id'],
};

/** A pipeline notification webhook's signing secret (null: it signs nothing). */
export const NOTIFICATION_SECRET: EncryptedColumn = {
  table: 'notification_subscriptions',
  column: 'secret',
  keyColumn: 'secret_key_id',
  idColumn: 'id',
  contextColumns: ['id'],
};

/** Every column `tandem secrets rotate` re-encrypts; a new secret column is added here. */
export const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  VARIABLE_VALUE,
  SIGNING_KEY_PRIVATE,
  WEBHOOK_SECRET,
  URL_CREDENTIALS,
  SSH_KEY,
  SCHEDULE_VARIABLES,
  FORGE_TOKEN,
  FORGE_APP_KEY,
  NOTIFICATION_SECRET,
  REGISTRY_PASSWORD,
];

/** The authenticated data of a value: table, column and the identifying columns' values. */
export function aadFor(column: EncryptedColumn, row: Record<string, unknown>): string {
  return `${column.table}.${column.column}:${JSON.stringify(column.contextColumns.map((c) => String(row[c])))}`;
}

const DATA_KEY_WRAP: EncryptedColumn = {
  table: 'data_keys',
  column: 'wrapped_key',
  keyColumn: 'master_key_id',
  idColumn: 'id',
  contextColumns: ['id'],
};

/** `tdx1:<key id>:<iv>:<ciphertext and tag>`, base64url parts. */
function seal(key: Buffer, keyId: string, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return [VERSION, keyId, iv.toString('base64url'), body.toString('base64url')].join(':');
}

interface Parsed {
  keyId: string;
  iv: Buffer;
  body: Buffer;
}

function parse(text: string, aad: string): Parsed {
  const parts = text.split(':');
  if (parts.length !== 4 || parts[0] !== VERSION) throw new SecretsError(`${aad}: not a Tandem ciphertext`);
  const iv = Buffer.from(parts[2], 'base64url');
  const body = Buffer.from(parts[3], 'base64url');
  if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new SecretsError(`${aad}: truncated ciphertext`);
  return { keyId: parts[1], iv, body };
}

/** Null when the key is wrong or the data was altered (GCM cannot tell the two apart). */
function unseal(key: Buffer, parsed: Parsed, aad: string): Buffer | null {
  const decipher = createDecipheriv('aes-256-gcm', key, parsed.iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(parsed.body.subarray(parsed.body.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(parsed.body.subarray(0, parsed.body.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return null;
  }
}

export function keyIdOf(ciphertext: string): string | null {
  const parts = ciphertext.split(':');
  return parts.length === 4 && parts[0] === VERSION ? parts[1] : null;
}

/** Unwraps a data key row with the master key; a clear error when the master key is not the one. */
function unwrap(master: MasterKey, row: Pick<DataKey, 'id' | 'wrapped_key' | 'master_key_id'>): Buffer {
  if (row.master_key_id !== master.id) {
    throw new SecretsError(
      `the database's data key ${row.id} is wrapped by master key ${row.master_key_id}, but the configured master key (${master.source}) is ${master.id}: ` +
        'configure the master key this database was set up with (masterKeyFile or TANDEM_MASTER_KEY)',
    );
  }
  const aad = aadFor(DATA_KEY_WRAP, row);
  const key = unseal(master.key, parse(row.wrapped_key, aad), aad);
  if (!key) throw new SecretsError(`data key ${row.id} does not decrypt with master key ${master.id}: the row was altered`);
  return key;
}

export function wrapDataKey(master: MasterKey, id: string, key: Buffer): string {
  return seal(master.key, master.id, key, aadFor(DATA_KEY_WRAP, { id }));
}

export interface Sealed {
  value: string;
  keyId: string;
}

export interface ReencryptProgress {
  column: EncryptedColumn;
  done: number;
}

export class Keyring {
  /** Unwrapped data keys by id: a data key never changes, re-wrapping changes only its wrapping. */
  private readonly keys = new Map<string, Buffer>();

  constructor(
    readonly store: Store,
    readonly master: MasterKey,
    private readonly now: () => number,
  ) {}

  /** The active data key, created when there is none. A key wrapped by another master key is an error. */
  async activeKey(): Promise<{ id: string; key: Buffer }> {
    let row = await this.store.db.selectFrom('data_keys').selectAll().where('state', '=', 'active').executeTakeFirst();
    if (!row) {
      await this.insertKey();
      // Another replica may have won the race: whoever's key is active now is the one.
      row = await this.store.db.selectFrom('data_keys').selectAll().where('state', '=', 'active').executeTakeFirstOrThrow();
    }
    return { id: row.id, key: this.cached(row) };
  }

  /** Unwraps every data key (a retired one still decrypts old values): a wrong master key fails here, at start. */
  async checkMasterKey(): Promise<void> {
    for (const row of await this.store.db.selectFrom('data_keys').selectAll().execute()) this.cached(row);
  }

  private cached(row: Pick<DataKey, 'id' | 'wrapped_key' | 'master_key_id'>): Buffer {
    let key = this.keys.get(row.id);
    if (!key) {
      key = unwrap(this.master, row);
      this.keys.set(row.id, key);
    }
    return key;
  }

  private async dataKey(id: string, aad: string): Promise<Buffer> {
    const known = this.keys.get(id);
    if (known) return known;
    const row = await this.store.db.selectFrom('data_keys').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new SecretsError(`${aad}: its data key ${id} does not exist`);
    return this.cached(row);
  }

  private async insertKey(): Promise<string> {
    const id = `dk_${randomBytes(6).toString('hex')}`;
    await this.store.db
      .insertInto('data_keys')
      .values({
        id,
        wrapped_key: wrapDataKey(this.master, id, randomBytes(32)),
        master_key_id: this.master.id,
        state: 'active',
        created_at: this.now(),
        retired_at: null,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
    return id;
  }

  async seal(plaintext: string, column: EncryptedColumn, row: Record<string, unknown>): Promise<Sealed> {
    const active = await this.activeKey();
    return { value: seal(active.key, active.id, Buffer.from(plaintext, 'utf8'), aadFor(column, row)), keyId: active.id };
  }

  /** The plain value of a row's secret column; `keyId` null means it was stored plain (before encryption). */
  async open(value: string, keyId: string | null, column: EncryptedColumn, row: Record<string, unknown>): Promise<string> {
    if (keyId === null) return value;
    const aad = aadFor(column, row);
    const parsed = parse(value, aad);
    if (parsed.keyId !== keyId) throw new SecretsError(`${aad}: the ciphertext names data key ${parsed.keyId}, the row ${keyId}`);
    const plain = unseal(await this.dataKey(parsed.keyId, aad), parsed, aad);
    if (!plain) throw new SecretsError(`${aad}: does not decrypt (altered, or copied from another row)`);
    return plain.toString('utf8');
  }

  /** A new active data key; the old one is retired (it still decrypts until nothing uses it). */
  async rotate(): Promise<string> {
    const id = `dk_${randomBytes(6).toString('hex')}`;
    const wrapped = wrapDataKey(this.master, id, randomBytes(32));
    const now = this.now();
    await this.store.transaction(async (trx) => {
      await trx.updateTable('data_keys').set({ state: 'retired', retired_at: now }).where('state', '=', 'active').execute();
      await trx
        .insertInto('data_keys')
        .values({ id, wrapped_key: wrapped, master_key_id: this.master.id, state: 'active', created_at: now, retired_at: null })
        .execute();
    });
    return id;
  }

  /**
   * Re-encrypts under the active key every value of `column` that is not (with `plainOnly`, only
   * plain values), in batches of `batchSize`, each batch in one transaction. Stopping halfway is
   * safe: every value decrypts either way, and a second run does what is left.
   */
  async reencrypt(
    column: EncryptedColumn,
    opts: { plainOnly?: boolean; batchSize?: number; onBatch?: (p: ReencryptProgress) => void } = {},
  ): Promise<number> {
    const active = await this.activeKey();
    const { table, idColumn, keyColumn } = column;
    const ref = (c: string) => sql.ref(c);
    // A null value is no secret (a repository without a webhook secret): nothing to encrypt.
    const pending = opts.plainOnly
      ? sql`${ref(column.column)} is not null and ${ref(keyColumn)} is null`
      : sql`${ref(column.column)} is not null and (${ref(keyColumn)} is null or ${ref(keyColumn)} <> ${active.id})`;
    let cursor: unknown = null;
    let done = 0;
    for (;;) {
      const after = cursor === null ? sql`` : sql`and ${ref(idColumn)} > ${cursor}`;
      const { rows } = await sql<
        Record<string, unknown>
      >`select * from ${sql.table(table)} where ${pending} ${after} order by ${ref(idColumn)} limit ${opts.batchSize ?? 500}`.execute(
        this.store.db,
      );
      if (rows.length === 0) return done;
      // Decrypted before the transaction: on SQLite a query outside it would wait for it forever.
      const updates = await Promise.all(
        rows.map(async (row) => {
          const plain = await this.open(row[column.column] as string, row[keyColumn] as string | null, column, row);
          return {
            id: row[idColumn],
            old: row[column.column],
            value: seal(active.key, active.id, Buffer.from(plain, 'utf8'), aadFor(column, row)),
          };
        }),
      );
      await this.store.transaction(async (trx) => {
        for (const u of updates) {
          // A value changed meanwhile was written under the active key already: leave it.
          await sql`update ${sql.table(table)} set ${ref(column.column)} = ${u.value}, ${ref(keyColumn)} = ${active.id} where ${ref(idColumn)} = ${u.id} and ${ref(column.column)} = ${u.old}`.execute(
            trx,
          );
        }
      });
      done += rows.length;
      cursor = rows[rows.length - 1][idColumn];
      opts.onBatch?.({ column, done });
    }
  }

  /** How many values of each column each data key encrypts (null: plain values). */
  async usage(): Promise<{ column: EncryptedColumn; keyId: string | null; count: number }[]> {
    const out: { column: EncryptedColumn; keyId: string | null; count: number }[] = [];
    for (const column of ENCRYPTED_COLUMNS) {
      const { rows } = await sql<{
        key_id: string | null;
        n: number | string;
      }>`select ${sql.ref(column.keyColumn)} as key_id, count(*) as n from ${sql.table(column.table)} where ${sql.ref(column.column)} is not null group by ${sql.ref(column.keyColumn)}`.execute(
        this.store.db,
      );
      for (const r of rows) out.push({ column, keyId: r.key_id, count: Number(r.n) });
    }
    return out;
  }

  /** Deletes retired data keys that no value uses any more; returns their ids. */
  async pruneRetired(): Promise<string[]> {
    const retired = await this.store.db.selectFrom('data_keys').select('id').where('state', '=', 'retired').execute();
    const removed: string[] = [];
    for (const { id } of retired) {
      const unused = ENCRYPTED_COLUMNS.map(
        (c) => sql`not exists (select 1 from ${sql.table(c.table)} where ${sql.ref(c.keyColumn)} = ${id})`,
      );
      const result = await sql`delete from data_keys where id = ${id} and state = 'retired' and ${sql.join(unused, sql` and `)}`.execute(
        this.store.db,
      );
      if (Number(result.numAffectedRows ?? 0) > 0) {
        removed.push(id);
        this.keys.delete(id);
      }
    }
    return removed;
  }
}

/**
 * Re-wraps every data key from the master key `from` to `to`, in one transaction. Keys already
 * wrapped by `to` are left alone, so running it again after a success changes nothing.
 */
export async function rewrapDataKeys(store: Store, from: MasterKey, to: MasterKey): Promise<{ rewrapped: number; already: number }> {
  const rows = await store.db.selectFrom('data_keys').selectAll().execute();
  let already = 0;
  const updates: { id: string; wrapped: string }[] = [];
  for (const row of rows) {
    if (row.master_key_id === to.id) {
      already++;
      continue;
    }
    updates.push({ id: row.id, wrapped: wrapDataKey(to, row.id, unwrap(from, row)) });
  }
  await store.transaction(async (trx) => {
    for (const u of updates) {
      await trx
        .updateTable('data_keys')
        .set({ wrapped_key: u.wrapped, master_key_id: to.id })
        .where('id', '=', u.id)
        .where('master_key_id', '=', from.id)
        .execute();
    }
  });
  return { rewrapped: updates.length, already };
}
