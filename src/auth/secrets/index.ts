// Secrets at rest and token signing, opened once per process: the master key is found (or, on a
// brand-new installation, generated), checked against the database's data keys, and plain values
// stored before encryption existed are encrypted in place.
import { unlink } from 'node:fs/promises';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Store } from '../../store/index.js';
import { Keyring, VARIABLE_VALUE, WEBHOOK_SECRET, type EncryptedColumn } from './keyring.js';
import {
  configuredMasterKey,
  defaultMasterKeyPath,
  generateMasterKeyFile,
  SecretsError,
  type MasterKey,
  type MasterKeySettings,
} from './master-key.js';
import { TokenSigner } from './signing.js';

export {
  aadFor,
  ENCRYPTED_COLUMNS,
  FORGE_APP_KEY,
  FORGE_TOKEN,
  REGISTRY_PASSWORD,
  Keyring,
  keyIdOf,
  rewrapDataKeys,
  SCHEDULE_VARIABLES,
  SIGNING_KEY_PRIVATE,
  SSH_KEY,
  URL_CREDENTIALS,
  NOTIFICATION_SECRET,
  VARIABLE_VALUE,
  WEBHOOK_SECRET,
  type EncryptedColumn,
  type Sealed,
} from './keyring.js';
export {
  configuredMasterKey,
  defaultMasterKeyPath,
  masterKeyId,
  parseMasterKey,
  readMasterKeyFile,
  SecretsError,
  type MasterKey,
  type MasterKeySettings,
} from './master-key.js';
export { SIGNING_ALG, TokenSigner, type SignOptions } from './signing.js';

export interface Secrets {
  keyring: Keyring;
  signer: TokenSigner;
}

interface SecretsConfig extends MasterKeySettings {
  signingKeyRotationDays: number;
  idTokenLifetimeSeconds: number;
}

/**
 * The master key to use with this database. Without a configured one, a database that has data
 * keys is refused (a new key could never decrypt them); an empty one gets `<dataDir>/master.key`.
 */
async function masterKeyFor(store: Store, config: SecretsConfig, log: Logger): Promise<{ master: MasterKey; generatedAt: string | null }> {
  const configured = await configuredMasterKey(config);
  if (configured) return { master: configured, generatedAt: null };
  const existing = await store.db.selectFrom('data_keys').select(['id', 'master_key_id']).executeTakeFirst();
  if (existing) {
    throw new SecretsError(
      `database ${store.location} holds secrets encrypted under master key ${existing.master_key_id}, but no master key is configured ` +
        `(masterKeyFile / TANDEM_MASTER_KEY_FILE, TANDEM_MASTER_KEY, or ${defaultMasterKeyPath(config)}): restore that key; a new one could not decrypt them`,
    );
  }
  const path = defaultMasterKeyPath(config);
  const master = await generateMasterKeyFile(path);
  log.warn(
    { path, masterKeyId: master.id },
    'generated a master key for secrets at rest: back it up apart from the database (without it, secrets cannot be decrypted)',
  );
  return { master, generatedAt: path };
}

/**
 * Encrypts the secrets stored before encryption at rest: variable values, and webhook secrets
 * (before migration 013). Overwriting a row leaves its old bytes behind: SQLite zeroes them only
 * with secure_delete, and its WAL keeps old pages until it is truncated; PostgreSQL keeps the dead
 * row version until VACUUM FULL rewrites the table. (Write-ahead log archives and backups made
 * before still hold the plain values: rotate those secrets.)
 */
async function encryptPlainValues(store: Store, keyring: Keyring, log: Logger): Promise<void> {
  for (const column of [VARIABLE_VALUE, WEBHOOK_SECRET]) await encryptPlainColumn(store, keyring, column, log);
}

async function encryptPlainColumn(store: Store, keyring: Keyring, column: EncryptedColumn, log: Logger): Promise<void> {
  const { rows } =
    await sql`select 1 from ${sql.table(column.table)} where ${sql.ref(column.column)} is not null and ${sql.ref(column.keyColumn)} is null limit 1`.execute(
      store.db,
    );
  if (rows.length === 0) return;
  if (store.dialect === 'sqlite') await sql`pragma secure_delete = on`.execute(store.db);
  try {
    const count = await keyring.reencrypt(column, { plainOnly: true });
    log.info({ count, column: `${column.table}.${column.column}` }, 'encrypted secrets stored before encryption at rest');
  } finally {
    if (store.dialect === 'sqlite') await sql`pragma secure_delete = off`.execute(store.db);
  }
  if (store.dialect === 'sqlite') await sql`pragma wal_checkpoint(TRUNCATE)`.execute(store.db);
  else await sql`vacuum full ${sql.table(column.table)}`.execute(store.db);
}

export async function openSecrets(store: Store, config: SecretsConfig, opts: { now: () => number; log: Logger }): Promise<Secrets> {
  if (config.idTokenLifetimeSeconds > config.signingKeyRotationDays * 86_400) {
    throw new SecretsError(
      `idTokenLifetimeSeconds (${config.idTokenLifetimeSeconds}) must not exceed signingKeyRotationDays (${config.signingKeyRotationDays} days)`,
    );
  }
  const { master, generatedAt } = await masterKeyFor(store, config, opts.log);
  const keyring = new Keyring(store, master, opts.now);
  try {
    await keyring.checkMasterKey();
    await keyring.activeKey();
  } catch (err) {
    // Lost a race with another replica that set up the database with its own key: ours is useless.
    if (generatedAt) await unlink(generatedAt);
    throw err;
  }
  await encryptPlainValues(store, keyring, opts.log);
  return { keyring, signer: new TokenSigner(store, keyring, { rotationDays: config.signingKeyRotationDays, now: opts.now }) };
}
