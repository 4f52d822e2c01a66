// Item 19 of issue 14: a bad repository URL or a failing git remote answered HTTP 500. Now a URL
// that is not one is 422 and a remote that fails is 502, each with the reason, and never with the
// credentials of the URL.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';
import { freePort } from '../support/ports.js';

const CI_FILE = { '.gitlab-ci.yml': 'job:\n  script: [echo hi]\n' };

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 0 });
});
after(() => tandem.close());

test('a malformed URL in PATCH is 422 naming the field, not 500', async () => {
  const { name } = await tandem.repo(CI_FILE);
  for (const url of ['https://', 'http://exa mple.com/x', 'ftp://example.com/x.git', 'host:']) {
    const res = await tandem.api<{ message: string }>('PATCH', `/api/v1/repos/${name}`, { url });
    assert.equal(res.status, 422, `${url}: ${res.text}`);
    assert.match(res.body.message, /^url: repository URL/);
  }
});

test('a pipeline on an unreachable repository is 502 with git’s reason and without the URL’s credentials', async () => {
  const { name } = await tandem.repo(CI_FILE);
  const port = await freePort();
  const token = 'glpat-s3cret-in-the-url';
  assert.equal(
    (await tandem.api('PATCH', `/api/v1/repos/${name}`, { url: `http://deploy:${token}@127.0.0.1:${port}/team/app.git` })).status,
    200,
  );
  const res = await tandem.api<{ message: string }>('POST', `/api/v1/repos/${name}/pipelines`, {});
  assert.equal(res.status, 502, res.text);
  assert.match(res.body.message, /failed: .*(Failed to connect|Connection refused|Could not connect)/i);
  assert.ok(!res.text.includes(token), res.text);

  assert.equal((await tandem.api('PATCH', `/api/v1/repos/${name}`, { url: '/nonexistent/tandem/repo.git' })).status, 200);
  const missing = await tandem.api<{ message: string }>('POST', `/api/v1/repos/${name}/pipelines`, {});
  assert.equal(missing.status, 502, missing.text);
  assert.match(missing.body.message, /does not exist|does not appear to be a git repository/i);
});

test('an unknown commit is 422', async () => {
  const { name } = await tandem.repo(CI_FILE);
  const res = await tandem.api<{ message: string }>('POST', `/api/v1/repos/${name}/pipelines`, { sha: 'f'.repeat(40) });
  assert.equal(res.status, 422, res.text);
  assert.match(res.body.message, /commit f{40} not found/);
});
