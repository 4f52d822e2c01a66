// Scheduled backups, a leader duty: `backupSchedule` (cron) says when, `backupTo` where, and
// `backupKeep` how many stay. The schedule is anchored on the newest backup recorded for the
// destination, so a new leader (after a failover or a restart) makes up a run the old one missed
// instead of waiting for the next, and never repeats one that was made.
import { resolve } from 'node:path';
import { Cron } from 'croner';
import { databaseUrlOf } from '../config/index.js';
import { backupAndRecord, destinationName, readBackupKeyFile } from '../dr/index.js';
import type { ServerContext } from './context.js';

export interface BackupSchedule {
  /** Starts a backup when one is due (the caller leads); never waits for it. */
  tick(now: number): Promise<void>;
  /** Waits for a backup under way. */
  stop(): Promise<void>;
}

export function backupSchedule(ctx: ServerContext): BackupSchedule | null {
  const { backupSchedule: pattern, backupTo } = ctx.config;
  if (!pattern || !backupTo) return null;
  const cron = new Cron(pattern, { paused: true });
  const name = destinationName(backupTo);
  let running: Promise<void> | null = null;
  // After a run, the next is not before the schedule's next time, even when no record could be written.
  let notBefore = 0;

  // Without any backup recorded yet, the schedule counts from when this server started it.
  let startedAt: number | null = null;

  const dueAt = async (now: number): Promise<number> => {
    startedAt ??= now;
    const last = await ctx.store.db
      .selectFrom('backups')
      .select((eb) => eb.fn.max('started_at').as('at'))
      .where('destination', '=', name)
      .executeTakeFirst();
    const from = last?.at === null || last?.at === undefined ? startedAt : Number(last.at);
    return cron.nextRun(new Date(from))?.getTime() ?? Number.POSITIVE_INFINITY;
  };

  const run = async (): Promise<void> => {
    const started = ctx.clock.now();
    try {
      const backupKey = ctx.config.backupKeyFile ? await readBackupKeyFile(resolve(ctx.config.backupKeyFile)) : null;
      const { manifest, pruned } = await backupAndRecord({
        config: ctx.config,
        databaseUrl: databaseUrlOf(ctx.config),
        artifacts: ctx.blobs,
        to: backupTo,
        backupKey,
        masterKey: backupKey ? ctx.secrets.keyring.master : null,
        madeBy: ctx.replicaId,
        db: ctx.store.db,
        keep: ctx.config.backupKeep,
        now: () => ctx.clock.now(),
      });
      ctx.log.info(
        {
          backup: manifest.id,
          destination: name,
          ms: ctx.clock.now() - started,
          blobsCopied: manifest.copied.blobs,
          bytesCopied: manifest.copied.bytes,
          pruned: pruned?.deleted.length ?? 0,
        },
        'scheduled backup made',
      );
    } catch (err) {
      ctx.log.error({ destination: name, err: (err as Error).message }, 'scheduled backup failed');
    }
  };

  return {
    async tick(now) {
      if (running || now < notBefore || (await dueAt(now)) > now) return;
      notBefore = cron.nextRun(new Date(now))?.getTime() ?? Number.POSITIVE_INFINITY;
      running = run().finally(() => (running = null));
    },
    async stop() {
      await running;
    },
  };
}
