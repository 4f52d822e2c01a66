// Pipeline schedules against the real parts, on SQLite and PostgreSQL: cron patterns with a
// timezone, variables sealed at rest, a due time started once (a controlled clock: times missed
// during an outage run once; two leaders racing for the same due time make one pipeline), the
// owner's permissions checked at every due time (a schedule whose owner lost access is made
// inactive, with the reason), and GitLab's `$CI_PIPELINE_SOURCE == "schedule"` rules.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { openSecrets, SCHEDULE_VARIABLES } from '../../src/auth/index.js';
import { configSchema } from '../../src/config/index.js';
import { PIPELINE_COMPILE_WORKER } from '../../src/deploy/index.js';
import { DomainError } from '../../src/errors.js';
import type { TriggerContext } from '../../src/scheduler/index.js';
import {
  createSchedule,
  dueSchedules,
  nextRunAfter,
  requireSchedule,
  runDueSchedule,
  scheduleVariables,
  updateSchedule,
} from '../../src/schedules/index.js';
import { MirrorCache } from '../../src/source/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { makeRemote, type TestRemote } from '../support/git.js';
import { backends } from '../store/helpers.js';
import { insertRepoRow, insertUserRow } from '../scheduler/helpers.js';

const HOUR = 3_600_000;
/** 2026-01-05 10:00:00 UTC, a Monday. */
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

const PIPELINE_FILE = `
workflow:
  rules:
    - if: $SKIP_ALL == "yes"
      when: never
    - when: always
nightly:
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
  script: [echo "$TARGET"]
on-push:
  rules:
    - if: $CI_PIPELINE_SOURCE == "push"
  script: [echo push]
`;

describe('cron patterns and timezones', () => {
  it('computes due times in the timezone, with seconds, and names the field it refuses', () => {
    // 02:00 in Berlin is 01:00 UTC in winter and 00:00 UTC in summer.
    assert.equal(nextRunAfter('0 2 * * *', 'Europe/Berlin', T0), Date.UTC(2026, 0, 6, 1, 0, 0));
    assert.equal(nextRunAfter('0 2 * * *', 'Europe/Berlin', Date.UTC(2026, 6, 1, 12)), Date.UTC(2026, 6, 2, 0, 0, 0));
    assert.equal(nextRunAfter('*/5 * * * * *', 'UTC', T0 + 1000), T0 + 5000, 'six fields: seconds first');
    assert.equal(nextRunAfter('0 * * * *', 'UTC', T0), T0 + HOUR, 'strictly after: the time itself is not next');
    const refused = (cron: string, tz: string, field: RegExp) =>
      assert.throws(
        () => nextRunAfter(cron, tz, T0),
        (err: unknown) => err instanceof DomainError && err.kind === 'invalid' && field.test(err.message),
      );
    refused('61 * * * *', 'UTC', /^cron: "61 \* \* \* \*": .*minute/);
    refused('* * *', 'UTC', /^cron: /);
    refused('* * * * * * *', 'UTC', /^cron: .*5 or 6 parts/);
    refused('0 2 * * *', 'Mars/Olympus_Mons', /^timezone: "Mars\/Olympus_Mons" is not an IANA time zone/);
    refused('0 0 30 2 *', 'UTC', /^cron: /);
  });
});

