// The forge-status writer and handler on both databases, against a contract server standing in for
// GitHub: one message per state with its commit and context, one query per transaction at most
// and none for repositories known to have no forge, an unchanged state never posted again, and a
// refusal failing the message at once.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KyselyPlugin } from 'kysely';
import pino from 'pino';
import { openSecrets } from '../../src/auth/index.js';
import { configSchema } from '../../src/config/index.js';
import { Metrics } from '../../src/monitor/index.js';
import {
  enqueueMessages,
  forgeStatusHandler,
  forgeStatusMessages,
  forgetForgeRepo,
  OutboxSender,
  type OutboxMessage,
} from '../../src/outbox/index.js';
import { saveRepoForge } from '../../src/repos/index.js';
import type { StatusChange } from '../../src/store/index.js';
import { freshTestDb, T0 } from '../scheduler/helpers.js';
import { backends } from '../store/helpers.js';
import { GitHubContractServer } from './github-contract.js';

const log = pino({ level: 'silent' });
const SHA = 'ab'.repeat(20);

/** Counts the statements run through the Kysely instance it is plugged into. */
function counter(): { plugin: KyselyPlugin; count: () => number } {
  let n = 0;
  return {
    plugin: {
      transformQuery: (args) => {
        n++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    },
    count: () => n,
  };
}

let gh: GitHubContractServer;
let dataDir: string;
before(async () => {
  gh = await GitHubContractServer.start();
  dataDir = await mkdtemp(path.join(tmpdir(), 'tandem-forge-outbox-'));
});
after(async () => {
  await gh.close();
  await rm(dataDir, { recursive: true, force: true });
});

for (const backend of backends()) {
  describe(backend.name, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    async function pipeline(name: string | null = null): Promise<number> {
      const row = await db.store.db
        .insertInto('pipelines')
        .values({
          repo_id: db.repoId,
          ref: 'main',
          is_tag: 0,
          sha: SHA,
          before_sha: null,
          source: 'push',
          status: 'pending',
          name,
          config_path: null,
          error: null,
          variables: '{}',
          stages: '[]',
          created_at: T0,
          started_at: null,
          finished_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    }

    const pipelineChange = (id: number, status: StatusChange['status']): StatusChange => ({
      type: 'pipeline',
      id,
      pipelineId: id,
      repoId: db.repoId,
      status,
    });
    const jobChange = (id: number, pipelineId: number, name: string, status: StatusChange['status']): StatusChange => ({
      type: 'job',
      id,
      pipelineId,
      repoId: db.repoId,
      name,
      status,
      trigger: false,
    });

    async function withForge(statuses: 'pipeline' | 'jobs') {
      const secrets = await openSecrets(
        db.store,
        { ...configSchema.parse({}), dataDir: await mkdtemp(path.join(dataDir, 'k-')) },
        { now: Date.now, log },
      );
      const repo = await db.store.db.selectFrom('repos').selectAll().where('id', '=', db.repoId).executeTakeFirstOrThrow();
      await saveRepoForge({ store: db.store, secrets }, repo, {
        type: 'github',
        apiUrl: gh.url,
        project: 'octo/app',
        token: gh.token,
        statuses,
      });
      forgetForgeRepo(db.repoId);
      return secrets;
    }

    it('writes nothing, and after the first look queries nothing, for a repository without a forge', async () => {
      forgetForgeRepo(db.repoId);
      const id = await pipeline();
      const c = counter();
      const trx = db.store.db.withPlugin(c.plugin);
      assert.deepEqual(await forgeStatusMessages(trx, [pipelineChange(id, 'running')], T0), []);
      assert.equal(c.count(), 1, 'one query to learn the repository has no forge');
      assert.deepEqual(
        await forgeStatusMessages(trx, [pipelineChange(id, 'success'), jobChange(1, id, 'build', 'success')], T0 + 1000),
        [],
      );
      assert.equal(c.count(), 1, 'then none');
    });

    it('one message per pipeline state (and per job with statuses: jobs), keyed by commit and context, in one query', async () => {
      await withForge('jobs');
      const id = await pipeline('Nightly');
      const c = counter();
      const messages = await forgeStatusMessages(
        db.store.db.withPlugin(c.plugin),
        [pipelineChange(id, 'running'), jobChange(7, id, 'build', 'failed'), pipelineChange(id, 'failed')],
        T0,
      );
      assert.equal(c.count(), 1);
      assert.deepEqual(
        messages.map((m) => [
          m.key,
          m.coalesce,
          (m.payload as { state: string }).state,
          (m.payload as { description: string }).description,
          (m.payload as { targetUrl: string }).targetUrl,
        ]),
        [
          [`forge:${db.repoId}:${SHA}:tandem/Nightly`, true, 'running', `Pipeline #${id} running`, `/pipelines/${id}`],
          [`forge:${db.repoId}:${SHA}:tandem/Nightly/build`, true, 'failed', 'build failed', '/jobs/7'],
          [`forge:${db.repoId}:${SHA}:tandem/Nightly`, true, 'failed', `Pipeline #${id} failed`, `/pipelines/${id}`],
        ],
      );
    });

    it('never posts an unchanged state; a refused status fails at once', async () => {
      const secrets = await withForge('pipeline');
      const id = await pipeline();
      const metrics = new Metrics();
      const handler = forgeStatusHandler({
        store: db.store,
        secrets,
        metrics,
        log,
        externalUrl: () => 'http://tandem.test',
        timeoutMs: 2000,
        now: Date.now,
      });
      const sender = new OutboxSender({ store: db.store, handlers: [handler], replica: 'r1', now: Date.now, log });
      const send = async (changes: StatusChange[]) => {
        const messages: OutboxMessage[] = await forgeStatusMessages(db.store.db, changes, Date.now());
        await enqueueMessages(db.store.db, messages, Date.now());
        await sender.runOnce();
      };
      // created and pending are both "pending" on the forge: the second is not posted.
      await send([pipelineChange(id, 'created')]);
      await send([pipelineChange(id, 'pending')]);
      await send([pipelineChange(id, 'running')]);
      await send([pipelineChange(id, 'running')]);
      const before = gh.statesOf(SHA, 'tandem/pipeline').length;
      assert.deepEqual(gh.statesOf(SHA, 'tandem/pipeline').slice(-2), [
        `pending:Pipeline #${id} pending`,
        `pending:Pipeline #${id} running`,
      ]);
      const results = await db.store.db.selectFrom('outbox').select(['status', 'result']).orderBy('id').execute();
      assert.deepEqual(
        results.map((r) => r.result),
        ['sent', 'unchanged', 'sent', 'unchanged'],
      );
      assert.match(await metrics.registry.metrics(), /tandem_forge_status_deliveries_total\{forge="github",result="unchanged"\} 2/);

      // GitHub refuses a commit it does not have (422): no retry would help.
      gh.fault({ kind: 'error', count: 1, status: 422 });
      await send([pipelineChange(id, 'success')]);
      const last = await db.store.db.selectFrom('outbox').select(['status', 'last_error']).orderBy('id', 'desc').executeTakeFirstOrThrow();
      assert.equal(last.status, 'failed');
      assert.match(last.last_error ?? '', /422/);
      assert.equal(gh.statesOf(SHA, 'tandem/pipeline').length, before);
      assert.deepEqual(gh.violations, []);
    });
  });
}
