// Pipeline notifications end to end: a real server and agent on SQLite run the pipelines, the
// scheduler's transactions write the messages (the outbox topic's writer), and the server's outbox
// sends them to a real SMTP server (smtp-server) and real HTTP receivers, one of which verifies the
// signature and one of which fails first.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { NotificationJson } from '../../src/api/index.js';
import { readLogPages } from '../../src/scheduler/index.js';
import { createNotificationHandler, DeliveryDeferred, notificationMessages, type NotificationPayload } from '../../src/outbox/index.js';
import type { Database } from '../../src/store/index.js';
import { tandem as runCli } from '../cli/helpers.js';
import { until } from '../e2e/helpers.js';
import { HttpSink, type SinkRequest } from '../support/http-sink.js';
import { SmtpSink, type ReceivedMail } from '../support/smtp-sink.js';
import { jobNamed, TestTandem, type PipelineView } from '../support/tandem.js';

const smtp = new SmtpSink();
const sink = new HttpSink<Record<string, unknown>>();
let tandem: TestTandem;

before(async () => {
  await smtp.start();
  await sink.start();
  tandem = await TestTandem.start({
    agents: 1,
    concurrency: 2,
    settings: { smtp: { host: '127.0.0.1', port: smtp.port, from: 'Tandem <tandem@ci.example>' } },
  });
});
after(async () => {
  await tandem.close();
  await sink.stop();
  await smtp.stop();
});

const db = (): Kysely<Database> => tandem.server.ctx.store.db;

/** A pipeline whose `unit` job passes when the committed file `status` says ok. */
const files = (status: 'ok' | 'broken', extra = ''): Record<string, string> => ({
  status: `${status}\n`,
  '.gitlab-ci.yml': `
stages: [build, test]
build:
  stage: build
  script: [echo building]
unit:
  stage: test
  script:
    - echo "running the unit tests"
    - test "$(cat status)" = ok
${extra}`,
});

async function repoId(name: string): Promise<number> {
  return (await db().selectFrom('repos').select('id').where('name', '=', name).executeTakeFirstOrThrow()).id;
}

async function run(name: string, ref = 'main'): Promise<PipelineView> {
  return tandem.waitForPipeline(await tandem.trigger(name, { ref }), (p) => ['success', 'failed', 'canceled', 'manual'].includes(p.status));
}

interface Queued {
  id: number;
  key: string;
  repoId: number | null;
  status: string;
  attempts: number;
  lastError: string | null;
  payload: NotificationPayload;
}

/**
 * The notifications the scheduler's transaction wrote for a pipeline's status: they exist once the
 * status is visible, written in the same transaction.
 */
async function queued(p: PipelineView): Promise<Queued[]> {
  const rows = await db().selectFrom('outbox').selectAll().where('topic', '=', 'notification').orderBy('id').execute();
  return rows
    .map((r) => ({
      id: r.id,
      key: r.key,
      repoId: r.repo_id,
      status: r.status,
      attempts: r.attempts,
      lastError: r.last_error,
      payload: JSON.parse(r.payload) as NotificationPayload,
    }))
    .filter((r) => r.payload.pipelineId === p.id && (r.payload.event === 'manual') === (p.status === 'manual'));
}

const events = (rows: Queued[]) => rows.map((r) => [r.payload.subscriptionId, r.payload.event]);

/** Hands messages to a handler of the topic directly: what the outbox does, at a moment the test chooses. */
async function deliver(rows: Queued[]): Promise<string[]> {
  const ctx = tandem.server.ctx;
  const handler = createNotificationHandler({
    db: ctx.store.db,
    logPages: (jobId) => readLogPages(ctx.store, ctx.blobs, jobId),
    keyring: ctx.secrets.keyring,
    externalUrl: () => ctx.externalUrl,
    smtp: ctx.config.smtp,
    now: () => Date.now(),
  });
  const results: string[] = [];
  for (const r of rows) {
    const delivery = { id: r.id, topic: 'notification', key: r.key, repoId: r.repoId, payload: r.payload };
    results.push(await handler.deliver({ ...delivery, attempts: 2, uncertain: false, lastSentPayload: null }));
  }
  return results;
}

