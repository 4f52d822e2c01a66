// The schedules API on a real server: maintainers manage schedules, reporters read them, refusals
// name the field (cron, timezone) or the permission; variable values never come back, nor reach
// the audit log or the server's log; "run now" starts a `schedule` pipeline with the caller's
// permissions; and the leader's duty, at a real every-second cron, starts pipelines and makes a
// schedule inactive once its owner loses access, counted in tandem_schedule_runs_total.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PipelineJson, ScheduleJson } from '../../src/api/index.js';
import { AuthServer } from '../auth/helpers.js';
import { until } from '../e2e/helpers.js';

const PIPELINE_FILE = `
nightly:
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
  script: [echo "$TARGET"]
on-push:
  rules:
    - if: $CI_PIPELINE_SOURCE != "schedule"
  script: [echo other]
`;
const SECRET = 'sched-secret-value-42';

interface AuditEntry {
  action: string;
  actor: string;
  details: Record<string, unknown> | null;
}

describe('schedules API', () => {
  let tandem: AuthServer;
  const tokens: Record<string, string> = {};
  const as = (who: string) => ({ as: { token: tokens[who] } });

  before(async () => {
    tandem = await AuthServer.start();
    await tandem.repo('app', { '.gitlab-ci.yml': PIPELINE_FILE }, ['feature']);
    for (const [name, role] of [
      ['mia', 'maintainer'],
      ['dev', 'developer'],
      ['rita', 'reporter'],
      ['gus', 'guest'],
    ] as const) {
      tokens[name] = (await tandem.user(name)).token;
      await tandem.member('app', name, role);
    }
  });
  after(() => tandem.close());

  test('maintainers add, change and delete; reporters read; refusals name the field or the permission', async () => {
    const body = { cron: '0 3 * * *', timezone: 'Europe/Berlin', ref: 'feature', description: 'nightly', variables: { TARGET: SECRET } };
    const refused = await tandem.api('POST', '/api/v1/repos/app/schedules', { ...as('dev'), body });
    assert.equal(refused.status, 403);
    assert.match(refused.text, /schedule\.create/);
    for (const [bad, message] of [
      [{ ...body, cron: '0 25 * * *' }, /cron: "0 25 \* \* \*": .*hour/],
      [{ ...body, timezone: 'Europe/Atlantis' }, /timezone: "Europe\/Atlantis" is not an IANA time zone/],
      [{ ...body, variables: { '1BAD': 'x' } }, /variables/],
      [{ ...body, every: 'day' }, /every|Unrecognized/],
    ] as const) {
      const res = await tandem.api<{ message: string }>('POST', '/api/v1/repos/app/schedules', { ...as('mia'), body: bad });
      assert.equal(res.status, 422, res.text);
      assert.match(res.body.message, message);
    }

    const created = await tandem.api<ScheduleJson>('POST', '/api/v1/repos/app/schedules', { ...as('mia'), body });
    assert.equal(created.status, 201, created.text);
    assert.ok(created.body.id > 0);
    assert.equal(created.body.owner, 'mia');
    assert.deepEqual(created.body.variables, ['TARGET']);
    assert.ok(!created.text.includes(SECRET));
    // 03:00 in Berlin is 02:00 UTC in winter, 01:00 in summer.
    assert.match(created.body.nextRunAt, /T0[12]:00:00\.000Z$/);

    const listed = await tandem.api<ScheduleJson[]>('GET', '/api/v1/repos/app/schedules', as('rita'));
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.map((s) => s.id),
      [created.body.id],
    );
    assert.ok(!listed.text.includes(SECRET));
    assert.equal((await tandem.api('GET', '/api/v1/repos/app/schedules', as('gus'))).status, 403);
    assert.equal((await tandem.api('GET', `/api/v1/schedules/${created.body.id}`, as('gus'))).status, 403);
    assert.equal((await tandem.api('GET', `/api/v1/schedules/${created.body.id}`, as('rita'))).status, 200);
    assert.equal((await tandem.api('GET', '/api/v1/schedules/424242', as('mia'))).status, 404);

    const patchRefused = await tandem.api('PATCH', `/api/v1/schedules/${created.body.id}`, { ...as('dev'), body: { active: false } });
    assert.equal(patchRefused.status, 403);
    const patched = await tandem.api<ScheduleJson>('PATCH', `/api/v1/schedules/${created.body.id}`, {
      body: { active: false, cron: '30 4 * * 1', takeOwnership: true },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.active, false);
    assert.equal(patched.body.cron, '30 4 * * 1');
    assert.equal(patched.body.owner, 'admin', 'the admin took ownership');
    assert.equal((await tandem.api('PATCH', `/api/v1/schedules/${created.body.id}`, { body: { timezone: 'Nowhere/Else' } })).status, 422);

    assert.equal((await tandem.api('DELETE', `/api/v1/schedules/${created.body.id}`, as('dev'))).status, 403);
    assert.equal((await tandem.api('DELETE', `/api/v1/schedules/${created.body.id}`, as('mia'))).status, 204);
    assert.equal((await tandem.api('GET', `/api/v1/schedules/${created.body.id}`, as('mia'))).status, 404);

    const audit = await tandem.api<AuditEntry[]>('GET', '/api/v1/audit?limit=200');
    const actions = audit.body.filter((e) => e.action.startsWith('schedule.')).map((e) => `${e.action} ${e.actor}`);
    assert.deepEqual(actions.sort(), ['schedule.create mia', 'schedule.delete mia', 'schedule.update admin']);
    assert.ok(!audit.text.includes(SECRET), 'no variable value in the audit log');
  });

  test("run now starts a schedule pipeline with the caller's permissions", async () => {
    const feature = await tandem.api<ScheduleJson>('POST', '/api/v1/repos/app/schedules', {
      ...as('mia'),
      body: { cron: '0 3 * * *', ref: 'feature', variables: { TARGET: SECRET } },
    });
    const main = await tandem.api<ScheduleJson>('POST', '/api/v1/repos/app/schedules', {
      ...as('mia'),
      body: { cron: '0 3 * * *', ref: 'main' },
    });
    assert.equal(main.status, 201, main.text);
    assert.equal((await tandem.api('POST', `/api/v1/schedules/${feature.body.id}/run`, as('rita'))).status, 403);
    const protectedRun = await tandem.api('POST', `/api/v1/schedules/${main.body.id}/run`, as('dev'));
    assert.equal(protectedRun.status, 403, 'main is protected: a developer may not run it, whoever owns the schedule');
    assert.match(protectedRun.text, /protected branch main/);

    const run = await tandem.api<{ id: number; pipelineId: number; status: string }>(
      'POST',
      `/api/v1/schedules/${feature.body.id}/run`,
      as('dev'),
    );
    assert.equal(run.status, 201, run.text);
    assert.equal(run.body.id, run.body.pipelineId);
    const pipeline = await tandem.api<PipelineJson>('GET', `/api/v1/pipelines/${run.body.pipelineId}`);
    assert.equal(pipeline.body.source, 'schedule');
    assert.deepEqual(
      pipeline.body.jobs.map((j) => j.name),
      ['nightly'],
    );
    const after = await tandem.api<ScheduleJson>('GET', `/api/v1/schedules/${feature.body.id}`);
    assert.deepEqual(after.body.lastPipeline?.id, run.body.pipelineId);
    assert.equal(after.body.nextRunAt, feature.body.nextRunAt, 'running now keeps the next due time');
    for (const id of [feature.body.id, main.body.id]) await tandem.api('DELETE', `/api/v1/schedules/${id}`);
  });

  test('the leader runs an every-second schedule, and deactivates it once its owner loses access', async () => {
    const created = await tandem.api<ScheduleJson>('POST', '/api/v1/repos/app/schedules', {
      ...as('mia'),
      body: { cron: '* * * * * *', ref: 'feature', variables: { TARGET: SECRET } },
    });
    assert.equal(created.status, 201, created.text);
    const started = await until(
      'two scheduled pipelines',
      async () => {
        const list = await tandem.api<PipelineJson[]>('GET', '/api/v1/repos/app/pipelines?limit=100');
        const scheduled = list.body.filter((p) => p.source === 'schedule');
        return scheduled.length >= 2 ? scheduled : undefined;
      },
      15_000,
      200,
    );
    assert.ok(started.length >= 2);

    await tandem.api('DELETE', '/api/v1/repos/app/members/mia');
    const off = await until(
      'the schedule made inactive',
      async () => {
        const s = await tandem.api<ScheduleJson>('GET', `/api/v1/schedules/${created.body.id}`);
        return s.body.active ? undefined : s.body;
      },
      15_000,
      200,
    );
    assert.equal(off.deactivatedReason, 'schedule deactivated because its owner mia is no longer a member of app');
    const count = async () =>
      (await tandem.api<PipelineJson[]>('GET', '/api/v1/repos/app/pipelines?limit=100')).body.filter((p) => p.source === 'schedule').length;
    const before = await count();
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await count(), before, 'an inactive schedule starts nothing');

    const metrics = await (await fetch(`${tandem.url}/metrics`)).text();
    assert.match(metrics, /tandem_schedule_runs_total\{result="started"\} [1-9]/);
    assert.match(metrics, /tandem_schedule_runs_total\{result="deactivated"\} 1\b/);
    assert.ok(!tandem.logs().includes(SECRET), 'no variable value in the server log');
  });
});
