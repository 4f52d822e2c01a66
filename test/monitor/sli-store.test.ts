// Tandem's own SLI counts and DORA metrics on SQLite and PostgreSQL: two replicas adding their
// counts to the same minutes, windows summed from the rows, budgets and alerts evaluated, old rows
// pruned; and the four DORA keys from a release history with a failed deploy, an automatic
// rollback and a rollback asked for by an alert.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { doraForRepo } from '../../src/monitor/dora.js';
import { Metrics } from '../../src/monitor/metrics.js';
import { SliRecorder, evaluateBuiltinSlos, recordedCounts } from '../../src/monitor/sli-recorder.js';
import { BUILTIN_SLOS } from '../../src/monitor/slo.js';
import type { Release, Store } from '../../src/store/index.js';
import { backends, freshStoreEach } from '../store/helpers.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** A round minute, so the test's times fall in the buckets it expects. */
const T0 = Math.floor(1_750_000_000_000 / MIN) * MIN;
const quiet = pino({ level: 'silent' });
const api = BUILTIN_SLOS.find((s) => s.name === 'api-availability')!;

function requests(metrics: Metrics, ok: number, failed: number): void {
  metrics.httpRequests.inc({ route: '/api/v1/repos', method: 'GET', status: '200' }, ok);
  metrics.httpRequests.inc({ route: '/api/v1/repos', method: 'GET', status: '503' }, failed);
}