async function subscribe(repo: string, body: Record<string, unknown>): Promise<number> {
  const res = await tandem.api<{ id: number }>('POST', `/api/v1/repos/${repo}/notifications`, body);
  assert.equal(res.status, 201, res.text);
  return res.body.id;
}

function mailAbout(p: PipelineView, to: string): Promise<ReceivedMail> {
  return until(`the email to ${to} about pipeline ${p.id}`, () =>
    smtp.received.find((m) => m.to.includes(to) && m.headers.includes(`pipeline #${p.id} `)),
  );
}

function requestAbout(
  receiver: HttpSink<Record<string, unknown>>,
  path: string,
  p: PipelineView,
): Promise<SinkRequest<Record<string, unknown>>> {
  return until(`the request to ${path} about pipeline ${p.id}`, () =>
    receiver.requests.find((r) => r.path === path && JSON.stringify(r.body).includes(`/pipelines/${p.id}`)),
  );
}

// eslint-disable-next-line no-control-regex
const plain = (line: string) => line.replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '');

/** The 1-based number of the log line that starts with `prefix`, as the job page numbers them. */
async function lineOf(jobId: number, prefix: string): Promise<number> {
  const lines = (await tandem.log(jobId)).split('\n').map(plain);
  const index = lines.findIndex((l) => l.startsWith(prefix));
  assert.ok(index >= 0, `no line starting with ${prefix} in job ${jobId}'s log:\n${lines.join('\n')}`);
  return index + 1;
}

test('a failure email names the failed job and links to the line of the command that failed', async () => {
  const { name } = await tandem.repo(files('broken'), { name: 'mail-shop' });
  const id = await subscribe(name, { type: 'email', target: 'team@ci.example, lead@ci.example', events: ['failed'] });
  const p = await run(name);
  assert.equal(p.status, 'failed');
  const rows = await queued(p);
  assert.deepEqual(events(rows), [[id, 'failed']]);
  assert.deepEqual(rows[0].key, `notify:${id}`);

  const mail = await mailAbout(p, 'team@ci.example');
  assert.deepEqual(mail.to, ['team@ci.example', 'lead@ci.example']);
  assert.match(
    mail.headers,
    new RegExp(`^Subject: \\[Tandem\\] mail-shop: pipeline #${p.id} failed on main \\(${p.sha.slice(0, 8)}\\)$`, 'm'),
  );
  assert.match(mail.headers, /^X-Tandem-Event: failed$/m);
  const unit = jobNamed(p, 'unit');
  const line = await lineOf(unit.id, '$ test "$(cat status)" = ok');
  assert.match(mail.body, /^ {2}- unit \(stage test\): script_failure$/m);
  assert.match(mail.body, new RegExp(`^ {4}line ${line}: \\$ test "\\$\\(cat status\\)" = ok$`, 'm'));
  assert.ok(mail.body.includes(`    ${tandem.url}/jobs/${unit.id}#L${line}\n`), mail.body);
  assert.ok(mail.body.includes(`Pipeline: ${tandem.url}/pipelines/${p.id}\n`), mail.body);
  assert.doesNotMatch(mail.body, /build \(stage build\)/, 'only failed jobs are listed');
  const row = await until('the message marked sent', async () => (await queued(p)).find((r) => r.status === 'sent'));
  assert.equal(row.attempts, 1);
});

