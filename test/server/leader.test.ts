import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { claimLeadership, releaseLeadership, type Leadership } from '../../src/server/leader.js';
import { openStore } from '../../src/store/index.js';

const none: Leadership = { leader: false, epoch: 0, since: null, renewedAt: null };

test('one leader at a time; a takeover after expiry bumps the epoch; a released lease is taken at once', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-leader-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore(path.join(dir, 'tandem.db'));
  t.after(() => store.close());
  const ttl = 10_000;
  const t0 = 1_700_000_000_000;

  let a = await claimLeadership(store, 'a', ttl, t0, none);
  assert.deepEqual(a, { leader: true, epoch: 1, since: t0, renewedAt: t0 });
  let b = await claimLeadership(store, 'b', ttl, t0 + 1000, none);
  assert.equal(b.leader, false, 'b must wait while a holds a live lease');

  a = await claimLeadership(store, 'a', ttl, t0 + 1000, a);
  assert.deepEqual(a, { leader: true, epoch: 1, since: t0, renewedAt: t0 + 1000 }, 'renewing keeps the epoch and the start of the term');
  a = await claimLeadership(store, 'a', ttl, t0 + 6500, a);
  assert.deepEqual(
    a,
    { leader: true, epoch: 1, since: t0 + 6500, renewedAt: t0 + 6500 },
    'a renewal after half a lease of silence (the database was out of reach) starts the grace again',
  );

  // a stops renewing (paused, partitioned): after its lease runs out, b takes over with a new epoch.
  b = await claimLeadership(store, 'b', ttl, t0 + 6500 + ttl - 1, b);
  assert.equal(b.leader, false, 'not before the lease expires');
  b = await claimLeadership(store, 'b', ttl, t0 + 6500 + ttl + 1, b);
  assert.deepEqual(b, { leader: true, epoch: 2, since: t0 + 6500 + ttl + 1, renewedAt: t0 + 6500 + ttl + 1 });
  a = await claimLeadership(store, 'a', ttl, t0 + 6500 + ttl + 2, a);
  assert.deepEqual(a, { leader: false, epoch: 1, since: null, renewedAt: null }, 'the old leader learns it lost the lease');

  await releaseLeadership(store, 'b', b.epoch);
  a = await claimLeadership(store, 'a', ttl, t0 + 6500 + ttl + 3, a);
  assert.equal(a.leader, true, 'a released lease is free at once');
  assert.equal(a.epoch, 3, 'epochs only grow, also across a release');
});
