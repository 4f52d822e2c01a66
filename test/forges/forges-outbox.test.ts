// Commit statuses through a real server and agent, sent by the outbox to contract servers standing
// in for GitLab, Gitea, Bitbucket Cloud and Bitbucket Data Center (none can run here; every request
// is checked against the forge's published description, test/forges/specs): each forge ends with
// the pipeline's final state, linked to its page, and a rate limit is waited out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { RepoJson } from '../../src/api/index.js';
import { TestTandem } from '../support/tandem.js';
import { startBitbucketCloudContract, startBitbucketDataCenterContract } from './bitbucket-contract.js';
import type { ContractServer } from './contract-server.js';
import { startGiteaContract } from './gitea-contract.js';
import { startGitLabContract } from './gitlab-contract.js';
import { until } from './until.js';

const TOKEN = 'forge-outbox-secret-token';
const PASSING = { '.gitlab-ci.yml': 'build:\n  script: [echo built]\ntest:\n  script: [echo tested]\n' };

let tandem: TestTandem;
const servers: ContractServer[] = [];
before(async () => {
  tandem = await TestTandem.start({ agents: 1, concurrency: 2 });
});
after(async () => {
  await tandem.close();
  for (const s of servers) {
    assert.deepEqual(s.violations, []);
    await s.close();
  }
});

/** A repository reporting to `forge`, a pipeline run on it, and its id and commit. */
async function runOn(forge: Record<string, unknown>) {
  const repo = await tandem.repo(PASSING);
  const res = await tandem.api<RepoJson>('PATCH', `/api/v1/repos/${repo.name}`, { forge: { token: TOKEN, ...forge } });
  assert.equal(res.status, 200, res.text);
  const id = await tandem.trigger(repo.name);
  assert.equal((await tandem.waitForPipeline(id)).status, 'success');
  return { id, sha: repo.sha };
}

test('a pipeline sets its status on GitLab through the outbox, a 429 waited out', async () => {
  const gitlab = await startGitLabContract({ token: TOKEN, projectId: 7, projectPath: 'team/site' });
  servers.push(gitlab.server);
  gitlab.server.fail({ status: 429, headers: { 'retry-after': '1' } });
  const { id, sha } = await runOn({ type: 'gitlab', apiUrl: gitlab.apiUrl, project: 'team/site' });
  const row = await until('the final status', () => gitlab.statuses.find((s) => s.sha === sha && s.status === 'success'));
  assert.equal(row.name, 'tandem/pipeline');
  assert.equal(row.target_url, `${tandem.url}/pipelines/${id}`);
});

test('a pipeline sets its status on Gitea through the outbox', async () => {
  const gitea = await startGiteaContract({ token: TOKEN, owner: 'team', repo: 'site' });
  servers.push(gitea.server);
  const { id, sha } = await runOn({ type: 'gitea', apiUrl: gitea.apiUrl, project: 'team/site' });
  const last = await until('the final status', () => {
    const newest = gitea.statuses.filter((s) => s.sha === sha).at(-1);
    return newest?.status === 'success' && newest;
  });
  assert.equal(last.target_url, `${tandem.url}/pipelines/${id}`);
  const states = gitea.statuses.filter((s) => s.sha === sha).map((s) => `${s.status}:${s.description}`);
  states.forEach((s, i) => assert.notEqual(s, states[i - 1], `posted twice in a row: ${states.join(' → ')}`));
});

test('a pipeline sets its status on Bitbucket Cloud and Data Center through the outbox', async () => {
  const cloud = await startBitbucketCloudContract({ token: TOKEN, workspace: 'acme', repo: 'site' });
  const dc = await startBitbucketDataCenterContract({ token: TOKEN, projectKey: 'WEB', repo: 'site' });
  servers.push(cloud.server, dc.server);
  const onCloud = await runOn({ type: 'bitbucket', apiUrl: cloud.apiUrl, project: 'acme/site' });
  await until('the Cloud status', () => cloud.statuses.get(`${onCloud.sha} tandem/pipeline`)?.state === 'SUCCESSFUL');
  const onDc = await runOn({ type: 'bitbucket', apiUrl: dc.apiUrl, project: 'WEB/site' });
  await until('the Data Center status', () => dc.statuses.get(`${onDc.sha} tandem/pipeline`)?.state === 'SUCCESSFUL');
  assert.equal(dc.statuses.get(`${onDc.sha} tandem/pipeline`)?.buildNumber, String(onDc.id));
});
