// A real cron schedule across two `tandem server` replicas on PostgreSQL, with the leader killed
// (SIGKILL) while it runs: every due time makes exactly one pipeline, whichever replica leads and
// even when the killed leader was inside a run; the times missed while no replica led run once,
// and the schedule goes on from there. Bounded: an every-2-seconds schedule for about 25 s.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { ScheduleJson } from '../../src/api/index.js';
import { until } from '../e2e/helpers.js';
import { makeRemote } from '../support/git.js';
import { postgresForFile, postgresSkipReason } from '../support/postgres.js';
import { Replica, startReplicas } from '../support/replica.js';

const EVERY_MS = 2000;
/** Long enough that a takeover misses at least two due times: they must make one pipeline. */
const LEASE_SECONDS = 6;

describe('a cron schedule across two replicas on PostgreSQL', { skip: postgresSkipReason() }, () => {
  const postgres = postgresForFile(after);
  let root = '';
  const replicas: Replica[] = [];
  after(async () => {
    await Promise.all(replicas.map((r) => r.kill()));
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('makes exactly one pipeline per due time through a leader kill', { timeout: 120_000 }, async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tandem-schedule-chaos-'));
    const databaseUrl = await (await postgres()).createDatabase();
    const remote = await makeRemote(root);
    await remote.commit(
      { '.gitlab-ci.yml': 'tick:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == "schedule"\n  script: [echo tick]\n' },
      'initial',
    );
    await remote.push('main');

    const token = await startReplicas(replicas, { root, databaseUrl, count: 2, env: { TANDEM_LEASE_SECONDS: String(LEASE_SECONDS) } });
    const api = async <T>(replica: Replica, method: string, urlPath: string, body?: unknown): Promise<T> => {
      const res = await fetch(replica.url + urlPath, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      assert.ok(res.ok, `${method} ${urlPath}: ${res.status} ${text}`);
      return (text ? JSON.parse(text) : null) as T;
    };
    await api(replicas[0], 'POST', '/api/v1/repos', { name: 'app', url: remote.bare, defaultBranch: 'main' });
    const schedule = await api<ScheduleJson>(replicas[1], 'POST', '/api/v1/repos/app/schedules', { cron: '*/2 * * * * *', ref: 'main' });

    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const runs = async () =>
        (
          await db.query<{ delivery_id: string; pipeline_id: string }>(
            "select delivery_id, pipeline_id from events where provider = 'schedule' order by delivery_id",
          )
        ).rows;
      await until('three scheduled pipelines before the kill', async () => ((await runs()).length >= 3 ? true : undefined), 20_000, 200);

      const leader = await until('a leader', async () => {
        for (const r of replicas) if (await r.leads()) return r;
        return undefined;
      });
      const survivor = replicas.find((r) => r !== leader)!;
      const killedAt = Date.now();
      await leader.kill();
      const before = (await runs()).length;
      await until('the survivor to lead', async () => ((await survivor.leads()) ? true : undefined), 20_000, 200);
      await until(
        'three more scheduled pipelines after the takeover',
        async () => ((await runs()).length >= before + 3 ? true : undefined),
        20_000,
        200,
      );
      await api(survivor, 'PATCH', `/api/v1/schedules/${schedule.id}`, { active: false });
      // A run already under way when the schedule was switched off still commits (or not) now.
      await sleep(1500);

      const recorded = await runs();
      const pipelines = (await db.query<{ id: string }>("select id from pipelines where source = 'schedule' order by id")).rows;
      assert.equal(pipelines.length, recorded.length, 'every scheduled pipeline is recorded with its due time');
      assert.equal(new Set(recorded.map((r) => r.pipeline_id)).size, recorded.length);
      const due = recorded.map((r) => Date.parse(r.delivery_id.slice(r.delivery_id.indexOf('@') + 1))).sort((a, b) => a - b);
      assert.equal(new Set(due).size, due.length, 'one pipeline per due time');
      const gaps: string[] = [];
      for (let i = 1; i < due.length; i++) {
        const step = due[i] - due[i - 1];
        assert.equal(step % EVERY_MS, 0, `due times are on the schedule: ${new Date(due[i]).toISOString()}`);
        if (step > EVERY_MS) gaps.push(`${new Date(due[i - 1]).toISOString()} → ${new Date(due[i]).toISOString()}`);
      }
      // No replica can lead until the killed leader's lease has run out, so every due time of this
      // window passed without a leader: the new leader runs them once, as one run (the stored due
      // time). A leader's tick late by more than a period (a loaded machine) folds times the same way.
      const outage = { from: killedAt + 500, to: killedAt + (LEASE_SECONDS - 1) * 1000 };
      const slots = Math.floor(outage.to / EVERY_MS) - Math.floor(outage.from / EVERY_MS);
      assert.ok(slots >= 2, `the outage window holds ${slots} due times`);
      const ranInOutage = due.filter((d) => d > outage.from && d < outage.to);
      assert.ok(
        ranInOutage.length <= 1,
        `the ${slots} due times missed during the takeover ran once: ${ranInOutage.map((d) => new Date(d).toISOString())}`,
      );
      assert.ok(due.filter((d) => d >= outage.to).length >= 2, 'the schedule goes on after the takeover');
      console.log(
        `schedule chaos: ${due.length} due times, one pipeline each; leader killed at ${new Date(killedAt).toISOString()}; ` +
          `${slots} due times without a leader made ${ranInOutage.length} run; gaps: ${gaps.join(', ')}`,
      );
    } finally {
      await db.end();
    }
  });
});
