// `tandem secrets`: key rotation and status, run on a machine that has the server's configuration
// (database URL and master key). They work while servers run: every value decrypts throughout.
import { resolve } from 'node:path';
import {
  configuredMasterKey,
  ENCRYPTED_COLUMNS,
  Keyring,
  readMasterKeyFile,
  rewrapDataKeys,
  TokenSigner,
  type MasterKey,
} from '../auth/index.js';
import { databaseUrlOf, loadConfig, type TandemConfig } from '../config/index.js';
import { DatabaseClock } from '../server/index.js';
import { openStore, type Store } from '../store/index.js';
import { CliError } from './api-client.js';
import { printJson, printTable } from './output.js';

type Flags = Record<string, unknown>;

async function withStore<T>(config: TandemConfig, fn: (store: Store, now: () => number) => Promise<T>): Promise<T> {
  const store = await openStore(databaseUrlOf(config));
  try {
    const clock = new DatabaseClock(store);
    await clock.sync();
    return await fn(store, () => clock.now());
  } finally {
    await store.close();
  }
}

async function masterKeyOf(config: TandemConfig): Promise<MasterKey> {
  const master = await configuredMasterKey(config);
  if (!master)
    throw new CliError(
      `no master key configured: pass --master-key-file (or set TANDEM_MASTER_KEY_FILE, TANDEM_MASTER_KEY), or run where ${resolve(config.dataDir, 'master.key')} is`,
    );
  return master;
}

async function openKeyring(config: TandemConfig, store: Store, now: () => number): Promise<Keyring> {
  const keyring = new Keyring(store, await masterKeyOf(config), now);
  await keyring.checkMasterKey();
  return keyring;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export async function secretsStatus(flags: Flags & { json?: boolean }): Promise<void> {
  const config = loadConfig(flags);
  await withStore(config, async (store, now) => {
    const keyring = await openKeyring(config, store, now);
    const usage = await keyring.usage();
    const dataKeys = (await store.db.selectFrom('data_keys').selectAll().orderBy('created_at').execute()).map((k) => ({
      id: k.id,
      state: k.state,
      values: usage.filter((u) => u.keyId === k.id).reduce((n, u) => n + u.count, 0),
      createdAt: iso(k.created_at),
      retiredAt: iso(k.retired_at),
    }));
    const plainValues = usage.filter((u) => u.keyId === null).reduce((n, u) => n + u.count, 0);
    const signingKeys = (
      await store.db
        .selectFrom('signing_keys')
        .select(['kid', 'alg', 'state', 'created_at', 'publish_until'])
        .orderBy('created_at')
        .execute()
    ).map((k) => ({
      kid: k.kid,
      alg: k.alg,
      state: k.state,
      createdAt: iso(k.created_at),
      publishedUntil: k.state === 'active' ? null : iso(k.publish_until),
    }));
    if (flags.json) {
      printJson({ masterKey: { id: keyring.master.id, source: keyring.master.source }, dataKeys, plainValues, signingKeys });
      return;
    }
    console.log(`Master key ${keyring.master.id} (${keyring.master.source})`);
    printTable(dataKeys, ['id', 'state', 'values', 'createdAt', 'retiredAt']);
    if (plainValues > 0)
      console.log(`${plainValues} value(s) not encrypted yet (a server start or \`tandem secrets rotate\` encrypts them)`);
    printTable(signingKeys, ['kid', 'alg', 'state', 'createdAt', 'publishedUntil']);
  });
}

/**
 * A new data key, then every secret re-encrypted under it and the old keys deleted. When an earlier
 * run stopped halfway (values still under retired keys), this finishes it with the key it made.
 */
export async function secretsRotate(flags: Flags & { batchSize?: string; json?: boolean }): Promise<void> {
  const config = loadConfig(flags);
  const batchSize = Number(flags.batchSize ?? 500);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1)
    throw new CliError(`--batch-size: expected a positive whole number, got "${String(flags.batchSize)}"`);
  await withStore(config, async (store, now) => {
    const keyring = await openKeyring(config, store, now);
    const active = await keyring.activeKey();
    const unfinished = (await keyring.usage()).some((u) => u.count > 0 && u.keyId !== active.id);
    const retired = await store.db.selectFrom('data_keys').select('id').where('state', '=', 'retired').executeTakeFirst();
    const keyId = unfinished && retired ? active.id : await keyring.rotate();
    const say = (line: string) => !flags.json && console.log(line);
    say(keyId === active.id ? `Finishing an earlier rotation to data key ${keyId}` : `New data key ${keyId}`);
    const counts: Record<string, number> = {};
    for (const column of ENCRYPTED_COLUMNS) {
      const name = `${column.table}.${column.column}`;
      counts[name] = await keyring.reencrypt(column, { batchSize, onBatch: (p) => say(`  ${name}: ${p.done} re-encrypted`) });
    }
    const removed = await keyring.pruneRetired();
    const left = (await keyring.usage()).filter((u) => u.count > 0 && u.keyId !== keyId).reduce((n, u) => n + u.count, 0);
    if (flags.json) {
      printJson({ dataKey: keyId, reencrypted: counts, removedKeys: removed, remaining: left });
      return;
    }
    say(
      `Re-encrypted ${Object.values(counts).reduce((a, b) => a + b, 0)} value(s) under ${keyId}; removed data keys: ${removed.join(', ') || 'none'}`,
    );
    if (left > 0) say(`${left} value(s) were written under an old key meanwhile: run \`tandem secrets rotate\` again`);
  });
}

/** Re-wraps the data keys with a new master key; the servers then need that key to start. */
export async function secretsRotateMaster(flags: Flags & { newKeyFile?: string; json?: boolean }): Promise<void> {
  const config = loadConfig(flags);
  if (!flags.newKeyFile) throw new CliError('rotate-master: --new-key-file FILE is required (a new key: `openssl rand -base64 32 > FILE`)');
  const newKeyFile = resolve(flags.newKeyFile);
  const next = await readMasterKeyFile(newKeyFile);
  await withStore(config, async (store) => {
    const current = await masterKeyOf(config);
    if (current.id === next.id)
      throw new CliError(`--new-key-file: ${next.source} holds the current master key ${current.id}; make a new one`);
    const result = await rewrapDataKeys(store, current, next);
    if (flags.json) {
      printJson({ masterKey: next.id, ...result });
      return;
    }
    console.log(`Data keys re-wrapped with master key ${next.id}: ${result.rewrapped} now, ${result.already} already were.`);
    console.log(
      `Now point every server at it (masterKeyFile: ${newKeyFile}) and restart them; keep the old key until backups made with it have expired.`,
    );
  });
}

export async function secretsRotateSigningKey(flags: Flags & { json?: boolean }): Promise<void> {
  const config = loadConfig(flags);
  await withStore(config, async (store, now) => {
    const keyring = await openKeyring(config, store, now);
    const kid = await new TokenSigner(store, keyring, { rotationDays: config.signingKeyRotationDays, now }).rotate();
    if (flags.json) printJson({ kid });
    else console.log(`New signing key ${kid}; the previous one stays published for ${config.signingKeyRotationDays} days`);
  });
}