test('a pipeline file that does not compile: the failure email quotes the error', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'unit:\n  script: [echo hi]\n  needs: [missing]\n' }, { name: 'broken-file' });
  await subscribe(name, { type: 'email', target: 'team@ci.example', events: ['failed'] });
  const p = await run(name);
  assert.equal(p.status, 'failed');
  const mail = await mailAbout(p, 'team@ci.example');
  assert.match(mail.body, /^The pipeline file has an error:\n {2}.*\.gitlab-ci\.yml:\d+:\d+.*missing/m);
  assert.doesNotMatch(mail.body, /Failed jobs:/);
});

test('fixed: the first success after a failure of the same ref, not a success after a success', async () => {
  const { name, remote } = await tandem.repo(files('broken'), { name: 'fixing' });
  const onlyFixed = await subscribe(name, { type: 'email', target: 'fixed@ci.example', events: ['fixed'] });
  const onlySuccess = await subscribe(name, { type: 'email', target: 'success@ci.example', events: ['success'] });
  const both = await subscribe(name, { type: 'email', target: 'both@ci.example', events: ['fixed', 'success', 'failed'] });

  const failed = await run(name);
  assert.equal(failed.status, 'failed');
  assert.deepEqual(events(await queued(failed)), [[both, 'failed']]);

  await remote.commit({ status: 'ok\n' }, 'fix the tests');
  await remote.push('main');
  const fixed = await run(name);
  assert.equal(fixed.status, 'success');
  assert.deepEqual(events(await queued(fixed)), [
    [onlyFixed, 'fixed'],
    [onlySuccess, 'success'],
    [both, 'fixed'],
  ]);
  assert.match(
    (await mailAbout(fixed, 'fixed@ci.example')).headers,
    new RegExp(`^Subject: .*pipeline #${fixed.id} was fixed on main`, 'm'),
  );

  const again = await run(name);
  assert.equal(again.status, 'success');
  assert.deepEqual(events(await queued(again)), [
    [onlySuccess, 'success'],
    [both, 'success'],
  ]);

  // Another ref's failure does not make this ref's next success a fix.
  await remote.commit({ status: 'broken\n' }, 'break a branch');
  await remote.push('main:feature');
  assert.equal((await run(name, 'feature')).status, 'failed');
  assert.deepEqual(events(await queued(await run(name))), [
    [onlySuccess, 'success'],
    [both, 'success'],
  ]);
});

