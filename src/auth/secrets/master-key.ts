// The master key (key-encryption key): 32 random bytes, written as base64, that wrap the data keys.
// It never enters the database, so a stolen database (or backup) alone reveals no secret.
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const MASTER_KEY_BYTES = 32;
export const DEFAULT_MASTER_KEY_FILE = 'master.key';

export class SecretsError extends Error {
  override name = 'SecretsError';
}

/** The settings that say where the master key is (the fields of the server config read here). */
export interface MasterKeySettings {
  dataDir: string;
  masterKey?: string;
  masterKeyFile?: string;
}

export interface MasterKey {
  key: Buffer;
  /** `mk_` and 16 hex digits, derived one-way from the key: safe to show, tells keys apart. */
  id: string;
  /** Where it came from, for messages (never the key itself). */
  source: string;
}

export function masterKeyId(key: Buffer): string {
  return 'mk_' + createHmac('sha256', key).update('tandem master key id').digest('hex').slice(0, 16);
}

/** Parses base64 of exactly 32 bytes; `source` names the setting or file in the error. */
export function parseMasterKey(text: string, source: string): MasterKey {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || key.length !== MASTER_KEY_BYTES) {
    throw new SecretsError(
      `${source}: a master key is base64 of ${MASTER_KEY_BYTES} random bytes (e.g. \`openssl rand -base64 32\`); this is not`,
    );
  }
  return { key, id: masterKeyId(key), source };
}

export async function readMasterKeyFile(path: string): Promise<MasterKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new SecretsError(`master key file ${path}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseMasterKey(text, `master key file ${path}`);
}

export function defaultMasterKeyPath(config: Pick<MasterKeySettings, 'dataDir'>): string {
  return join(config.dataDir, DEFAULT_MASTER_KEY_FILE);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The configured master key: `masterKey` (TANDEM_MASTER_KEY), else the `masterKeyFile`, else
 * `<dataDir>/master.key` when it exists; null when none is configured.
 */
export async function configuredMasterKey(config: MasterKeySettings): Promise<MasterKey | null> {
  if (config.masterKey) return parseMasterKey(config.masterKey, 'masterKey (TANDEM_MASTER_KEY)');
  if (config.masterKeyFile) return readMasterKeyFile(resolve(config.masterKeyFile));
  const fallback = defaultMasterKeyPath(config);
  return (await exists(fallback)) ? readMasterKeyFile(fallback) : null;
}

/** A new random master key written to `path` (0600); fails if the file exists. */
export async function generateMasterKeyFile(path: string): Promise<MasterKey> {
  const key = randomBytes(MASTER_KEY_BYTES);
  await writeFile(path, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return { key, id: masterKeyId(key), source: `master key file ${path}` };
}
