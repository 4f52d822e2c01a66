// SQLite has one writer process by design: a second server on the same file would run its own
// reaper and scheduler against the first one's jobs. The `leases` row 'sqlite-server' makes the
// second server fail fast; a crashed server's row expires so a restart is not blocked for long.
import type { Store } from './index.js';

const LEASE_NAME = 'sqlite-server';

export interface InstanceLockOptions {
  ttlMs?: number;
  renewEveryMs?: number;
  /** Clock, for tests. */
  now?: () => number;
  /** Called once when renewal fails or another holder took the row; renewal stops then. */
  onLost?: (err: Error) => void;
}

export interface InstanceLock {
  holder: string;
  epoch: number;
  release(): Promise<void>;
}

export class InstanceLockedError extends Error {
  override name = 'InstanceLockedError';
}

export async function acquireInstanceLock(store: Store, holder: string, options: InstanceLockOptions = {}): Promise<InstanceLock> {
  const ttlMs = options.ttlMs ?? 15_000;
  const renewEveryMs = options.renewEveryMs ?? 5_000;
  const now = options.now ?? Date.now;
  const onLost = options.onLost ?? ((err: Error) => process.emitWarning(err));

  const epoch = await store.transaction(async (trx) => {
    const t = now();
    const current = await trx.selectFrom('leases').selectAll().where('name', '=', LEASE_NAME).executeTakeFirst();
    if (current && current.holder !== holder && current.expires_at > t) {
      throw new InstanceLockedError(
        `database ${store.location} is in use by another Tandem server (${current.holder}); ` +
          `its lease expires in ${Math.ceil((current.expires_at - t) / 1000)} s unless renewed. ` +
          'Stop that server or use another data directory (several servers need PostgreSQL).',
      );
    }
    const next = (current?.epoch ?? 0) + 1;
    await trx
      .insertInto('leases')
      .values({ name: LEASE_NAME, holder, epoch: next, expires_at: t + ttlMs })
      .onConflict((oc) => oc.column('name').doUpdateSet({ holder, epoch: next, expires_at: t + ttlMs }))
      .execute();
    return next;
  });

  let stopped = false;
  const stop = (err: Error | null): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    if (err) onLost(err);
  };
  const renew = async (): Promise<void> => {
    try {
      const res = await store.db
        .updateTable('leases')
        .set({ expires_at: now() + ttlMs })
        .where('name', '=', LEASE_NAME)
        .where('holder', '=', holder)
        .where('epoch', '=', epoch)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) {
        stop(new InstanceLockedError(`database ${store.location}: lost the server lease (another server took it over)`));
      }
    } catch (err) {
      stop(new InstanceLockedError(`database ${store.location}: cannot renew the server lease: ${(err as Error).message}`, { cause: err }));
    }
  };
  const timer = setInterval(() => void renew(), renewEveryMs);
  timer.unref();

  return {
    holder,
    epoch,
    async release() {
      stop(null);
      await store.db.deleteFrom('leases').where('name', '=', LEASE_NAME).where('holder', '=', holder).where('epoch', '=', epoch).execute();
    },
  };
}
