// What a restore needs besides the database and blobs, and what must never sit in a backup in
// clear: the master key of secrets at rest, the bootstrap admin token and the configuration (which
// may hold SSO client secrets). They go into the backup as one bundle encrypted with the backup
// key (AES-256-GCM), a key kept apart from both the servers' master key and the backups, so a
// stolen backup alone reveals no secret, and a restore needs only the backup and the backup key.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DomainError } from '../errors.js';
import { z } from 'zod';

export const BACKUP_KEY_BYTES = 32;

export class BackupKeyError extends DomainError {
  override name = 'BackupKeyError';
  constructor(message: string) {
    super('invalid', message);
  }
}

export interface BackupKey {
  key: Buffer;
  /** `bk_` and 16 hex digits, derived one-way from the key: safe to show and to store in manifests. */
  id: string;
  /** The file it came from, for messages. */
  source: string;
}

export function backupKeyId(key: Buffer): string {
  return 'bk_' + createHmac('sha256', key).update('tandem backup key id').digest('hex').slice(0, 16);
}

export async function readBackupKeyFile(path: string): Promise<BackupKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new BackupKeyError(`backup key file ${path}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || key.length !== BACKUP_KEY_BYTES) {
    throw new BackupKeyError(
      `backup key file ${path}: a backup key is base64 of ${BACKUP_KEY_BYTES} random bytes (\`openssl rand -base64 32\`); this is not`,
    );
  }
  return { key, id: backupKeyId(key), source: path };
}

export interface KeyBundle {
  /** base64 of the master key, or null when none was configured. */
  masterKey: string | null;
  adminToken: string | null;
  /** The server's settings as YAML, without those that belong to one installation (paths, keys). */
  config: string | null;
}

const bundleSchema = z
  .object({ masterKey: z.string().nullable(), adminToken: z.string().nullable(), config: z.string().nullable() })
  .strict();

const sealedSchema = z
  .object({
    format: z.literal('tandem-backup-keys/1'),
    backupKeyId: z.string(),
    iv: z.string(),
    tag: z.string(),
    ciphertext: z.string(),
  })
  .strict();

/** The AAD binds a bundle to its backup: one backup's bundle cannot be passed off as another's. */
const aad = (backupId: string) => Buffer.from(`tandem backup ${backupId}`);

export function sealBundle(bundle: KeyBundle, key: BackupKey, backupId: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(aad(backupId));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(bundle), 'utf8'), cipher.final()]);
  return Buffer.from(
    JSON.stringify({
      format: 'tandem-backup-keys/1',
      backupKeyId: key.id,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ciphertext: ciphertext.toString('base64'),
    }),
  );
}

export function openBundle(sealed: Buffer, key: BackupKey, backupId: string): KeyBundle {
  let parsed: z.infer<typeof sealedSchema>;
  try {
    parsed = sealedSchema.parse(JSON.parse(sealed.toString('utf8')));
  } catch (err) {
    throw new BackupKeyError(`backup ${backupId}: its key bundle is not readable: ${(err as Error).message}`);
  }
  if (parsed.backupKeyId !== key.id) {
    throw new BackupKeyError(`backup ${backupId} was encrypted with backup key ${parsed.backupKeyId}, but ${key.source} holds ${key.id}`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(parsed.iv, 'base64'));
    decipher.setAAD(aad(backupId));
    decipher.setAuthTag(Buffer.from(parsed.tag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(parsed.ciphertext, 'base64')), decipher.final()]);
    return bundleSchema.parse(JSON.parse(plain.toString('utf8')));
  } catch (err) {
    throw new BackupKeyError(
      `backup ${backupId}: its key bundle does not decrypt with ${key.id} (damaged, or from another backup): ${(err as Error).message}`,
    );
  }
}
