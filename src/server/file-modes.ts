// The data dir holds the database, the master key, the admin token and the mirrors: only the
// server's user may read it. New ones are made private; older installations (made 0755 and 0644
// under the usual umask) are tightened at start, with a log line saying so.
import { chmod, mkdir, stat } from 'node:fs/promises';
import type { Logger } from 'pino';

const OTHERS = 0o077;

async function tighten(path: string, mode: number, what: string, log: Logger): Promise<void> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (info === null || (info.mode & OTHERS) === 0) return;
  await chmod(path, mode);
  log.warn(
    { path, was: (info.mode & 0o777).toString(8), now: mode.toString(8) },
    `tightened the permissions of the ${what}: only Tandem's user may read it`,
  );
}

/** Creates the data dir 0700, or tightens an existing one. */
export async function secureDataDir(dir: string, log: Logger): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await tighten(dir, 0o700, 'data dir', log);
}

/** Tightens a SQLite database and its WAL files to 0600 (the store creates new ones so). */
export async function secureSqliteFiles(path: string, log: Logger): Promise<void> {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) await tighten(file, 0o600, 'SQLite database', log);
}
