// Tokens: personal tokens (scoped, expiring, stored hashed, shown once, revocable), agent
// registration tokens (they only register agents) and CI_JOB_TOKEN (its job's repository, read
// only, while the job runs).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { generateToken } from '../../src/auth/tokens.js';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { call } from './helpers.js';

interface TokenJson {
  id: number;
  name: string;
  scopes: string[];
  expiresAt: string | null;
  token?: string;
}

describe('tokens', () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({ agents: 1 });
  });
  after(() => tandem.close());

  const as = (token: string) => ({ as: { token } });
  const api = <T = unknown>(method: string, url: string, token: string, body?: unknown) =>
    call<T>(tandem.url, method, url, { ...as(token), body });

  async function userWithToken(username: string, scopes: string[] = ['api']): Promise<string> {
    assert.equal((await tandem.api('POST', '/api/v1/users', { username })).status, 201);
    const res = await tandem.api<TokenJson>('POST', '/api/v1/tokens', { name: 'test', scopes, username });
    assert.equal(res.status, 201, res.text);
    return res.body.token!;
  }

  test('a personal token is shown once, stored as a hash, listed without its secret, and refused everywhere once revoked', async () => {
    const dave = await userWithToken('dave');
    const created = await api<TokenJson>('POST', '/api/v1/tokens', dave, { name: 'laptop', scopes: ['api'] });
    assert.equal(created.status, 201, created.text);
    const token = created.body.token!;
    assert.match(token, /^tdm_[\w-]{43}$/);
    const listed = await api<TokenJson[]>('GET', '/api/v1/tokens', dave);
    assert.deepEqual(listed.body.map((t) => t.name).sort(), ['laptop', 'test']);
    assert.ok(!listed.text.includes(token) && listed.body.every((t) => t.token === undefined), 'listings never hold the secret');
    const rows = await tandem.server.ctx.store.db.selectFrom('tokens').select('token_hash').execute();
    assert.ok(rows.every((r) => /^[0-9a-f]{64}$/.test(r.token_hash) && r.token_hash !== token));
    assert.equal((await api('GET', '/api/v1/session', token)).status, 200);
    assert.equal((await api('DELETE', `/api/v1/tokens/${created.body.id}`, dave)).status, 204);
    const refused = await api<{ message: string }>('GET', '/api/v1/session', token);
    assert.equal(refused.status, 401);
    assert.match(refused.body.message, /unknown or revoked/);
  });

  test('forged, malformed and expired tokens are 401; an expiry in the past is refused', async () => {
    for (const forged of [generateToken('tdm'), generateToken('tda'), generateToken('tdj'), 'tdm_short', 'not-a-token']) {
      assert.equal((await api('GET', '/api/v1/session', forged)).status, 401, forged);
    }
    assert.equal(
      (await call(tandem.url, 'GET', '/api/v1/session', { as: { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } } })).status,
      401,
    );
    const erin = await userWithToken('erin');
    const soon = await api<TokenJson>('POST', '/api/v1/tokens', erin, {
      name: 'brief',
      expiresAt: new Date(Date.now() + 2000).toISOString(),
    });
    assert.equal(soon.status, 201, soon.text);
    assert.equal((await api('GET', '/api/v1/session', soon.body.token!)).status, 200);
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await api<{ message: string }>('GET', '/api/v1/session', soon.body.token!);
    assert.equal(expired.status, 401);
    assert.match(expired.body.message, /expired/);
    const listed = await api<(TokenJson & { expired: boolean })[]>('GET', '/api/v1/tokens', erin);
    assert.equal(listed.body.find((t) => t.name === 'brief')?.expired, true);
    assert.equal((await api('POST', '/api/v1/tokens', erin, { name: 'past', expiresAt: '2001-01-01T00:00:00Z' })).status, 422);
  });

  test('read_api tokens only read; users cannot make tokens for others, revoke others’ tokens, or make registration tokens', async () => {
    const frank = await userWithToken('frank', ['read_api']);
    assert.equal((await api('GET', '/api/v1/tokens', frank)).status, 200);
    const write = await api<{ message: string }>('POST', '/api/v1/tokens', frank, { name: 'more power' });
    assert.equal(write.status, 403);
    assert.match(write.body.message, /missing permission token\.create: the token's scopes \(read_api\) do not allow it/);
    const grace = await userWithToken('grace');
    assert.equal((await api('POST', '/api/v1/tokens', grace, { name: 'for frank', username: 'frank' })).status, 403);
    assert.equal((await api('POST', '/api/v1/tokens', grace, { name: 'agents', scopes: ['register_agent'] })).status, 403);
    const franks = await tandem.api<TokenJson[]>('GET', '/api/v1/tokens?username=frank');
    assert.equal((await api('DELETE', `/api/v1/tokens/${franks.body[0].id}`, grace)).status, 404, "another user's token is not found");
    assert.equal((await api('GET', '/api/v1/tokens?all=true', grace)).status, 403);
    assert.equal((await tandem.api('DELETE', `/api/v1/tokens/${franks.body[0].id}`)).status, 204, 'an admin revokes anyone’s');
  });

  test('an agent registration token registers an agent, which then runs jobs, and does nothing else', async () => {
    const reg = await tandem.api<TokenJson>('POST', '/api/v1/tokens', { name: 'agents', scopes: ['register_agent'] });
    assert.equal(reg.status, 201, reg.text);
    const token = reg.body.token!;
    const denied = await api<{ message: string }>('GET', '/api/v1/repos', token);
    assert.equal(denied.status, 403);
    assert.match(denied.body.message, /scopes \(register_agent\) do not allow it/);
    assert.equal((await api('GET', '/api/v1/agents', token)).status, 403);
    assert.equal((await api('POST', '/api/v1/tokens', token, { name: 'escalate' })).status, 403);
    const agent = new Agent({
      servers: [tandem.url],
      token,
      concurrency: 1,
      workDir: path.join(tandem.dataDir, 'registered'),
      tags: ['registered'],
      executor: 'shell',
      name: 'registered',
      log: pino({ level: 'silent' }),
      version: 'test',
    });
    await agent.start();
    try {
      const { name } = await tandem.repo({ '.gitlab-ci.yml': 'tagged:\n  tags: [registered]\n  script: [echo on the registered agent]\n' });
      const done = await tandem.waitForPipeline(await tandem.trigger(name));
      assert.equal(done.status, 'success');
      const agents = await tandem.api<{ id: number; name: string }[]>('GET', '/api/v1/agents');
      assert.equal(jobNamed(done, 'tagged').agentId, agents.body.find((a) => a.name === 'registered')?.id);
    } finally {
      await agent.stop();
    }
  });

  test('CI_JOB_TOKEN reads its own repository’s pipeline and artifacts while the job runs, nothing of another repository, changes nothing, and is dead once the job ends', async () => {
    await tandem.repo({ '.gitlab-ci.yml': 'x:\n  script: [true]\n' }, { name: 'elsewhere' });
    const probe = (label: string, method: string, url: string) =>
      `echo "${label}=$(curl -s -o /dev/null -w '%{http_code}' -X ${method} -H "JOB-TOKEN: $CI_JOB_TOKEN" "$CI_SERVER_URL${url}")"`;
    const script = [
      'set -e',
      'curl -sf -H "JOB-TOKEN: $CI_JOB_TOKEN" "$CI_SERVER_URL/api/v1/pipelines/$CI_PIPELINE_ID/artifacts" > list.json',
      `BUILD=$(node -e "console.log(JSON.parse(require('fs').readFileSync('list.json','utf8')).find(j => j.job === 'build').jobId)")`,
      'curl -sf -H "Authorization: Bearer $CI_JOB_TOKEN" "$CI_SERVER_URL/api/v1/jobs/$BUILD/artifacts/out.txt" > fetched.txt',
      probe('other', 'GET', '/api/v1/repos/elsewhere/pipelines'),
      probe('log', 'GET', '/api/v1/jobs/$BUILD/log'),
      probe('trigger', 'POST', '/api/v1/repos/$CI_PROJECT_NAME/pipelines'),
      probe('repos', 'GET', '/api/v1/repos'),
      'echo "token=$CI_JOB_TOKEN"',
      'printf %s "$CI_JOB_TOKEN" > token.txt',
    ].join('\n');
    const { name } = await tandem.repo({
      'use.sh': script + '\n',
      '.gitlab-ci.yml': `
build:
  script: [echo built > out.txt]
  artifacts:
    paths: [out.txt]
use:
  needs: [build]
  script: [sh use.sh]
  artifacts:
    paths: [fetched.txt, token.txt]
`,
    });
    const done = await tandem.waitForPipeline(await tandem.trigger(name));
    const use = jobNamed(done, 'use');
    const log = await tandem.log(use.id);
    assert.equal(done.status, 'success', log);
    assert.match(log, /^other=403$/m, 'another repository is out of reach');
    assert.match(log, /^log=403$/m, 'job logs need reporter, which a job token is not');
    assert.match(log, /^trigger=403$/m, 'a job token changes nothing');
    assert.match(log, /^repos=403$/m);
    assert.match(log, /^token=\[MASKED\]$/m, 'the token is masked in the log');
    assert.equal((await tandem.api('GET', `/api/v1/jobs/${use.id}/artifacts/fetched.txt`)).text, 'built\n');
    const token = (await tandem.api('GET', `/api/v1/jobs/${use.id}/artifacts/token.txt`)).text;
    assert.match(token, /^tdj_[\w-]{43}$/);
    const after = await call<{ message: string }>(tandem.url, 'GET', `/api/v1/pipelines/${done.id}`, { as: { token } });
    assert.equal(after.status, 401, 'the job ended: its token is dead');
    assert.match(after.body.message, /no longer running/);
  });
});
