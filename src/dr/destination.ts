// Where backups go: a directory or `s3://bucket/prefix`. Everything a backup holds (the database
// dump, the encrypted keys, the artifact blobs) is a content-addressed blob under `blobs/`, shared
// by every backup at the destination, so a backup copies only blobs no earlier one did. A backup
// exists once its manifest `backups/<id>.json` does: the manifest is written last.
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FsBlobStore, S3BlobStore, S3Objects, isS3Url, parseS3Url, type BlobStore } from '../artifacts/index.js';

export interface BackupDestination {
  /** As given (a directory is made absolute), for messages and the `backups.destination` column. */
  readonly name: string;
  readonly blobs: BlobStore;
  /** Small JSON documents by key: `backups/<id>.json`, `running/<id>.json`. */
  put(key: string, data: Buffer): Promise<void>;
  get(key: string): Promise<Buffer | null>;
  /** Keys under `dir/`, sorted. */
  list(dir: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  close(): void;
}

class DirectoryDestination implements BackupDestination {
  readonly blobs: BlobStore;

  constructor(readonly name: string) {
    this.blobs = new FsBlobStore(join(name, 'blobs'));
  }

  async put(key: string, data: Buffer): Promise<void> {
    const path = join(this.name, key);
    await mkdir(join(path, '..'), { recursive: true });
    // Written aside and renamed: a reader never sees half a manifest.
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, path);
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await readFile(join(this.name, key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async list(dir: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(join(this.name, dir));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => !n.endsWith('.tmp'))
      .sort()
      .map((n) => `${dir}/${n}`);
  }

  async delete(key: string): Promise<void> {
    await unlink(join(this.name, key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  close(): void {}
}

class S3Destination implements BackupDestination {
  readonly blobs: S3BlobStore;
  private readonly objects: S3Objects;

  constructor(readonly name: string) {
    const location = parseS3Url(name, 'backup destination');
    this.objects = new S3Objects(location);
    this.blobs = new S3BlobStore(new S3Objects({ ...location, prefix: `${location.prefix}blobs/` }, { client: this.objects.client }));
  }

  put(key: string, data: Buffer): Promise<void> {
    return this.objects.put(key, data);
  }

  async get(key: string): Promise<Buffer | null> {
    const found = await this.objects.get(key);
    if (!found) return null;
    const chunks: Buffer[] = [];
    for await (const c of found.body as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks);
  }

  async list(dir: string): Promise<string[]> {
    const out: string[] = [];
    for await (const o of this.objects.list(`${dir}/`)) out.push(o.key);
    return out;
  }

  delete(key: string): Promise<void> {
    return this.objects.delete(key);
  }

  close(): void {
    this.objects.close();
  }
}

/**
 * Blob copies to run at once into `store`. A directory gains from many: every blob is fsynced, and
 * concurrent fsyncs share the filesystem's journal commits (16 at once halve a gigabyte's copy
 * here). An S3 upload holds up to four 8 MiB parts in memory, so fewer go at once there.
 */
export function copyConcurrency(store: BlobStore): number {
  return store instanceof S3BlobStore ? 4 : 16;
}

/** Runs `work` over `items`, `limit` at a time. */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** How a destination is named in records and metrics: the S3 URL as given, a directory made absolute. */
export function destinationName(where: string): string {
  if (isS3Url(where)) return where;
  if (where.trim() === '') throw new Error('backup destination: empty; give a directory or s3://bucket/prefix');
  return resolve(where);
}

/** A directory (created when needed) or `s3://bucket/prefix`. */
export function openDestination(where: string): BackupDestination {
  const name = destinationName(where);
  return isS3Url(name) ? new S3Destination(name) : new DirectoryDestination(name);
}
