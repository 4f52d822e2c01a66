// Which release each host runs: recorded with the deploying agent's status reports, kept per host,
// refused when a report points a host at a release of another environment.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostReleases, setReleaseStatus } from '../../src/releases/index.js';
import type { Release, Store } from '../../src/store/index.js';
import { insertRepoRow } from '../scheduler/helpers.js';
import { backends, freshStoreEach } from '../store/helpers.js';

for (const backend of backends()) {
  describe(`hosts of an environment on ${backend.name}`, { skip: backend.skip }, () => {
    let store: Store;
    freshStoreEach(backend, (opened) => (store = opened));

    async function fixtures() {
      const repoId = await insertRepoRow(store.db, 'shop');
      const env = async (name: string) =>
        (
          await store.db
            .insertInto('environments')
            .values({ repo_id: repoId, name, tier: null, url: null, protected: 0, created_at: 0, updated_at: 0 })
            .returning('id')
            .executeTakeFirstOrThrow()
        ).id;
      const release = async (environmentId: number, version: string, status: Release['status']) =>
        (
          await store.db
            .insertInto('releases')
            .values({
              environment_id: environmentId,
              repo_id: repoId,
              pipeline_id: null,
              job_id: null,
              ref: 'main',
              version,
              files: '[]',
              digest: `digest-${version}`,
              image: `registry.example.com/web@sha256:${version.slice(-1).repeat(64)}`,
              deploy_spec: '{}',
              tags: '[]',
              fencing_token: null,
              status_reason: null,
              decision: null,
              created_by: 'test',
              rollback_of: null,
              kind: 'deploy',
              status,
              sha: version,
              created_at: 0,
              finished_at: null,
            })
            .returning('id')
            .executeTakeFirstOrThrow()
        ).id;
      const production = await env('production');
      const staging = await env('staging');
      return {
        production,
        v1: await release(production, 'v1', 'live'),
        v2: await release(production, 'v2', 'deploying'),
        stagingRelease: await release(staging, 'v9', 'live'),
      };
    }

    it('keeps the latest release per host, also when a status repeats, as a canary leaves them', async () => {
      const f = await fixtures();
      const hosts = async () =>
        ((await hostReleases(store.db, [f.production])).get(f.production) ?? []).map((h) => [h.host, h.releaseId, h.version, h.updatedAt]);
      await setReleaseStatus(store, {
        releaseId: f.v1,
        status: 'live',
        reason: null,
        now: 1000,
        hosts: [{ host: 'web-a', releaseId: f.v1 }],
      });
      // v1 was live already: nothing changes but the hosts.
      const repeated = await setReleaseStatus(store, {
        releaseId: f.v1,
        status: 'live',
        reason: null,
        now: 2000,
        hosts: [
          { host: 'web-a', releaseId: f.v1 },
          { host: 'web-b', releaseId: f.v1 },
        ],
      });
      assert.equal(repeated.changed, false);
      assert.deepEqual(await hosts(), [
        ['web-a', f.v1, 'v1', 2000],
        ['web-b', f.v1, 'v1', 2000],
      ]);

      // v2's canary: the first host takes it, the second still runs v1.
      await setReleaseStatus(store, {
        releaseId: f.v2,
        status: 'paused',
        reason: 'canary',
        now: 3000,
        hosts: [{ host: 'web-a', releaseId: f.v2 }],
      });
      assert.deepEqual(await hosts(), [
        ['web-a', f.v2, 'v2', 3000],
        ['web-b', f.v1, 'v1', 2000],
      ]);
      const [a] = (await hostReleases(store.db, [f.production])).get(f.production) ?? [];
      assert.match(a.image ?? '', /@sha256:2{64}$/);
    });

    it("refuses a host on another environment's release and records none of the report", async () => {
      const f = await fixtures();
      await assert.rejects(
        setReleaseStatus(store, {
          releaseId: f.v2,
          status: 'verifying',
          reason: null,
          now: 1000,
          hosts: [
            { host: 'web-a', releaseId: f.v2 },
            { host: 'web-b', releaseId: f.stagingRelease },
          ],
        }),
        new RegExp(`release ${f.stagingRelease} is not a release of this environment`),
      );
      assert.deepEqual(await hostReleases(store.db, [f.production]), new Map());
      const v2 = await store.db.selectFrom('releases').select('status').where('id', '=', f.v2).executeTakeFirstOrThrow();
      assert.equal(v2.status, 'deploying', 'the status report was refused with it');
    });
  });
}
