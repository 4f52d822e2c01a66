// Issue 14, item 22: `?limit=-1` lifted a listing's 500-row cap (SQLite reads LIMIT -1 as none),
// and each route parsed its own limit. One parser now serves every listing: whole numbers within
// the route's bounds, else 422 naming the parameter.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';

describe('listing limits', () => {
  let tandem: TestTandem;
  let repo: string;
  before(async () => {
    tandem = await TestTandem.start({ agents: 0 });
    repo = (await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script: [echo]\n' })).name;
    for (let i = 0; i < 3; i++) await tandem.trigger(repo);
  });
  after(() => tandem.close());

  const lists = () => [
    '/api/v1/pipelines',
    `/api/v1/repos/${repo}/pipelines`,
    '/api/v1/audit',
    '/api/v1/alerts',
    '/api/v1/backups',
    '/api/v1/dr/drills',
  ];

  test('a negative, zero, fractional, exponent, hex, huge or non-numeric limit gets 422 on every listing', async () => {
    for (const path of lists()) {
      for (const bad of ['-1', '0', '1.5', '1e3', '0x10', '99999999999999999999', 'abc', ' 5', '100001']) {
        const res = await tandem.api<{ message: string }>('GET', `${path}?limit=${encodeURIComponent(bad)}`);
        assert.equal(res.status, 422, `${path}?limit=${bad}: ${res.status} ${res.text.slice(0, 200)}`);
        assert.match(res.body.message, /^query parameter limit: expected a whole number from 1 to \d+, got /);
      }
    }
  });

  test('a limit within bounds limits; the before cursor is checked the same way', async () => {
    const two = await tandem.api<{ id: number }[]>('GET', `/api/v1/repos/${repo}/pipelines?limit=2`);
    assert.equal(two.body.length, 2);
    const next = await tandem.api<{ id: number }[]>('GET', `/api/v1/repos/${repo}/pipelines?limit=500&before=${two.body[1].id}`);
    assert.equal(next.body.length, 1);
    assert.equal((await tandem.api('GET', '/api/v1/pipelines?limit=501')).status, 422);
    assert.equal((await tandem.api('GET', `/api/v1/repos/${repo}/pipelines?before=-3`)).status, 422);
    assert.equal((await tandem.api('GET', `/api/v1/repos/${repo}/dora?days=-1`)).status, 422);
  });
});
