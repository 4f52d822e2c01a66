// The notification writer's queries on both databases: which subscriptions hear of a pipeline
// (a repository's, a user's own over what they can read), and `fixed` judged by the previous
// finished pipeline of the same ref (canceled ones say nothing; downstream pipelines apart); and the
// log line a failure message links to.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FsBlobStore } from '../../src/artifacts/index.js';
import { notificationMessages, type NotificationPayload } from '../../src/outbox/index.js';
import { failingLogLine } from '../../src/pipeline/index.js';
import { ChangeLog } from '../../src/scheduler/events.js';
import { readLogPages } from '../../src/scheduler/index.js';
import type { PipelineStatus } from '../../src/store/index.js';
import { backends } from '../store/helpers.js';
import { freshTestDb, insertRepoRow, insertUserRow, job, newPipeline, T0, type TestDb } from '../scheduler/helpers.js';

for (const backend of backends()) {
  describe(backend.name, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    async function subscription(fields: { repoId?: number | null; userId?: number | null; events: string[] }): Promise<number> {
      const row = await db.store.db
        .insertInto('notification_subscriptions')
        .values({
          repo_id: fields.repoId === undefined ? db.repoId : fields.repoId,
          user_id: fields.userId ?? null,
          type: 'email',
          target: 'x@ci.example',
          events: JSON.stringify(fields.events),
          secret: null,
          secret_key_id: null,
          created_by: 'admin',
          created_at: T0,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    }

    /** A pipeline of `ref` that ended with `status` (the writer reads only what the tables say). */
    async function finished(d: TestDb, ref: string, status: PipelineStatus, parent: number | null = null): Promise<number> {
      const id = await newPipeline(d, [job('a')], { ref });
      await d.store.db.updateTable('pipelines').set({ status, parent_pipeline_id: parent }).where('id', '=', id).execute();
      return id;
    }

    const heard = async (pipelineId: number, status: PipelineStatus, repoId = db.repoId) =>
      (await notificationMessages(db.store.db, [{ type: 'pipeline', id: pipelineId, pipelineId, repoId, status }], T0)).map((m) => {
        const p = m.payload as NotificationPayload;
        return [p.subscriptionId, p.event];
      });

    it('fixed: a success after a failure of the same ref; canceled pipelines and other refs say nothing', async () => {
      const fixedSub = await subscription({ events: ['fixed', 'success'] });
      const failed = await finished(db, 'main', 'failed');
      assert.deepEqual(await heard(failed, 'failed'), []);
      await finished(db, 'main', 'canceled');
      await finished(db, 'other', 'success');
      const fixed = await finished(db, 'main', 'success');
      assert.deepEqual(await heard(fixed, 'success'), [[fixedSub, 'fixed']]);
      const again = await finished(db, 'main', 'success');
      assert.deepEqual(await heard(again, 'success'), [[fixedSub, 'success']]);
      // A downstream pipeline is compared with downstream ones: the parent's failure is not its ref's.
      const failedParent = await finished(db, 'main', 'failed');
      const child = await finished(db, 'main', 'success', failedParent);
      assert.deepEqual(await heard(child, 'success'), [[fixedSub, 'success']]);
    });

    it("a user's subscription hears of the repositories the user is a member of, an admin's of all", async () => {
      const other = await insertRepoRow(db.store.db, 'other');
      const dev = await insertUserRow(db.store.db, 'dev');
      const boss = await insertUserRow(db.store.db, 'boss', true);
      await db.store.db
        .insertInto('memberships')
        .values({ repo_id: db.repoId, user_id: dev, role: 'guest', source: 'manual', created_at: T0, updated_at: T0 })
        .execute();
      const devAll = await subscription({ repoId: null, userId: dev, events: ['failed'] });
      // dev's subscription to `other`, which dev cannot read: it hears of nothing.
      await subscription({ repoId: other, userId: dev, events: ['failed'] });
      const bossAll = await subscription({ repoId: null, userId: boss, events: ['failed'] });
      const repoSub = await subscription({ events: ['failed'] });
      const inDemo = await finished(db, 'main', 'failed');
      assert.deepEqual(await heard(inDemo, 'failed'), [
        [devAll, 'failed'],
        [bossAll, 'failed'],
        [repoSub, 'failed'],
      ]);
      const inOther = await newPipeline({ ...db, repoId: other }, [job('a')]);
      assert.deepEqual(
        await heard(inOther, 'failed', other),
        [[bossAll, 'failed']],
        'dev reads only demo: neither of its subscriptions hears of other',
      );
      // Both repositories in one transaction: each pipeline to its own listeners, one query.
      const both = await notificationMessages(
        db.store.db,
        [
          { type: 'pipeline', id: inDemo, pipelineId: inDemo, repoId: db.repoId, status: 'failed' },
          { type: 'pipeline', id: inOther, pipelineId: inOther, repoId: other, status: 'failed' },
        ],
        T0,
      );
      assert.equal(both.length, 4);
    });

    it('marks the changes of a commit that wrote messages, and only those, so that the outbox is looked at', async () => {
      await subscription({ events: ['failed'] });
      const id = await finished(db, 'main', 'failed');
      const committed = (status: PipelineStatus) => {
        const log = new ChangeLog();
        log.pipeline({ id, repo_id: db.repoId }, status);
        return db.store.transaction((trx) => log.commit(trx, T0));
      };
      assert.deepEqual(
        (await committed('running')).map((c) => c.outbox),
        [undefined],
      );
      assert.deepEqual(
        (await committed('failed')).map((c) => c.outbox),
        [true],
      );
    });
  });
}

describe('the line a failure message links to', () => {
  const db = freshTestDb(backends()[0]);
  const GREEN = '\x1b[32;1m';
  const RESET = '\x1b[0;m';
  // These jobs never end, so their logs stay in job_logs: the store is never read.
  const blobsDir = mkdtempSync(path.join(tmpdir(), 'tandem-notify-'));
  const blobs = new FsBlobStore(blobsDir);
  after(() => rmSync(blobsDir, { recursive: true, force: true }));

  async function logOf(chunks: string[]): Promise<{ number: number; text: string } | null> {
    const pipelineId = await newPipeline(db, [job('a')]);
    const { id } = await db.store.db.selectFrom('jobs').select('id').where('pipeline_id', '=', pipelineId).executeTakeFirstOrThrow();
    if (chunks.length > 0)
      await db.store.db
        .insertInto('job_logs')
        .values(chunks.map((data, seq) => ({ job_id: id, seq, data, created_at: T0 })))
        .execute();
    return failingLogLine(readLogPages(db.store, blobs, id));
  }

  it('is the last command echoed before the script ended, numbered across chunks; after_script does not count', async () => {
    const found = await logOf([
      `${GREEN}Running with tandem${RESET}\nGetting source\n${GREEN}$ echo one${RESET}\none\n${GREEN}$ npm te`,
      `st${RESET}\nFAIL src/a.test.js\nprogress 10%\rprogress 100%\n`,
      `\n\x1b[36;1mRunning after_script${RESET}\n${GREEN}$ echo cleanup${RESET}\ncleanup\n\x1b[31;1mERROR: Job failed: exit code 1${RESET}\n`,
    ]);
    assert.deepEqual(found, { number: 5, text: '$ npm test' });
  });

  it('is the first ERROR: line when no command ran, and nothing in an empty log', async () => {
    assert.deepEqual(await logOf([`Preparing\n\x1b[31;1mERROR: image not found${RESET}\nERROR: Job failed: system failure\n`]), {
      number: 2,
      text: 'ERROR: image not found',
    });
    assert.deepEqual(await logOf(['ERROR: Job failed: the agent was lost']), { number: 1, text: 'ERROR: Job failed: the agent was lost' });
    assert.equal(await logOf([]), null);
  });
});