test('the writer asks nothing for changes nobody is told of, and once when nobody subscribes', async () => {
  const { name } = await tandem.repo(files('ok'), { name: 'quiet' });
  const p = await run(name);
  let queries = 0;
  const counted = db().withPlugin({
    transformQuery: (args) => {
      queries++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  });
  const rid = await repoId(name);
  const jobChange = {
    type: 'job' as const,
    id: 1,
    pipelineId: p.id,
    repoId: rid,
    name: 'unit',
    status: 'running' as const,
    trigger: false,
  };
  const running = { type: 'pipeline' as const, id: p.id, pipelineId: p.id, repoId: rid, status: 'running' as const };
  assert.deepEqual(await notificationMessages(counted, [jobChange, running], Date.now()), []);
  assert.equal(queries, 0, 'no pipeline reached a notified status');
  assert.deepEqual(await notificationMessages(counted, [{ ...running, status: 'success' }], Date.now()), []);
  assert.equal(queries, 1, 'one query finds no subscription, and the previous pipeline is not looked for');
  await subscribe(name, { type: 'email', target: 'ops@ci.example', events: ['success'] });
  queries = 0;
  assert.equal((await notificationMessages(counted, [{ ...running, status: 'success' }], Date.now())).length, 1);
  assert.equal(queries, 1, 'nobody wants "fixed": the previous pipeline is not looked for');
});

test('manual: a pipeline blocked on a manual job tells who waits for it which job to play', async () => {
  const { name } = await tandem.repo(
    files('ok', `deploy:\n  stage: test\n  needs: [build]\n  when: manual\n  allow_failure: false\n  script: [echo deploy]\n`),
    { name: 'gated' },
  );
  const id = await subscribe(name, { type: 'webhook', target: `${sink.url}/manual`, events: ['manual'] });
  const p = await tandem.waitForPipeline(
    await tandem.trigger(name),
    (x) => x.status === 'manual' && jobNamed(x, 'unit').status === 'success',
  );
  assert.deepEqual(events(await queued(p)), [[id, 'manual']]);
  const body = (await requestAbout(sink, '/manual', p)).body as {
    event: string;
    status: string;
    manualJobs: { name: string; stage: string; url: string }[];
    failedJobs: unknown[];
  };
  assert.equal(body.event, 'manual');
  assert.equal(body.status, 'manual');
  const deploy = jobNamed(p, 'deploy');
  assert.deepEqual(
    body.manualJobs.map((j) => [j.name, j.stage, j.url]),
    [['deploy', 'test', `${tandem.url}/jobs/${deploy.id}`]],
  );
  assert.deepEqual(body.failedJobs, []);
});

describe('webhooks of a failed pipeline', () => {
  const secret = 'a-webhook-secret-of-32-characters';
  /** Answers 500 to the first request: the outbox must send it again. */
  const flaky = new HttpSink<Record<string, unknown>>();
  const subs: Record<string, number> = {};
  let failed: PipelineView;
  let name: string;
  let startedAt: number;
  before(async () => {
    await flaky.start();
    flaky.failFirst = 1;
    ({ name } = await tandem.repo(files('broken'), { name: 'hooks' }));
    subs.signed = await subscribe(name, { type: 'webhook', target: `${sink.url}/signed`, events: ['failed'], secret });
    subs.slack = await subscribe(name, { type: 'slack', target: `${sink.url}/services/T0/B0/XXXX`, events: ['failed'] });
    subs.teams = await subscribe(name, { type: 'teams', target: `${sink.url}/webhookb2/teams`, events: ['failed'] });
    subs.flaky = await subscribe(name, { type: 'webhook', target: `${flaky.url}/flaky`, events: ['failed'] });
    subs.gone = await subscribe(name, { type: 'slack', target: `${tandem.url}/no-such-hook`, events: ['failed'] });
    startedAt = Math.floor(Date.now() / 1000);
    failed = await run(name);
    assert.equal(failed.status, 'failed');
  });
  after(() => flaky.stop());

  test('a signed webhook: the receiver verifies the HMAC of the raw body and its timestamp', async () => {
    const listed = await tandem.api<NotificationJson[]>('GET', `/api/v1/repos/${name}/notifications`);
    assert.equal(listed.body.find((n) => n.id === subs.signed)!.signed, true);
    assert.ok(!listed.text.includes(secret), 'the secret is never shown');
    const row = await db()
      .selectFrom('notification_subscriptions')
      .select(['secret', 'secret_key_id'])
      .where('id', '=', subs.signed)
      .executeTakeFirstOrThrow();
    assert.ok(row.secret !== null && !row.secret.includes(secret) && row.secret_key_id !== null, 'sealed at rest');

    const req = await requestAbout(sink, '/signed', failed);
    // What a receiver does (docs/operations.md): HMAC-SHA256 of the raw body, compared in constant time.
    const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(req.raw).digest('hex')}`);
    const given = Buffer.from(String(req.headers['x-tandem-signature']));
    assert.ok(given.length === expected.length && timingSafeEqual(given, expected), 'the signature verifies');
    const forged = Buffer.from(`sha256=${createHmac('sha256', 'another secret').update(req.raw).digest('hex')}`);
    assert.ok(!timingSafeEqual(given, forged));
    const timestamp = Number(req.headers['x-tandem-timestamp']);
    const body = req.body;
    assert.equal(body.timestamp, timestamp, 'the signed body carries the timestamp header, so it cannot be replayed with a new one');
    assert.ok(timestamp >= startedAt && timestamp <= Math.floor(Date.now() / 1000) + 1);
    assert.equal(req.headers['x-tandem-event'], 'failed');
    assert.equal(String(body.deliveryId), req.headers['x-tandem-delivery']);
    const unit = jobNamed(failed, 'unit');
    const line = await lineOf(unit.id, '$ test "$(cat status)" = ok');
    assert.deepEqual({ event: body.event, status: body.status }, { event: 'failed', status: 'failed' });
    const pipeline = body.pipeline as Record<string, unknown>;
    assert.deepEqual(
      [pipeline.id, pipeline.repository, pipeline.ref, pipeline.sha, pipeline.url, pipeline.status],
      [failed.id, 'hooks', 'main', failed.sha, `${tandem.url}/pipelines/${failed.id}`, 'failed'],
    );
    assert.deepEqual(body.failedJobs, [
      {
        id: unit.id,
        name: 'unit',
        stage: 'test',
        failureReason: 'script_failure',
        allowFailure: false,
        url: `${tandem.url}/jobs/${unit.id}`,
        logLine: { number: line, text: '$ test "$(cat status)" = ok', url: `${tandem.url}/jobs/${unit.id}#L${line}` },
      },
    ]);
  });

  test('Slack gets a linked text line and an attachment; Teams an Adaptive Card in a message', async () => {
    const unit = jobNamed(failed, 'unit');
    const line = await lineOf(unit.id, '$ test "$(cat status)" = ok');
    const title = `hooks: pipeline #${failed.id} failed on main (${failed.sha.slice(0, 8)})`;

    const s = (await requestAbout(sink, '/services/T0/B0/XXXX', failed)).body as {
      text: string;
      attachments: { color: string; title: string; title_link: string; text: string; fields: { title: string; value: string }[] }[];
    };
    assert.equal(s.text, `<${tandem.url}/pipelines/${failed.id}|${title}>`);
    assert.equal(s.attachments.length, 1);
    assert.equal(s.attachments[0].color, '#d40e0d');
    assert.equal(s.attachments[0].title_link, `${tandem.url}/pipelines/${failed.id}`);
    assert.equal(
      s.attachments[0].text,
      `• <${tandem.url}/jobs/${unit.id}#L${line}|unit> (stage test): script_failure\n    \`$ test "$(cat status)" = ok\``,
    );
    assert.deepEqual(
      s.attachments[0].fields.map((f) => f.title),
      ['Repository', 'Ref', 'Commit'],
    );

    const t = (await requestAbout(sink, '/webhookb2/teams', failed)).body as {
      type: string;
      attachments: { contentType: string; contentUrl: null; content: Record<string, unknown> }[];
    };
    assert.equal(t.type, 'message');
    assert.equal(t.attachments.length, 1);
    assert.equal(t.attachments[0].contentType, 'application/vnd.microsoft.card.adaptive');
    assert.equal(t.attachments[0].contentUrl, null);
    const card = t.attachments[0].content as {
      type: string;
      version: string;
      body: Record<string, unknown>[];
      actions: Record<string, unknown>[];
    };
    assert.equal(card.type, 'AdaptiveCard');
    assert.equal(card.version, '1.2');
    assert.deepEqual(card.body[0], { type: 'TextBlock', size: 'Medium', weight: 'Bolder', wrap: true, color: 'Attention', text: title });
    assert.equal(card.body[1].type, 'FactSet');
    assert.deepEqual(card.body[2], {
      type: 'TextBlock',
      wrap: true,
      text: `[unit](${tandem.url}/jobs/${unit.id}#L${line}) (stage test): script_failure — \`$ test "$(cat status)" = ok\``,
    });
    assert.deepEqual(card.actions, [{ type: 'Action.OpenUrl', title: 'Open the pipeline', url: `${tandem.url}/pipelines/${failed.id}` }]);
  });

  test('a receiver answering 500 then 200 gets the message once more; a 404 gives it up; a deleted subscription drops it', async () => {
    await requestAbout(flaky, '/flaky', failed);
    const mine = (rows: Queued[]) => rows.filter((r) => r.payload.subscriptionId === subs.flaky);
    const sent = await until('the retried message marked sent', async () => mine(await queued(failed)).find((r) => r.status === 'sent'));
    assert.equal(sent.attempts, 2, 'the first attempt got a 500');
    assert.equal(flaky.requests.length, 1, 'delivered, and only once it was taken');

    const gone = await until('the message to a missing webhook given up', async () =>
      (await queued(failed)).find((r) => r.payload.subscriptionId === subs.gone && r.status === 'failed'),
    );
    assert.equal(gone.attempts, 1, 'a 404 is not retried');
    assert.match(gone.lastError ?? '', /answered 404/);

    // The list says what became of each subscription's newest message.
    const listed = (await tandem.api<NotificationJson[]>('GET', `/api/v1/repos/${name}/notifications`)).body;
    const last = (id: number) => listed.find((n) => n.id === id)!.lastDelivery;
    assert.deepEqual([last(subs.flaky)?.status, last(subs.flaky)?.result], ['sent', 'sent']);
    assert.equal(last(subs.gone)?.status, 'failed');
    assert.match(last(subs.gone)?.error ?? '', /answered 404/);

    assert.equal((await tandem.api('DELETE', `/api/v1/notifications/${subs.flaky}`)).status, 204);
    assert.deepEqual(await deliver(mine(await queued(failed))), ['dropped: the subscription was deleted']);
  });
});

