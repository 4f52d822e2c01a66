// Alerting end to end on a real server with real agent processes: SIGKILLed agents fail their
// jobs with runner_system_failure, the burst of failed pipelines burns the pipeline-system-errors
// budget, and the leader's evaluation fires the page alert. Silenced, nobody is told; unsilenced,
// the webhook receives the firing message exactly once and, once the burn is over, the resolved
// one. The windows are the workbook's divided by sloWindowScale (600: 30m lasts 3 s).
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { AlertView } from '../../src/api/index.js';
import { tandem as runCli } from '../cli/helpers.js';
import { until } from '../e2e/helpers.js';
import { agentKillBurst, burstPipeline, stopGroups } from '../support/agent-burst.js';
import { HttpSink } from '../support/http-sink.js';
import { TestTandem } from '../support/tandem.js';

const SCALE = 600;

interface Message {
  version: string;
  notificationId: number;
  status: 'firing' | 'resolved';
  title: string;
  link: string;
  alert: AlertView;
}

let tandem: TestTandem;
const sink = new HttpSink<Message>();
let repo = '';
let pidDir = '';
const orphanGroups: number[] = [];
let bursts = 0;

const cli = (args: string[]) => runCli([...args, '--server', tandem.url, '--token', tandem.token]);
const isPage = (a: AlertView) => a.name === 'TandemErrorBudgetBurn' && a.labels.slo === 'pipeline-system-errors' && a.severity === 'page';

before(async () => {
  await sink.start();
  tandem = await TestTandem.start({
    agents: 0,
    settings: {
      sloWindowScale: SCALE,
      maxSystemAttempts: 1,
      agentDisconnectGraceSeconds: 1,
      alerting: {
        evaluationIntervalSeconds: 0.25,
        notifiers: [{ type: 'webhook', name: 'oncall', url: `${sink.url}/oncall` }],
        routes: { page: ['oncall'], ticket: [], info: [] },
      },
    },
  });
  pidDir = path.join(tandem.dataDir, 'pids');
  await mkdir(pidDir);
  ({ name: repo } = await tandem.repo({ '.gitlab-ci.yml': burstPipeline(pidDir) }));
});

after(async () => {
  stopGroups(orphanGroups);
  await tandem.close();
  await sink.stop();
});

/** A burst of `jobs` system failures; resolves when their pipelines failed. */
async function burst(jobs: number): Promise<number> {
  const { killedAt, pipelineIds, jobGroups } = await agentKillBurst(tandem, repo, pidDir, jobs, `doomed-${++bursts}`);
  orphanGroups.push(...jobGroups);
  for (const id of pipelineIds) {
    const p = await tandem.waitForPipeline(id, undefined, 15_000);
    assert.deepEqual([p.status, p.jobs[0].failureReason], ['failed', 'runner_system_failure']);
  }
  return killedAt;
}

const pageAlerts = async () => (await tandem.api<AlertView[]>('GET', '/api/v1/alerts?state=all')).body.filter(isPage);

test('a silenced burst fires the page alert and tells nobody', { timeout: 40_000 }, async () => {
  const added = await cli([
    'silence',
    'add',
    'slo=pipeline-system-errors',
    'severity=page',
    '--duration',
    '1h',
    '--comment',
    'drill: agents killed on purpose',
    '--json',
  ]);
  assert.equal(added.code, 0, added.stderr);
  const silence = JSON.parse(added.stdout) as { id: number; state: string; createdBy: string; match: string[] };
  assert.deepEqual([silence.state, silence.match], ['active', ['slo=pipeline-system-errors', 'severity=page']]);
  assert.equal(silence.createdBy, 'admin', 'the silence names the user who made it');

  await burst(2);
  const fired = await until('the silenced page alert firing', async () => (await pageAlerts()).find((a) => a.state === 'firing'), 10_000);
  assert.equal(fired.silencedBy, silence.id);
  const listed = await cli(['alerts', 'list']);
  assert.match(
    listed.stdout,
    new RegExp(`\\n${fired.id}\\s+firing \\(silenced by #${silence.id}\\)\\s+page\\s+TandemErrorBudgetBurn\\s+slo=pipeline-system-errors`),
  );
  await until(
    'the silenced alert resolved',
    async () => ((await pageAlerts()).find((a) => a.id === fired.id)?.state === 'resolved' ? true : undefined),
    15_000,
  );
  assert.equal(sink.requests.length, 0, JSON.stringify(sink.bodies));

  const removed = await cli(['silence', 'rm', String(silence.id)]);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, new RegExp(`Silence #${silence.id} expired at `));
  assert.equal((await tandem.api<unknown[]>('GET', '/api/v1/silences')).body.length, 0);
});

test('a burst of SIGKILLed agents pages once through the webhook, and the recovery resolves it once', { timeout: 40_000 }, async (t) => {
  const killedAt = await burst(3);
  const firing = await until('the firing message', () => sink.requests.find((r) => r.body.status === 'firing'), 10_000);
  t.diagnostic(`detection delay (agents killed to the webhook's firing message): ${firing.at - killedAt} ms`);
  const message = firing.body;
  assert.ok(isPage(message.alert), JSON.stringify(message.alert));
  assert.equal(message.version, '1');
  assert.equal(firing.path, '/oncall');
  assert.equal(firing.headers['idempotency-key'], `tandem-notification-${message.notificationId}`);
  assert.equal(message.title, '[FIRING:page] TandemErrorBudgetBurn (slo=pipeline-system-errors)');
  assert.equal(message.alert.annotations.runbook_url, 'docs/slo.md#pipeline-system-errors');
  assert.equal(message.link, `${tandem.url}/api/v1/alerts/${message.alert.id}`);

  // Recovery: a healthy agent builds again; the burn stops and the alert resolves.
  await tandem.addAgent();
  const { name: healthy } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [echo ok]\n' });
  assert.equal((await tandem.waitForPipeline(await tandem.trigger(healthy))).status, 'success');
  await until('the resolved message', () => sink.requests.find((r) => r.body.status === 'resolved'), 15_000);
  // A few more evaluations: still nothing twice.
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(
    sink.bodies.map((b) => [b.status, b.alert.id]),
    [
      ['firing', message.alert.id],
      ['resolved', message.alert.id],
    ],
  );
  const detail = await tandem.api<AlertView & { notifications: { notifier: string; event: string; status: string; attempts: number }[] }>(
    'GET',
    `/api/v1/alerts/${message.alert.id}`,
  );
  assert.equal(detail.body.state, 'resolved');
  assert.deepEqual(
    detail.body.notifications.map((n) => [n.notifier, n.event, n.status, n.attempts]),
    [
      ['oncall', 'firing', 'sent', 1],
      ['oncall', 'resolved', 'sent', 1],
    ],
  );
  const listed = await cli(['alerts', 'list', '--state', 'resolved', '--json']);
  assert.ok((JSON.parse(listed.stdout) as AlertView[]).some((a) => a.id === message.alert.id));
});
