// Commit statuses through a real server and agent, sent to a contract server standing in for GitHub
// (every request checked against GitHub's OpenAPI description): a status per pipeline state and per
// job, never the same state twice, rapid changes collapsed, rate limits and 5xx retried by the
// outbox, Checks runs with a GitHub App, and the repository's settings and delivery summary.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RepoJson } from '../../src/api/index.js';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { GitHubContractServer } from './github-contract.js';
import { until } from './until.js';

let tandem: TestTandem;
let gh: GitHubContractServer;
before(async () => {
  [tandem, gh] = await Promise.all([TestTandem.start({ agents: 1, concurrency: 2 }), GitHubContractServer.start()]);
});
after(async () => {
  await tandem.close();
  await gh.close();
});

const PASSING = { '.gitlab-ci.yml': 'build:\n  script: [echo built]\ntest:\n  script: [sleep 0.3, echo tested]\n' };

/** A repository reporting to the contract server. */
async function forgeRepo(files: Record<string, string>, forge: Record<string, unknown> = {}, server = gh) {
  const repo = await tandem.repo(files);
  const res = await tandem.api<RepoJson>('PATCH', `/api/v1/repos/${repo.name}`, {
    forge: { type: 'github', apiUrl: server.url, project: 'octo/app', token: server.token, ...forge },
  });
  assert.equal(res.status, 200, res.text);
  return repo;
}

/** No state follows an identical one (a state never posted twice in a row). */
function assertNoRepeats(states: string[]): void {
  states.forEach((s, i) => assert.notEqual(s, states[i - 1], `posted twice in a row: ${states.join(' → ')}`));
}

test('a pipeline sets its commit status on GitHub: pending or running, then passed, linked to its page', async () => {
  const { name, sha } = await forgeRepo(PASSING);
  const id = await tandem.trigger(name);
  const p = await tandem.waitForPipeline(id);
  assert.equal(p.status, 'success');
  await until('the final status', () => gh.statesOf(sha, 'tandem/pipeline').at(-1) === `success:Pipeline #${id} passed`);
  const states = gh.statesOf(sha, 'tandem/pipeline');
  assertNoRepeats(states);
  assert.ok(states.length >= 2, `a pending or running state before the end: ${states.join(' → ')}`);
  assert.ok(
    states.slice(0, -1).every((s) => s.startsWith('pending:')),
    states.join(' → '),
  );
  const last = gh.received.filter((s) => s.sha === sha).at(-1)!;
  assert.equal(last.targetUrl, `${tandem.url}/pipelines/${id}`);
  assert.equal(gh.statesOf(sha, 'tandem/pipeline/build').length, 0, 'no job statuses unless asked for');

  // The forge has the status a moment before the outbox records it as sent.
  const view = await until('the delivery recorded', async () => {
    const v = await tandem.api<RepoJson>('GET', `/api/v1/repos/${name}`);
    return v.body.forge?.delivery?.pending === 0 && v;
  });
  assert.deepEqual(
    { ...view.body.forge, delivery: undefined },
    {
      type: 'github',
      apiUrl: gh.url,
      project: 'octo/app',
      statuses: 'pipeline',
      hasToken: true,
      appId: null,
      installationId: null,
      delivery: undefined,
    },
  );
  assert.ok(view.body.forge?.delivery?.lastSentAt, 'the last delivery is shown');
  assert.ok(!view.text.includes(gh.token), 'the token is write-only');
  const metrics = (await tandem.api('GET', '/metrics')).text;
  assert.match(metrics, /tandem_forge_status_deliveries_total\{forge="github",result="sent"\} [1-9]/);
  assert.deepEqual(gh.violations, []);
});

test('statuses: jobs adds a status per job; a failed job fails its job status and the pipeline', async () => {
  const { name, sha } = await forgeRepo(
    { '.gitlab-ci.yml': 'build:\n  script: [echo built]\ntest:\n  needs: [build]\n  script: [exit 3]\n' },
    { statuses: 'jobs' },
  );
  const id = await tandem.trigger(name);
  const p = await tandem.waitForPipeline(id);
  assert.equal(p.status, 'failed');
  await until(
    'every final status',
    () =>
      gh.statesOf(sha, 'tandem/pipeline').at(-1)?.startsWith('failure:') &&
      gh.statesOf(sha, 'tandem/pipeline/test').at(-1)?.startsWith('failure:'),
  );
  await until('build passed', () => gh.statesOf(sha, 'tandem/pipeline/build').at(-1) === 'success:build passed');
  for (const context of ['tandem/pipeline', 'tandem/pipeline/build', 'tandem/pipeline/test']) assertNoRepeats(gh.statesOf(sha, context));
  assert.equal(gh.statesOf(sha, 'tandem/pipeline/test').at(-1), 'failure:test failed');
  const testStatus = gh.received.filter((s) => s.context === 'tandem/pipeline/test').at(-1)!;
  assert.equal(testStatus.targetUrl, `${tandem.url}/jobs/${jobNamed(p, 'test').id}`);
  assert.deepEqual(gh.violations, []);
});