test('a 429 defers the message to its Retry-After; Teams throttling in a 200 defers it; a redirect gives it up', async () => {
  const limited = await new HttpSink<Record<string, unknown>>().start();
  const moved = await new HttpSink<Record<string, unknown>>().start();
  const teams = await new HttpSink<Record<string, unknown>>().start();
  try {
    limited.scripted.push({ status: 429, headers: { 'retry-after': '1' }, body: 'slow down' });
    moved.scripted.push({ status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data/' } });
    const { name } = await tandem.repo(files('broken'), { name: 'moody' });
    const later = await subscribe(name, { type: 'webhook', target: `${limited.url}/limited`, events: ['failed'] });
    const gone = await subscribe(name, { type: 'webhook', target: `${moved.url}/moved`, events: ['failed'] });
    const p = await run(name);

    const req = await requestAbout(limited, '/limited', p);
    assert.ok(req.at - Date.parse(p.finishedAt!) >= 900, `sent again after Retry-After: ${req.at - Date.parse(p.finishedAt!)} ms`);
    assert.equal(limited.requests.length, 1);
    await until('the deferred message marked sent', async () =>
      (await queued(p)).find((r) => r.payload.subscriptionId === later && r.status === 'sent'),
    );

    const redirected = await until('the redirected message given up', async () =>
      (await queued(p)).find((r) => r.payload.subscriptionId === gone && r.status === 'failed'),
    );
    assert.equal(redirected.attempts, 1);
    assert.match(redirected.lastError ?? '', /answered 302.*redirects are not followed/);
    assert.equal(moved.requests.length, 0);

    // Teams' connectors say "429" in a 200: the handler defers (a minute, as no Retry-After comes).
    teams.scripted.push({ status: 200, body: 'Microsoft Teams endpoint returned HTTP error 429 to the webhook.' });
    const card = await subscribe(name, { type: 'teams', target: `${teams.url}/webhookb2/x`, events: ['failed'] });
    const message: Queued = {
      id: 999_001,
      key: `notify:${card}`,
      repoId: await repoId(name),
      status: 'pending',
      attempts: 1,
      lastError: null,
      payload: { subscriptionId: card, pipelineId: p.id, event: 'failed' },
    };
    const before = Date.now();
    await assert.rejects(deliver([message]), (err: Error) => err instanceof DeliveryDeferred && err.retryAt >= before + 59_000);
    assert.deepEqual(await deliver([message]), ['sent']);
    assert.equal(teams.requests.length, 1);
  } finally {
    await Promise.all([limited.stop(), moved.stop(), teams.stop()]);
  }
});

test("a user's subscription covers only the repositories the user can read", async () => {
  const { name: readable } = await tandem.repo(files('broken'), { name: 'readable' });
  const { name: hidden } = await tandem.repo(files('broken'), { name: 'hidden' });
  const user = await tandem.api('POST', '/api/v1/users', { username: 'dev', password: 'a-long-password-1', email: 'dev@ci.example' });
  assert.equal(user.status, 201, user.text);
  assert.equal((await tandem.api('PUT', `/api/v1/repos/${readable}/members/dev`, { role: 'developer' })).status, 200);
  const token = await tandem.api<{ token: string }>('POST', '/api/v1/tokens', { name: 'dev', username: 'dev' });
  assert.equal(token.status, 201, token.text);
  const asDev = { authorization: `Bearer ${token.body.token}` };

  const refused = await tandem.api('POST', '/api/v1/user/notifications', { events: ['failed'], repo: hidden }, asDev);
  assert.equal(refused.status, 404, 'an unreadable repository looks missing');
  const other = await tandem.api('POST', '/api/v1/user/notifications', { events: ['failed'], target: 'boss@ci.example' }, asDev);
  assert.equal(other.status, 403, "a user's email goes to their own address");
  const inside = await tandem.api(
    'POST',
    '/api/v1/user/notifications',
    { type: 'webhook', target: `${sink.url}/x`, events: ['failed'] },
    asDev,
  );
  assert.equal(inside.status, 403, 'a loopback URL is for instance admins only');
  assert.match(inside.text, /inside the server's network/);
  const created = await tandem.api<{ id: number }>('POST', '/api/v1/user/notifications', { events: ['failed'] }, asDev);
  assert.equal(created.status, 201, created.text);
  const mine = await tandem.api<NotificationJson[]>('GET', '/api/v1/user/notifications', undefined, asDev);
  assert.deepEqual(
    mine.body.map((n) => [n.id, n.repo, n.user, n.type, n.target, n.events]),
    [[created.body.id, null, 'dev', 'email', 'dev@ci.example', ['failed']]],
  );
  // A repository's list is its maintainers' to read; a developer is refused.
  assert.equal((await tandem.api('GET', `/api/v1/repos/${readable}/notifications`, undefined, asDev)).status, 403);

  const inReadable = await run(readable);
  const inHidden = await run(hidden);
  assert.deepEqual(events(await queued(inReadable)), [[created.body.id, 'failed']]);
  assert.deepEqual(events(await queued(inHidden)), []);
  assert.deepEqual((await mailAbout(inReadable, 'dev@ci.example')).to, ['dev@ci.example']);

  // Losing access stops the messages, and one written before is dropped when it would be sent.
  assert.equal((await tandem.api('DELETE', `/api/v1/repos/${readable}/members/dev`)).status, 204);
  const after = await run(readable);
  assert.deepEqual(events(await queued(after)), []);
  assert.deepEqual(await deliver(await queued(inReadable)), ['dropped: the user can no longer read the repository']);

  // Another user's subscription cannot be deleted by this one.
  const adminSub = await subscribe(readable, { type: 'email', target: 'ops@ci.example', events: ['failed'] });
  assert.equal((await tandem.api('DELETE', `/api/v1/notifications/${adminSub}`, undefined, asDev)).status, 403);
  assert.equal((await tandem.api('DELETE', `/api/v1/notifications/${created.body.id}`, undefined, asDev)).status, 204);
});

test('bad subscriptions are refused naming the field, and every change is audited', async () => {
  const { name } = await tandem.repo(files('ok'), { name: 'checked' });
  const cases: [Record<string, unknown>, number, RegExp][] = [
    [{ type: 'slack', target: 'ftp://hooks.example/x', events: ['failed'] }, 422, /target: expected an http:\/\/ or https:\/\/ URL/],
    [{ type: 'email', target: 'not-an-address', events: ['failed'] }, 422, /target: "not-an-address" is not an email address/],
    [{ type: 'email', target: 'a@ci.example', events: [] }, 422, /events/],
    [{ type: 'email', target: 'a@ci.example', events: ['exploded'] }, 422, /events/],
    [
      { type: 'slack', target: 'https://hooks.example/x', events: ['failed'], secret: 'a-secret-of-16-chars' },
      422,
      /secret: only a webhook/,
    ],
    [{ type: 'pager', target: 'https://hooks.example/x', events: ['failed'] }, 422, /type/],
  ];
  for (const [body, status, message] of cases) {
    const res = await tandem.api('POST', `/api/v1/repos/${name}/notifications`, body);
    assert.equal(res.status, status, `${JSON.stringify(body)}: ${res.text}`);
    const refusal = res.body as { message: string; details?: unknown };
    assert.match(`${refusal.message} ${JSON.stringify(refusal.details ?? null)}`, message);
  }
  const id = await subscribe(name, {
    type: 'webhook',
    target: 'https://hooks.example/path-secret',
    events: ['failed'],
    secret: 'a-secret-of-16-chars',
  });
  const audit = await tandem.api<{ action: string; details: Record<string, unknown> }[]>('GET', '/api/v1/audit?limit=5');
  const entry = audit.body.find((e) => e.action === 'notification.create' && e.details.notificationId === id);
  assert.ok(entry, audit.text);
  assert.equal(entry.details.target, 'https://hooks.example', 'the audit log keeps the origin, not a path that may be a secret');
  assert.ok(!audit.text.includes('a-secret-of-16-chars'));
});

test('tandem notification add|list|rm, with --json on list', async () => {
  const { name } = await tandem.repo(files('ok'), { name: 'by-cli' });
  const env = { TANDEM_SERVER: tandem.url, TANDEM_TOKEN: tandem.token };
  const secretFile = path.join(tandem.dataDir, 'hook.secret');
  await writeFile(secretFile, 'a-secret-from-a-file-0123456789\n', { mode: 0o600 });
  const added = await runCli(
    [
      'notification',
      'add',
      name,
      '--type',
      'webhook',
      '--target',
      'https://203.0.113.10/ci',
      '--events',
      'failed,fixed',
      '--secret-file',
      secretFile,
    ],
    { env },
  );
  assert.equal(added.code, 0, added.stderr);
  const id = Number(/^Notification #(\d+): failed, fixed of by-cli to https:\/\/203\.0\.113\.10\/ci$/m.exec(added.stdout)?.[1]);
  assert.ok(id > 0, added.stdout);

  const listed = await runCli(['notification', 'list', name, '--json'], { env });
  assert.equal(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout) as NotificationJson[];
  assert.deepEqual(
    rows.map((n) => [n.id, n.repo, n.type, n.target, n.events, n.signed]),
    [[id, 'by-cli', 'webhook', 'https://203.0.113.10/ci', ['failed', 'fixed'], true]],
  );
  assert.ok(!listed.stdout.includes('a-secret-from-a-file'));
  const table = await runCli(['notification', 'list', name], { env });
  assert.match(table.stdout, /webhook\s+https:\/\/203\.0\.113\.10\/ci\s+failed,fixed\s+yes/);

  const mine = await runCli(['notification', 'add', '--mine', '--events', 'failed'], { env });
  assert.equal(mine.code, 1, 'the admin has no email address');
  assert.match(mine.stderr, /target: your account has no email address/);

  const removed = await runCli(['notification', 'rm', String(id)], { env });
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(removed.stdout.trim(), `Removed notification #${id}`);
  assert.deepEqual(JSON.parse((await runCli(['notification', 'list', name, '--json'], { env })).stdout), []);
});