for (const backend of backends()) {
  describe(`SLI counts and DORA on ${backend.name}`, { skip: backend.skip }, () => {
    let store: Store;
    freshStoreEach(backend, (opened) => (store = opened));

    it('replicas add their counts to the same minutes; windows sum them; the budget and alerts follow', async () => {
      let now = T0 - 2 * HOUR;
      const a = { metrics: new Metrics() };
      const b = { metrics: new Metrics() };
      const recorderA = new SliRecorder({ db: store.db, metrics: a.metrics, now: () => now, log: quiet });
      const recorderB = new SliRecorder({ db: store.db, metrics: b.metrics, now: () => now, log: quiet });

      requests(a.metrics, 900, 100);
      await recorderA.flush();
      now = T0 - 2 * MIN;
      requests(b.metrics, 500, 0);
      await recorderB.flush();
      requests(a.metrics, 50, 50);
      await recorderA.flush();
      const rows = async () =>
        (await store.db.selectFrom('sli_counts').selectAll().where('sli', '=', 'api-availability').orderBy('bucket').execute()).map((r) => [
          r.bucket,
          Number(r.errors),
          Number(r.total),
        ]);
      assert.deepEqual(await rows(), [
        [T0 - 2 * HOUR, 100, 1000],
        [T0 - 2 * MIN, 50, 600],
      ]);
      await recorderA.flush();
      assert.equal((await rows()).length, 2, 'nothing new, nothing written');

      const counts = await recordedCounts(store.db, api, T0);
      assert.deepEqual(counts.windows['5m'], { errors: 50, total: 600 });
      assert.deepEqual(counts.windows['1h'], { errors: 50, total: 600 });
      assert.deepEqual(counts.windows['6h'], { errors: 150, total: 1600 });
      assert.deepEqual(counts.period, { errors: 150, total: 1600 });

      a.metrics.queueWait.observe(1);
      a.metrics.queueWait.observe(5);
      a.metrics.queueWait.observe(20);
      a.metrics.pipelines.inc({ status: 'success' }, 3);
      a.metrics.pipelines.inc({ status: 'failed' });
      a.metrics.countPipelineFailure('script_failure');
      await recorderA.flush();
      const slos = await evaluateBuiltinSlos(store.db, T0);
      assert.deepEqual(
        slos.map((s) => s.name),
        BUILTIN_SLOS.map((s) => s.name),
      );
      const byName = Object.fromEntries(slos.map((s) => [s.name, s.evaluation!]));
      assert.equal(byName['api-availability'].firing, 'page', '50 in 600 (8%) is over 14.4x a 0.1% budget over 1h and 5m');
      assert.equal(byName['api-availability'].budget.consumed, 150 / 1600 / 0.001);
      assert.ok(byName['api-availability'].budget.remaining < 0);
      assert.deepEqual(byName['job-pickup'].windows['5m'], { errors: 1, total: 3, errorRatio: 1 / 3, burnRate: 1 / 3 / 0.01 });
      assert.deepEqual(
        [byName['pipeline-system-errors'].budget.errors, byName['pipeline-system-errors'].budget.total],
        [0, 4],
        "a script's failure is not Tandem's",
      );
      assert.equal(byName['pipeline-system-errors'].firing, null);
      assert.deepEqual([byName['webhook-latency'].budget.total, byName['webhook-latency'].budget.remaining], [0, 1]);
    });

    it('rows older than the longest period are pruned', async () => {
      let now = T0 - 40 * DAY;
      const metrics = new Metrics();
      const recorder = new SliRecorder({ db: store.db, metrics, now: () => now, log: quiet });
      requests(metrics, 10, 0);
      await recorder.flush();
      now = T0;
      requests(metrics, 10, 0);
      await recorder.flush();
      const buckets = (await store.db.selectFrom('sli_counts').select('bucket').execute()).map((r) => r.bucket);
      assert.deepEqual(buckets, [T0]);
    });

    it('DORA: frequency, lead time, change failure rate and time to restore from the releases', async () => {
      const repo = await store.db
        .insertInto('repos')
        .values({
          name: 'shop',
          url: '/dev/null',
          default_branch: 'main',
          poll_interval_seconds: 0,
          webhook_secret: null,
          branch_filter: null,
          tag_filter: null,
          known_refs: '{}',
          last_polled_at: null,
          created_at: 0,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const env = async (name: string) =>
        (
          await store.db
            .insertInto('environments')
            .values({ repo_id: repo.id, name, tier: null, url: null, protected: 0, created_at: 0, updated_at: 0 })
            .returning('id')
            .executeTakeFirstOrThrow()
        ).id;
      const production = await env('production');
      await env('staging');
      const pipeline = (sha: string, at: number) =>
        store.db
          .insertInto('pipelines')
          .values({
            repo_id: repo.id,
            ref: 'main',
            is_tag: 0,
            sha,
            before_sha: null,
            source: 'push',
            status: 'success',
            name: null,
            config_path: null,
            error: null,
            variables: '{}',
            stages: '[]',
            created_at: at,
            started_at: null,
            finished_at: null,
          })
          .execute();
      const release = async (
        r: Pick<Release, 'kind' | 'status' | 'sha' | 'created_at' | 'finished_at'> & { rollback_of?: number; digest?: string },
      ) =>
        (
          await store.db
            .insertInto('releases')
            .values({
              environment_id: production,
              repo_id: repo.id,
              pipeline_id: null,
              job_id: null,
              ref: 'main',
              version: r.sha,
              files: '[]',
              digest: r.digest ?? `digest-${r.sha}`,
              deploy_spec: '{}',
              tags: '[]',
              fencing_token: null,
              status_reason: null,
              decision: null,
              created_by: 'test',
              rollback_of: r.rollback_of ?? null,
              kind: r.kind,
              status: r.status,
              sha: r.sha,
              created_at: r.created_at,
              finished_at: r.finished_at,
            })
            .returning('id')
            .executeTakeFirstOrThrow()
        ).id;

      // Before the window: what was live when it began.
      await release({ kind: 'deploy', status: 'superseded', sha: 'z', created_at: T0 - 40 * DAY, finished_at: T0 - 40 * DAY + MIN });
      // A goes live 20 minutes after its first pipeline (a later tag pipeline of it does not count).
      await pipeline('a', T0 - 10 * DAY);
      await pipeline('a', T0 - 9 * DAY);
      const a = await release({
        kind: 'deploy',
        status: 'superseded',
        sha: 'a',
        created_at: T0 - 10 * DAY + 10 * MIN,
        finished_at: T0 - 10 * DAY + 20 * MIN,
      });
      // B fails its verification with no rollback: restored only when the next release goes live.
      await pipeline('b', T0 - 8 * DAY);
      await release({
        kind: 'deploy',
        status: 'failed',
        sha: 'b',
        created_at: T0 - 8 * DAY + 5 * MIN,
        finished_at: T0 - 8 * DAY + 15 * MIN,
      });
      // C is rolled back automatically: the rollback release restores A at once.
      await pipeline('c', T0 - 7 * DAY);
      await release({
        kind: 'deploy',
        status: 'rolled_back',
        sha: 'c',
        created_at: T0 - 7 * DAY + 5 * MIN,
        finished_at: T0 - 7 * DAY + 10 * MIN,
      });
      await release({
        kind: 'rollback',
        status: 'superseded',
        sha: 'a',
        rollback_of: a,
        digest: 'digest-a',
        created_at: T0 - 7 * DAY + 10 * MIN,
        finished_at: T0 - 7 * DAY + 10 * MIN,
      });
      // D goes live; an alert rolls it back to A a day later, live 3 minutes after the alert.
      await pipeline('d', T0 - 5 * DAY);
      await release({
        kind: 'deploy',
        status: 'superseded',
        sha: 'd',
        created_at: T0 - 5 * DAY + 10 * MIN,
        finished_at: T0 - 5 * DAY + 30 * MIN,
      });
      await release({
        kind: 'rollback',
        status: 'superseded',
        sha: 'a',
        rollback_of: a,
        digest: 'digest-a',
        created_at: T0 - 4 * DAY,
        finished_at: T0 - 4 * DAY + 3 * MIN,
      });
      // E goes live an hour after its pipeline; a deploy still running does not count.
      await pipeline('e', T0 - 2 * DAY);
      await release({ kind: 'deploy', status: 'live', sha: 'e', created_at: T0 - 2 * DAY + 30 * MIN, finished_at: T0 - 2 * DAY + HOUR });
      await release({ kind: 'deploy', status: 'deploying', sha: 'f', created_at: T0 - MIN, finished_at: null });

      const [prod, staging] = await doraForRepo(store.db, repo.id, { days: 30, now: T0 });
      assert.deepEqual(prod, {
        environment: 'production',
        deployments: { total: 5, live: 3, failed: 3 },
        deploymentFrequency: 3 / 30,
        leadTime: { p50Seconds: 30 * 60, samples: 3 },
        changeFailureRate: 3 / 5,
        // B: a day less 5 minutes until the automatic rollback of C went live; C: at once; D: 3 minutes.
        timeToRestore: { p50Seconds: 180, samples: 3, unrestored: 0 },
      });
      assert.deepEqual(staging, {
        environment: 'staging',
        deployments: { total: 0, live: 0, failed: 0 },
        deploymentFrequency: 0,
        leadTime: { p50Seconds: null, samples: 0 },
        changeFailureRate: null,
        timeToRestore: { p50Seconds: null, samples: 0, unrestored: 0 },
      });

      const lastWeek = await doraForRepo(store.db, repo.id, { environment: 'production', days: 6, now: T0 });
      assert.equal(lastWeek.length, 1);
      assert.deepEqual(
        [lastWeek[0].deployments, lastWeek[0].timeToRestore],
        [
          { total: 2, live: 2, failed: 1 },
          { p50Seconds: 180, samples: 1, unrestored: 0 },
        ],
      );
      assert.deepEqual(await doraForRepo(store.db, repo.id, { environment: 'nowhere', days: 30, now: T0 }), []);
    });
  });
}
