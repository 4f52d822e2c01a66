// Item 1 of issue 14: a pull request from a fork whose branch is named `main` ran the fork's
// pipeline file as a pipeline on the protected `main`, with its protected variables. Now merge
// request pipelines run on the forge's pull request ref at the payload's sha, fork pipelines never
// see protected variables and wait for a maintainer's approval unless the repository says "run".
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { git } from '../support/git.js';
import { jobNamed, TestTandem, type PipelineView } from '../support/tandem.js';
import { deliver, type Provider } from '../e2e/helpers.js';
import { callAs, memberToken, pullRequestDelivery, pullRequestRef } from './source-support.js';

const SECRET = 'webhook-secret-0123';
const PROTECTED_VALUE = 'protected-deploy-key-7f3a';
const MASKED_VALUE = 'masked-sonar-token-5e6f';
const CI_FILE = {
  '.gitlab-ci.yml':
    'job:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == "merge_request_event"\n  script:\n    - echo "key=[$DEPLOY_KEY] ref=$CI_COMMIT_REF_NAME event=$CI_MERGE_REQUEST_EVENT_TYPE from=$CI_MERGE_REQUEST_SOURCE_PROJECT_PATH branch=$CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"\n',
};
const FORK_FILE = {
  '.gitlab-ci.yml':
    'job:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == "merge_request_event"\n  script:\n    - echo "fork file ran key=[$DEPLOY_KEY] from=$CI_MERGE_REQUEST_SOURCE_PROJECT_PATH"\n    - echo "masked=[$SONAR_TOKEN] plain=[$BUILD_FLAVOR] registry=[$CI_REGISTRY_PASSWORD] user=[$CI_REGISTRY_USER]" | base64\n',
};

type WithApproval = PipelineView & { waitingForApproval: boolean; mergeRequest: { fork: boolean; sourceProject: string | null } | null };

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1, concurrency: 4 });
});
after(() => tandem.close());

/** A repository whose protected `main` has a protected variable, and the forge's pull request ref at a commit of another branch. */
async function repoWithPullRequest(provider: Provider, number: number, files: Record<string, string>, branch: string) {
  const { name, remote } = await tandem.repo(CI_FILE, { webhookSecret: SECRET });
  const variable = await tandem.api('POST', `/api/v1/repos/${name}/variables`, {
    key: 'DEPLOY_KEY',
    value: PROTECTED_VALUE,
    protected: true,
  });
  assert.equal(variable.status, 201, variable.text);
  // An unprotected secret (masked) and an unprotected setting (not masked).
  assert.equal(
    (await tandem.api('POST', `/api/v1/repos/${name}/variables`, { key: 'SONAR_TOKEN', value: MASKED_VALUE, masked: true })).status,
    201,
  );
  assert.equal((await tandem.api('POST', `/api/v1/repos/${name}/variables`, { key: 'BUILD_FLAVOR', value: 'release' })).status, 201);
  // The registry's password is a secret too (CI_REGISTRY_PASSWORD); its user is not.
  const registry = { host: 'registry.example.com', username: 'ci-bot', password: 'registry-secret-9d2e' };
  assert.equal((await tandem.api('PATCH', `/api/v1/repos/${name}`, { registry })).status, 200);
  await git(remote.work, 'checkout', '--quiet', '-b', branch);
  const sha = await remote.commit(files, 'the change');
  // What the forge does: the change's head is reachable in the target repository under its PR ref.
  await remote.push(`${branch}:${pullRequestRef(provider, number)}`);
  return { name, remote, sha };
}

async function finished(id: number): Promise<{ p: WithApproval; log: string }> {
  const p = (await tandem.waitForPipeline(id)) as WithApproval;
  return { p, log: await tandem.log(jobNamed(p, 'job').id) };
}

for (const provider of ['github', 'gitlab', 'gitea', 'bitbucket'] as const) {
  test(`${provider}: a fork's pull request from its branch "main" waits for approval and then runs without protected variables`, async () => {
    const { name, sha } = await repoWithPullRequest(provider, 7, FORK_FILE, 'fork-main');
    const delivery = pullRequestDelivery(provider, SECRET, {
      number: 7,
      sourceBranch: 'main',
      targetBranch: 'main',
      sha,
      sourceRepoId: 2,
      targetRepoId: 1,
      deliveryId: `${provider}-fork-7`,
    });
    const res = await deliver(tandem.url, provider, name, delivery);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const id = res.body.pipelineId as number;

    const waiting = (await tandem.pipeline(id)) as WithApproval;
    assert.equal(waiting.ref, pullRequestRef(provider, 7), 'the pipeline runs on the forge’s pull request ref, not refs/heads/main');
    assert.equal(waiting.sha, sha);
    assert.equal(waiting.waitingForApproval, true, JSON.stringify(waiting));
    assert.equal(waiting.status, 'manual');
    assert.equal(waiting.mergeRequest?.fork, true);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(jobNamed(await tandem.pipeline(id), 'job').status, 'created', 'nothing runs before a maintainer approves');

    const developer = await memberToken(tandem, name, `dev-${provider}`, 'developer');
    const refused = await callAs(tandem, developer, 'POST', `/api/v1/pipelines/${id}/approve`);
    assert.equal(refused.status, 403, refused.text);
    const approved = await tandem.api('POST', `/api/v1/pipelines/${id}/approve`);
    assert.equal(approved.status, 200, approved.text);

    const { p, log } = await finished(id);
    assert.equal(p.status, 'success');
    assert.match(log, /fork file ran key=\[\] from=~?contributor2\/app/i);
    assert.ok(!log.includes(PROTECTED_VALUE), 'the fork never sees the protected variable');
    // Printed in base64 so that the log's masking cannot hide a leak.
    const printed = Buffer.from(/^([A-Za-z0-9+/=]{20,})$/m.exec(log)?.[1] ?? '', 'base64').toString('utf8');
    assert.equal(
      printed.trim(),
      'masked=[] plain=[release] registry=[] user=[ci-bot]',
      'nor a masked (secret) one, nor the registry password; plain settings it gets',
    );
    assert.equal((await tandem.api('POST', `/api/v1/pipelines/${id}/approve`)).status, 409, 'an approved pipeline is not approved twice');
  });
}

