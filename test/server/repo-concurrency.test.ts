// A repository's max_concurrent_jobs through the API and the CLI (issue 21): refused values name the
// field, a change is audited with what it was and what it became, and the repository's view shows it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RepoJson } from '../../src/api/index.js';
import { AuthServer } from '../auth/helpers.js';
import { tandem as cli } from '../cli/helpers.js';

interface AuditEntry {
  actor: string;
  details: Record<string, unknown> | null;
}

describe('repository concurrency limit: API and CLI', () => {
  let tandem: AuthServer;

  before(async () => {
    tandem = await AuthServer.start();
    await tandem.repo('shop');
    await tandem.user('mia');
    await tandem.member('shop', 'mia', 'maintainer');
  });
  after(() => tandem.close());

  const lastAudit = async (action: string) => (await tandem.api<AuditEntry[]>('GET', `/api/v1/audit?action=${action}&limit=1`)).body[0];

  test('refuses anything but a whole number of at least 1, or null, naming the field', async () => {
    for (const value of [0, -1, 1.5, 'two', true]) {
      const bad = await tandem.api('PATCH', '/api/v1/repos/shop', { body: { maxConcurrentJobs: value } });
      assert.equal(bad.status, 422, `${JSON.stringify(value)}: ${bad.text}`);
      assert.match(bad.text, /maxConcurrentJobs/);
      assert.match(bad.text, /at least 1|whole number/);
    }
    assert.equal((await tandem.api<RepoJson>('GET', '/api/v1/repos/shop')).body.maxConcurrentJobs, null);
  });

  test('a maintainer sets and clears it (audited); the view shows it', async () => {
    const mia = await tandem.tokenFor('mia');
    const set = await tandem.api<RepoJson>('PATCH', '/api/v1/repos/shop', { as: { token: mia }, body: { maxConcurrentJobs: 2 } });
    assert.equal(set.status, 200, set.text);
    assert.equal(set.body.maxConcurrentJobs, 2);
    const entry = await lastAudit('repo.update');
    assert.deepEqual([entry?.actor, entry?.details], ['mia', { maxConcurrentJobs: { from: null, to: 2 } }]);
    assert.equal((await tandem.api<RepoJson>('GET', '/api/v1/repos/shop')).body.maxConcurrentJobs, 2);

    const cleared = await tandem.api<RepoJson>('PATCH', '/api/v1/repos/shop', { as: { token: mia }, body: { maxConcurrentJobs: null } });
    assert.equal(cleared.body.maxConcurrentJobs, null);
    assert.deepEqual((await lastAudit('repo.update'))?.details, { maxConcurrentJobs: { from: 2, to: null } });
  });

  test('set when the repository is registered', async () => {
    const remote = await tandem.repo('lab-src');
    const created = await tandem.api<RepoJson>('POST', '/api/v1/repos', { body: { name: 'lab', url: remote.bare, maxConcurrentJobs: 3 } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.maxConcurrentJobs, 3);
    assert.deepEqual((await lastAudit('repo.create'))?.details, { visibility: 'private', maxConcurrentJobs: 3 });
  });

  test('the CLI: repo edit --max-concurrent-jobs N, none, and a refused value', async () => {
    const auth = ['--server', tandem.url, '--token', tandem.adminToken];
    const four = await cli(['repo', 'edit', 'shop', '--max-concurrent-jobs', '4', '--json', ...auth]);
    assert.equal(four.code, 0, four.stderr);
    assert.equal((JSON.parse(four.stdout) as RepoJson).maxConcurrentJobs, 4);
    const line = await cli(['repo', 'edit', 'shop', '--max-concurrent-jobs', '4', ...auth]);
    assert.match(line.stdout, /at most 4 jobs at once/);
    const none = await cli(['repo', 'edit', 'shop', '--max-concurrent-jobs', 'none', '--json', ...auth]);
    assert.equal((JSON.parse(none.stdout) as RepoJson).maxConcurrentJobs, null);
    const refused = await cli(['repo', 'edit', 'shop', '--max-concurrent-jobs', 'lots', ...auth]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /maxConcurrentJobs/);
  });
});
