// Secrets in repository variables: masked values never reach a reader of the log (plain, base64 or
// URL-encoded, by the log API or the live stream), are not listed back by the API, file variables
// arrive as files, and protected variables reach only the default branch.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { logText, readSse } from './helpers.js';

// Characters that URL encoding changes, so the encoded form differs from the plain one.
const SECRET = 'p@ss:w0rd/Tandem+42';
const FORMS = [
  SECRET,
  Buffer.from(SECRET).toString('base64'),
  Buffer.from(SECRET).toString('base64').replace(/=+$/, ''),
  encodeURIComponent(SECRET),
];

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1, concurrency: 2 });
});
after(() => tandem.close());

async function setVariable(repo: string, variable: Record<string, unknown>): Promise<void> {
  const res = await tandem.api('POST', `/api/v1/repos/${repo}/variables`, variable);
  assert.equal(res.status, 201, res.text);
}

test('a masked variable is hidden in the log API and the live stream, in plain, base64 and URL-encoded form', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
leak:
  script:
    - sleep 0.5
    - echo "plain $SECRET_TOKEN"
    - echo "base64 $(printf %s "$SECRET_TOKEN" | base64 | tr -d '\\n')"
    - echo "url $(printf %s "$SECRET_TOKEN" | sed -e 's/@/%40/g' -e 's/:/%3A/g' -e 's,/,%2F,g' -e 's/+/%2B/g')"
    - test "$SECRET_TOKEN" = '${SECRET}' && echo value-reached-the-job
`,
  });
  await setVariable(name, { key: 'SECRET_TOKEN', value: SECRET, masked: true });
  const id = await tandem.trigger(name);
  const job = jobNamed(await tandem.pipeline(id), 'leak');
  const stream = readSse(`${tandem.url}/api/v1/jobs/${job.id}/log/stream`, tandem.token, { timeoutMs: 15_000 });
  const events = await stream.events;
  const p = await tandem.waitForPipeline(id);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));

  const streamed = logText(events);
  const log = await tandem.log(job.id);
  for (const [where, text] of [
    ['log API', log],
    ['SSE stream', streamed],
  ] as const) {
    assert.match(text, /value-reached-the-job/, `${where}: the job saw the real value`);
    assert.match(text, /plain \[MASKED\]/, where);
    assert.match(text, /base64 \[MASKED\]/, where);
    assert.match(text, /url \[MASKED\]/, where);
    for (const form of FORMS) assert.ok(!text.includes(form), `${where} shows the secret as ${form}`);
  }
  assert.deepEqual(events.at(-1)!.data, { status: 'success' });
});

test('a file variable is a path to a file holding the value', async () => {
  const { name } = await tandem.repo({
    '.gitlab-ci.yml': `
use-file:
  script:
    - test -f "$KUBECONFIG_FILE" && echo "is-a-file"
    - test "$KUBECONFIG_FILE" != "$(pwd)/KUBECONFIG_FILE" && echo outside-checkout
    - cat "$KUBECONFIG_FILE"
`,
  });
  await setVariable(name, { key: 'KUBECONFIG_FILE', value: 'apiVersion: v1\nkind: Config\n', file: true });
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const log = await tandem.log(jobNamed(p, 'use-file').id);
  assert.match(log, /^is-a-file$/m);
  assert.match(log, /^outside-checkout$/m);
  assert.match(log, /^apiVersion: v1\nkind: Config$/m);
});

test('the variables API lists variables without their values', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [echo ok]\n' });
  await setVariable(name, { key: 'HIDDEN', value: SECRET, masked: true });
  await setVariable(name, { key: 'SHOWN', value: 'plain-value' });
  const res = await tandem.api<{ key: string; value?: string; masked: boolean }[]>('GET', `/api/v1/repos/${name}/variables`);
  assert.equal(res.status, 200);
  assert.ok(!res.text.includes(SECRET) && !res.text.includes('plain-value'), 'no value may be in the response');
  assert.deepEqual(
    res.body.map((v) => [v.key, v.masked, 'value' in v]),
    [
      ['HIDDEN', true, false],
      ['SHOWN', false, false],
    ],
  );
  const tooShort = await tandem.api<{ message: string }>('POST', `/api/v1/repos/${name}/variables`, {
    key: 'WEAK',
    value: 'short',
    masked: true,
  });
  assert.equal(tooShort.status, 422);
  assert.match(tooShort.body.message, /value/);
});

test('a protected variable reaches pipelines of the default branch only', async () => {
  const { name, remote } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script:\n    - echo "deploy-key=${DEPLOY_KEY:-unset}"\n' });
  await remote.push('main:feature');
  await setVariable(name, { key: 'DEPLOY_KEY', value: 'protected-value', protected: true });
  const [onMain, onFeature] = await Promise.all(
    ['main', 'feature'].map(async (ref) => tandem.waitForPipeline(await tandem.trigger(name, { ref }))),
  );
  assert.equal(onMain.status, 'success', onMain.error ?? '');
  assert.match(await tandem.log(jobNamed(onMain, 'job').id), /^deploy-key=protected-value$/m);
  assert.match(await tandem.log(jobNamed(onFeature, 'job').id), /^deploy-key=unset$/m);
});