test('a fork pull request runs at once when the repository says forkPullRequests: run, still without protected variables or protected ID tokens', async () => {
  const files = {
    '.gitlab-ci.yml':
      'job:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == "merge_request_event"\n  id_tokens:\n    ID_TOKEN:\n      aud: https://cloud.invalid\n  script:\n    - echo "key=[$DEPLOY_KEY]"\n    - echo "$ID_TOKEN" | cut -d. -f2 | tr "_-" "/+" | base64 -d 2>/dev/null | tr , "\\n" | grep -E "ref_protected|ref_path" || true\n',
  };
  const { name, sha } = await repoWithPullRequest('github', 9, files, 'elsewhere');
  const patched = await tandem.api('PATCH', `/api/v1/repos/${name}`, { forkPullRequests: 'run' });
  assert.equal(patched.status, 200, patched.text);
  assert.equal((patched.body as { forkPullRequests: string }).forkPullRequests, 'run');
  const res = await deliver(
    tandem.url,
    'github',
    name,
    pullRequestDelivery('github', SECRET, {
      number: 9,
      sourceBranch: 'main',
      targetBranch: 'main',
      sha,
      sourceRepoId: 5,
      targetRepoId: 1,
      deliveryId: 'fork-run-9',
    }),
  );
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const { p, log } = await finished(res.body.pipelineId as number);
  assert.equal(p.status, 'success', log);
  assert.equal(p.waitingForApproval, false);
  assert.match(log, /key=\[\]/);
  assert.match(log, /"ref_protected":"false"/);
  assert.match(log, /"ref_path":"refs\/pull\/9\/head"/, 'the ID token does not present the pull request as a branch');
  assert.ok(!log.includes(PROTECTED_VALUE));
});

test('a pull request inside the repository from a protected branch sees protected variables; from an unprotected one it does not', async () => {
  const { name, remote, sha: releaseSha } = await repoWithPullRequest('gitlab', 3, { 'release.txt': 'r\n' }, 'release');
  await remote.push('release');
  const protect = await tandem.api('POST', `/api/v1/repos/${name}/protected-branches`, { pattern: 'release' });
  assert.equal(protect.status, 201, protect.text);
  const same = await deliver(
    tandem.url,
    'gitlab',
    name,
    pullRequestDelivery('gitlab', SECRET, {
      number: 3,
      sourceBranch: 'release',
      targetBranch: 'main',
      sha: releaseSha,
      sourceRepoId: 1,
      targetRepoId: 1,
      deliveryId: 'same-3',
    }),
  );
  assert.equal(same.status, 201, JSON.stringify(same.body));
  const trusted = await finished(same.body.pipelineId as number);
  assert.equal(trusted.p.waitingForApproval, false, 'a pull request inside the repository needs no approval');
  assert.match(trusted.log, new RegExp(`key=\\[${PROTECTED_VALUE}\\] ref=release event=detached from=team/app branch=release`));

  await git(remote.work, 'checkout', '--quiet', '-b', 'feature');
  const featureSha = await remote.commit({ 'feature.txt': 'f\n' }, 'feature');
  await remote.push('feature', `feature:${pullRequestRef('gitlab', 4)}`);
  const other = await deliver(
    tandem.url,
    'gitlab',
    name,
    pullRequestDelivery('gitlab', SECRET, {
      number: 4,
      sourceBranch: 'feature',
      targetBranch: 'main',
      sha: featureSha,
      sourceRepoId: 1,
      targetRepoId: 1,
      deliveryId: 'same-4',
    }),
  );
  const untrusted = await finished(other.body.pipelineId as number);
  assert.match(untrusted.log, /key=\[\] ref=feature/);
});

test('a waiting fork pipeline can be canceled, and is then not approved', async () => {
  const { name, sha } = await repoWithPullRequest('gitea', 11, FORK_FILE, 'fork-work');
  const res = await deliver(
    tandem.url,
    'gitea',
    name,
    pullRequestDelivery('gitea', SECRET, {
      number: 11,
      sourceBranch: 'main',
      targetBranch: 'main',
      sha,
      sourceRepoId: 8,
      targetRepoId: 1,
      deliveryId: 'fork-cancel-11',
    }),
  );
  const id = res.body.pipelineId as number;
  assert.equal((await tandem.api('POST', `/api/v1/pipelines/${id}/cancel`)).status, 200);
  const canceled = (await tandem.pipeline(id)) as WithApproval;
  assert.deepEqual([canceled.status, canceled.waitingForApproval], ['canceled', false]);
  const late = await tandem.api<{ message: string }>('POST', `/api/v1/pipelines/${id}/approve`);
  assert.equal(late.status, 409, late.text);
  assert.match(late.body.message, /it is canceled/);
});