for (const backend of backends()) {
  describe(`schedules on ${backend.name}`, { skip: backend.skip }, () => {
    let store: Store;
    let ctx: TriggerContext;
    let root: string;
    let remote: TestRemote;
    let repoId: number;
    let ownerId: number;
    let cleanup: () => Promise<void>;
    const clock = { at: T0, now: () => clock.at };

    beforeEach(async () => {
      root = await mkdtemp(path.join(tmpdir(), 'tandem-schedules-'));
      const fresh = await backend.fresh();
      cleanup = fresh.cleanup;
      store = await openStore(fresh.url);
      const secrets = await openSecrets(
        store,
        { ...configSchema.parse({}), dataDir: root },
        { now: clock.now, log: pino({ level: 'silent' }) },
      );
      ctx = {
        store,
        secrets,
        mirrors: new MirrorCache(path.join(root, 'mirrors')),
        config: { jobTimeoutSeconds: 600, maxPipelineJobs: 100 },
        externalUrl: 'http://tandem.test',
        clock,
        compileWorker: PIPELINE_COMPILE_WORKER,
      };
      remote = await makeRemote(root);
      await remote.commit({ '.gitlab-ci.yml': PIPELINE_FILE }, 'initial');
      await remote.push('main', 'main:feature');
      repoId = await insertRepoRow(store.db, 'app', remote.bare);
      await store.db
        .insertInto('protected_branches')
        .values({ repo_id: repoId, pattern: 'main', allowed_role: 'maintainer', created_at: T0 })
        .execute();
      ownerId = await user('olive', 'maintainer');
      clock.at = T0;
    });

    afterEach(async () => {
      await store.close();
      await cleanup();
      await rm(root, { recursive: true, force: true });
    });

    async function user(username: string, role: 'developer' | 'maintainer' | 'reporter' | null, admin = false): Promise<number> {
      const id = await insertUserRow(store.db, username, admin);
      if (role !== null)
        await store.db
          .insertInto('memberships')
          .values({ repo_id: repoId, user_id: id, role, source: 'manual', created_at: T0, updated_at: T0 })
          .execute();
      return id;
    }

    const hourly = (extra: Partial<Parameters<typeof createSchedule>[1]> = {}) =>
      createSchedule(ctx, { repoId, cron: '0 * * * *', ref: 'main', ownerUserId: ownerId, now: clock.now(), ...extra });

    async function pipelines() {
      return store.db.selectFrom('pipelines').select(['id', 'source', 'ref', 'variables']).orderBy('id').execute();
    }

    it('keeps variable values sealed and bound to their schedule', async () => {
      const a = await hourly({ variables: { TARGET: 'prod-secret-value', REGION: 'eu' } });
      const b = await hourly();
      const row = await store.db.selectFrom('schedules').selectAll().where('id', '=', a.id).executeTakeFirstOrThrow();
      assert.ok(row.variables !== null && !row.variables.includes('prod-secret-value'), 'no plain value at rest');
      assert.deepEqual(JSON.parse(row.variable_keys), ['REGION', 'TARGET']);
      assert.deepEqual(await scheduleVariables(ctx, a), { TARGET: 'prod-secret-value', REGION: 'eu' });
      // `tandem secrets rotate` re-encrypts them under the new data key; they still open.
      const keyId = await ctx.secrets.keyring.rotate();
      assert.equal(await ctx.secrets.keyring.reencrypt(SCHEDULE_VARIABLES), 1);
      const rotated = await store.db.selectFrom('schedules').selectAll().where('id', '=', a.id).executeTakeFirstOrThrow();
      assert.equal(rotated.variables_key_id, keyId);
      assert.deepEqual(await scheduleVariables(ctx, rotated), { TARGET: 'prod-secret-value', REGION: 'eu' });
      // A ciphertext copied to another schedule does not open there.
      await store.db
        .updateTable('schedules')
        .set({ variables: row.variables, variables_key_id: row.variables_key_id })
        .where('id', '=', b.id)
        .execute();
      await assert.rejects(scheduleVariables(ctx, await requireSchedule(store.db, b.id)), /does not decrypt/);
    });

    it('runs times missed during an outage once, then counts from now', async () => {
      const schedule = await hourly({ variables: { TARGET: 'nightly-target' } });
      assert.equal(schedule.next_run_at, T0 + HOUR);
      // The servers were down from before 11:00 until 15:10: four slots passed.
      clock.at = T0 + 5 * HOUR + 10 * 60_000;
      const due = await dueSchedules(store.db, clock.now());
      assert.deepEqual(
        due.map((s) => s.id),
        [schedule.id],
      );
      const run = await runDueSchedule(ctx, due[0], clock.now());
      assert.equal(run.result, 'started', run.reason ?? '');
      assert.equal(run.dueAt, T0 + HOUR, 'the stored due time is the one that runs');
      const after = await requireSchedule(store.db, schedule.id);
      assert.equal(after.next_run_at, T0 + 6 * HOUR, 'the next time is the first after now, not the next missed slot');
      assert.equal(after.last_run_at, T0 + HOUR);
      assert.equal(after.last_pipeline_id, run.pipelineId);
      assert.deepEqual(await dueSchedules(store.db, clock.now()), [], 'nothing more is due');
      const events = await store.db.selectFrom('events').select(['provider', 'delivery_id', 'pipeline_id']).execute();
      assert.deepEqual(
        events,
        [{ provider: 'schedule', delivery_id: `schedule-${schedule.id}@2026-01-05T11:00:00.000Z`, pipeline_id: run.pipelineId }],
        'the pipeline records what started it: the schedule and its due time',
      );

      const [pipeline] = await pipelines();
      assert.equal(pipeline.source, 'schedule');
      assert.equal(JSON.parse(pipeline.variables).TARGET, 'nightly-target', "the schedule's variables are the pipeline's");
      const jobs = await store.db.selectFrom('jobs').select('name').where('pipeline_id', '=', pipeline.id).execute();
      assert.deepEqual(
        jobs.map((j) => j.name),
        ['nightly'],
        '$CI_PIPELINE_SOURCE == "schedule" holds, "push" does not',
      );
    });

    it('makes one pipeline when two leaders race for the same due time', async () => {
      const schedule = await hourly();
      clock.at = T0 + HOUR + 1;
      const [row] = await dueSchedules(store.db, clock.now());
      // Both replicas read the row before either claimed it (an old leader paused past its lease, a new one).
      const runs = await Promise.all([runDueSchedule(ctx, row, clock.now()), runDueSchedule(ctx, row, clock.now())]);
      assert.deepEqual(runs.map((r) => r.result).sort(), ['lost', 'started']);
      assert.equal((await pipelines()).length, 1);
      // A third that read the row before the claim and comes late is refused too.
      assert.equal((await runDueSchedule(ctx, row, clock.now())).result, 'lost');
      assert.equal((await pipelines()).length, 1);
      assert.equal((await requireSchedule(store.db, schedule.id)).next_run_at, T0 + 2 * HOUR);
    });

    it('moves on past a due time that makes no pipeline, and says why', async () => {
      const skipped = await hourly({ variables: { SKIP_ALL: 'yes' } });
      const unknown = await hourly({ ref: 'no-such-branch' });
      clock.at = T0 + HOUR;
      const runs = await Promise.all((await dueSchedules(store.db, clock.now())).map((s) => runDueSchedule(ctx, s, clock.now())));
      assert.deepEqual(
        runs.map((r) => [r.scheduleId, r.result]),
        [
          [skipped.id, 'skipped'],
          [unknown.id, 'failed'],
        ],
      );
      assert.equal((await pipelines()).length, 0);
      const [a, b] = [await requireSchedule(store.db, skipped.id), await requireSchedule(store.db, unknown.id)];
      assert.match(a.last_error ?? '', /^no pipeline: /);
      assert.match(b.last_error ?? '', /unknown branch or tag "no-such-branch"/);
      assert.equal(a.next_run_at, T0 + 2 * HOUR);
      assert.equal(b.next_run_at, T0 + 2 * HOUR);
      assert.equal(b.active, 1, 'a bad ref is reported, not a reason to stop');
    });

    it('is made inactive, with the reason, when its owner loses access', async () => {
      const dev = await user('dave', 'developer');
      const gone = await user('gina', 'maintainer');
      const admin = await user('root2', null, true);
      const lowered = await user('lou', 'maintainer');
      const cases = [
        {
          owner: ownerId,
          ref: 'main',
          change: () => store.db.deleteFrom('memberships').where('user_id', '=', ownerId).execute(),
          reason: /its owner olive is no longer a member of app/,
        },
        {
          owner: dev,
          ref: 'main',
          change: async () => undefined,
          reason: /its owner dave may not run pipelines on protected branch main \(maintainer needed\)/,
        },
        {
          owner: gone,
          ref: 'feature',
          change: () => store.db.deleteFrom('users').where('id', '=', gone).execute(),
          reason: /its owner was deleted/,
        },
        {
          owner: lowered,
          ref: 'feature',
          change: () => store.db.updateTable('memberships').set({ role: 'reporter' }).where('user_id', '=', lowered).execute(),
          reason: /its owner lou is reporter in app; running pipelines needs developer/,
        },
      ];
      const made = [];
      for (const c of cases) made.push(await hourly({ ownerUserId: c.owner, ref: c.ref }));
      const kept = await hourly({ ownerUserId: dev, ref: 'feature' });
      const byAdmin = await hourly({ ownerUserId: admin, ref: 'main' });
      for (const c of cases) await c.change();

      clock.at = T0 + HOUR;
      const runs = await Promise.all((await dueSchedules(store.db, clock.now())).map((s) => runDueSchedule(ctx, s, clock.now())));
      const resultOf = (id: number) => runs.find((r) => r.scheduleId === id)?.result;
      assert.equal(resultOf(kept.id), 'started', 'a developer runs an unprotected branch');
      assert.equal(resultOf(byAdmin.id), 'started', 'an instance admin runs any ref');
      for (const [i, c] of cases.entries()) {
        const s = await requireSchedule(store.db, made[i].id);
        assert.equal(resultOf(s.id), 'deactivated');
        assert.equal(s.active, 0);
        assert.match(s.deactivated_reason ?? '', /^schedule deactivated because /);
        assert.match(s.deactivated_reason ?? '', c.reason);
      }
      assert.equal((await pipelines()).length, 2);

      // Turned on again by a maintainer who takes it over: it counts from now and the reason goes.
      clock.at = T0 + 3 * HOUR + 30 * 60_000;
      const again = await updateSchedule(ctx, made[0].id, { active: true, ownerUserId: admin }, clock.now());
      assert.equal(again.active, 1);
      assert.equal(again.deactivated_reason, null);
      assert.equal(again.next_run_at, T0 + 4 * HOUR);
      assert.equal(again.owner_username, 'root2');
    });
  });
}
