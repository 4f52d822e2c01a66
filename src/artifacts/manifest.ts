import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { z } from 'zod';
import { DomainError } from '../errors.js';
import { lazyRequire } from '../lazy-require.js';
import { type BlobStore, isValidDigest, verifyingStream } from './blob-store.js';
import type { CollectedFile } from './collect.js';
import { PathEscapeError, resolveInside, safeRelativePath } from './paths.js';

// Loaded by the first archive: most jobs of `tandem exec` download none.
const tar = lazyRequire<typeof import('tar-stream')>('tar-stream');

export interface ManifestEntry {
  /** Workspace-relative POSIX path. */
  path: string;
  /** sha256 hex of the content. */
  digest: string;
  size: number;
  /** Permission bits (0o777). */
  mode: number;
}

export type FetchBlob = (digest: string) => Promise<Readable>;

export interface StoreProgress {
  path: string;
  /** Files finished so far, this one included. */
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  /** False when the store already had the content and nothing was uploaded. */
  uploaded: boolean;
}

async function hashFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    size += chunk.length;
    hash.update(chunk);
  }
  return { digest: hash.digest('hex'), size };
}

/**
 * Stores each file's content and returns the manifest. Hashing first costs a second read but lets a
 * remote store skip uploads it already has, which is the common case for caches.
 */
export async function storeFiles(
  files: readonly CollectedFile[],
  store: BlobStore,
  opts: { onProgress?: (p: StoreProgress) => void } = {},
): Promise<ManifestEntry[]> {
  const entries: ManifestEntry[] = [];
  const bytesTotal = files.reduce((n, f) => n + f.size, 0);
  let bytesDone = 0;
  for (const file of files) {
    const { digest, size } = await hashFile(file.absPath);
    const uploaded = !(await store.has(digest));
    // The expected digest makes put refuse a file that changed since it was hashed.
    if (uploaded) await store.put(createReadStream(file.absPath), { digest, size });
    entries.push({ path: file.path, digest, size, mode: file.mode & 0o777 });
    bytesDone += size;
    opts.onProgress?.({ path: file.path, done: entries.length, total: files.length, bytesDone, bytesTotal, uploaded });
  }
  return entries;
}

const entrySchema = z.object({
  path: z.string().superRefine((p, ctx) => {
    try {
      if (safeRelativePath(p) !== p) ctx.addIssue({ code: 'custom', message: 'path is not in normal form' });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  }),
  digest: z.string().refine(isValidDigest, 'digest must be 64 lowercase hex characters (sha256)'),
  size: z.number().int().nonnegative(),
  mode: z.number().int().min(0).max(0o777),
});

export class ManifestError extends DomainError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'ManifestError';
  }
}

/** Parses a manifest received from outside; errors name the entry index and field (`manifest[3].digest`). */
export function validateManifest(input: unknown): ManifestEntry[] {
  const parsed = z.array(entrySchema.strict()).safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      const where = i.path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('');
      return `manifest${where}: ${i.message}`;
    });
    throw new ManifestError(issues.join('; '));
  }
  const seen = new Set<string>();
  parsed.data.forEach((e, i) => {
    if (seen.has(e.path)) throw new ManifestError(`manifest[${i}].path: duplicate path ${JSON.stringify(e.path)}`);
    seen.add(e.path);
  });
  return parsed.data;
}

/**
 * Writes every entry below `root`. All paths are checked before anything is written, each file goes to a
 * temp file beside its target, is verified against its digest and only then renamed into place.
 */
export async function restoreFiles(root: string, entries: readonly ManifestEntry[], fetchBlob: FetchBlob): Promise<void> {
  for (const e of entries) safeRelativePath(e.path);
  for (const e of entries) {
    const target = await resolveInside(root, e.path);
    await mkdir(dirname(target), { recursive: true });
    // mkdir may have walked through a symlink created after the check; re-check before writing.
    const checked = await resolveInside(root, e.path);
    if (checked !== target) throw new PathEscapeError(e.path, 'its parent directories changed while restoring');
    const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tandem-tmp`);
    try {
      const source = await fetchBlob(e.digest);
      const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
      await pipeline(source, verifyingStream(e.digest, `restoring ${e.path}`, e.size), out);
      const fh = await open(tmp, 'r+');
      try {
        // chmod explicitly: the create mode is filtered by the umask.
        await fh.chmod(e.mode & 0o777);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }
}

/** Streams the manifest's files as a .tar.gz, verifying each blob on the way. */
export function manifestToTarGz(entries: readonly ManifestEntry[], fetchBlob: FetchBlob): Readable {
  const pack = tar().pack();
  const gzip = createGzip();
  const out = new PassThrough();
  pipeline(pack, gzip, out).catch((err: unknown) => out.destroy(err as Error));
  const mtime = new Date();
  const fill = async (): Promise<void> => {
    for (const e of entries) {
      const name = safeRelativePath(e.path);
      const source = await fetchBlob(e.digest);
      const entry = pack.entry({ name, size: e.size, mode: e.mode & 0o777, type: 'file', mtime });
      await pipeline(source, verifyingStream(e.digest, `archiving ${e.path}`, e.size), entry);
    }
    pack.finalize();
  };
  fill().catch((err: unknown) => {
    pack.destroy(err as Error);
    out.destroy(err as Error);
  });
  return out;
}