test('a forge that answers 5xx: the outbox retries, older states are superseded, nothing is posted twice', async () => {
  const { name, sha } = await forgeRepo(PASSING);
  // Each attempt is the request and octokit's one quick retry: 8 failures are about 4 attempts.
  gh.fault({ kind: 'error', count: 8, status: 502 });
  const id = await tandem.trigger(name);
  assert.equal((await tandem.waitForPipeline(id)).status, 'success');
  await until('the final status', () => gh.statesOf(sha, 'tandem/pipeline').at(-1) === `success:Pipeline #${id} passed`, 40_000);
  const states = gh.statesOf(sha, 'tandem/pipeline');
  assertNoRepeats(states);
  assert.deepEqual(states, [`success:Pipeline #${id} passed`], 'the states the outage held back collapsed into the newest');
  const view = await tandem.api<RepoJson>('GET', `/api/v1/repos/${name}`);
  assert.match(view.body.forge?.delivery?.lastError ?? '', /502/, 'the summary shows the last error');
  const rows = await tandem.server.ctx.store.db
    .selectFrom('outbox')
    .select(['status', 'result'])
    .where('key', 'like', `forge:%:${sha}:%`)
    .execute();
  assert.ok(
    rows.some((r) => r.status === 'superseded'),
    JSON.stringify(rows),
  );
  assert.deepEqual(gh.violations, []);
});

test('a secondary rate limit is waited out (Retry-After) before the status is sent again', async () => {
  const { name, sha } = await forgeRepo(PASSING);
  gh.fault({ kind: 'secondary', count: 1, seconds: 2 });
  const id = await tandem.trigger(name);
  await tandem.waitForPipeline(id);
  await until('the final status', () => gh.statesOf(sha, 'tandem/pipeline').at(-1) === `success:Pipeline #${id} passed`, 30_000);
  const limited = gh.requests.find((r) => r.path.includes(sha))!;
  const next = gh.received.find((s) => s.sha === sha)!;
  assert.ok(next.at - limited.at >= 1900, `the next status came ${next.at - limited.at} ms after the limit (Retry-After: 2)`);
  assertNoRepeats(gh.statesOf(sha, 'tandem/pipeline'));
  const metrics = (await tandem.api('GET', '/metrics')).text;
  assert.match(metrics, /tandem_forge_status_deliveries_total\{forge="github",result="rate_limited"\} [1-9]/);
});

test('a primary rate limit (x-ratelimit-reset) is waited out too', async () => {
  const { name, sha } = await forgeRepo(PASSING);
  gh.fault({ kind: 'primary', count: 1, seconds: 2 });
  const id = await tandem.trigger(name);
  await tandem.waitForPipeline(id);
  await until('the final status', () => gh.statesOf(sha, 'tandem/pipeline').at(-1) === `success:Pipeline #${id} passed`, 30_000);
  const limited = gh.requests.find((r) => r.path.includes(sha))!;
  const next = gh.received.find((s) => s.sha === sha)!;
  assert.ok(next.at - limited.at >= 1000, `the next status came ${next.at - limited.at} ms after the limit`);
});

test('a GitHub App credential sends Checks runs: one run per commit and name, updated to its conclusion', async (t) => {
  const app = await GitHubContractServer.start({ app: { appId: '31337', installationId: 9 } });
  t.after(() => app.close());
  const { name, sha } = await forgeRepo(PASSING, { token: undefined, appId: '31337', privateKey: app.app!.privateKeyPem }, app);
  const id = await tandem.trigger(name);
  await tandem.waitForPipeline(id);
  const run = await until('the completed check run', () => app.checkRuns.find((r) => r.headSha === sha && r.conclusion === 'success'));
  assert.equal(app.checkRuns.filter((r) => r.headSha === sha).length, 1, 'updated, not created again');
  assert.equal(run.name, 'tandem/pipeline');
  assert.equal(run.detailsUrl, `${tandem.url}/pipelines/${id}`);
  assert.equal(run.history.at(-1)?.title, `Pipeline #${id} passed`);
  assert.equal(app.received.length, 0);
  const view = await tandem.api<RepoJson>('GET', `/api/v1/repos/${name}`);
  assert.equal(view.body.forge?.appId, '31337');
  assert.equal(view.body.forge?.hasToken, false);
  assert.ok(!view.text.includes('PRIVATE KEY'));
  assert.deepEqual(app.violations, []);
});

test('forge settings: refused with the field named, write-only credential kept on edit, removed with null, audited', async () => {
  const { name } = await tandem.repo(PASSING);
  const bad = await tandem.api('PATCH', `/api/v1/repos/${name}`, { forge: { type: 'github', project: 'no-slash', token: 't' } });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /forge\.project/);
  const noCredential = await tandem.api('PATCH', `/api/v1/repos/${name}`, { forge: { type: 'github', project: 'o/r' } });
  assert.equal(noCredential.status, 422);
  assert.match(noCredential.text, /forge\.token/);
  const badKey = await tandem.api('PATCH', `/api/v1/repos/${name}`, {
    forge: { type: 'github', project: 'o/r', appId: '1', privateKey: 'nope' },
  });
  assert.match(badKey.text, /forge\.privateKey/);

  const set = await tandem.api<RepoJson>('PATCH', `/api/v1/repos/${name}`, {
    forge: { type: 'github', project: 'o/r', token: 'ghp_secret_value' },
  });
  assert.equal(set.status, 200, set.text);
  assert.equal(set.body.forge?.apiUrl, 'https://api.github.com', 'the hosted API by default');
  const edit = await tandem.api<RepoJson>('PATCH', `/api/v1/repos/${name}`, {
    forge: { type: 'github', project: 'o/r2', statuses: 'jobs' },
  });
  assert.equal(edit.status, 200, edit.text);
  assert.deepEqual([edit.body.forge?.project, edit.body.forge?.statuses, edit.body.forge?.hasToken], ['o/r2', 'jobs', true]);
  const moved = await tandem.api('PATCH', `/api/v1/repos/${name}`, {
    forge: { type: 'github', apiUrl: 'https://ghe.example.com/api/v3', project: 'o/r2' },
  });
  assert.equal(moved.status, 422, 'the token never goes to another host unless given again');
  const row = await tandem.server.ctx.store.db
    .selectFrom('repos')
    .select(['forge_token'])
    .where('name', '=', name)
    .executeTakeFirstOrThrow();
  assert.ok(row.forge_token && !row.forge_token.includes('ghp_secret_value'), 'sealed at rest');
  const removed = await tandem.api<RepoJson>('PATCH', `/api/v1/repos/${name}`, { forge: null });
  assert.equal(removed.body.forge, null);
  const audit = await tandem.api<{ action: string; details: Record<string, unknown> | null }[]>('GET', '/api/v1/audit?limit=20');
  const text = JSON.stringify(audit.body);
  assert.match(text, /"forge":\{"type":"github"/);
  assert.ok(!text.includes('ghp_secret_value'), 'the audit log never holds the token');

  const created = await tandem.api<RepoJson>('POST', '/api/v1/repos', {
    name: `${name}-2`,
    url: (await tandem.repo(PASSING)).remote.bare,
    forge: { type: 'gitea', project: 'o/r', token: 't' },
  });
  assert.equal(created.status, 422, 'gitea has no default API');
  assert.match(created.text, /forge\.apiUrl/);
  assert.equal((await tandem.api('GET', `/api/v1/repos/${name}-2`)).status, 404, 'not registered half-way');
});

test('only an admin points a forge inside the server network; a maintainer keeps and edits it', async () => {
  const { name } = await forgeRepo(PASSING);
  assert.equal((await tandem.api('POST', '/api/v1/users', { username: 'mae', password: 'correct-horse-battery-staple-9' })).status, 201);
  assert.ok((await tandem.api('PUT', `/api/v1/repos/${name}/members/mae`, { role: 'maintainer' })).status < 300);
  const token = (await tandem.api<{ token: string }>('POST', '/api/v1/tokens', { name: 'mae', scopes: ['api'], username: 'mae' })).body
    .token;
  const asMae = (body: unknown) => tandem.api<RepoJson>('PATCH', `/api/v1/repos/${name}`, body, { authorization: `Bearer ${token}` });
  const kept = await asMae({ forge: { type: 'github', apiUrl: gh.url, project: 'octo/other', statuses: 'jobs' } });
  assert.equal(kept.status, 200, kept.text);
  assert.deepEqual([kept.body.forge?.project, kept.body.forge?.hasToken], ['octo/other', true]);
  const moved = await asMae({ forge: { type: 'github', apiUrl: 'http://127.0.0.2:9/api', project: 'octo/other', token: 'x' } });
  assert.equal(moved.status, 403, moved.text);
  assert.match(moved.text, /forge\.apiUrl: .*inside the server's network/);
});
