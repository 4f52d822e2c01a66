// The agent's deploy phase with a script target (a cloud platform's CLI stands behind such a target,
// docs/deploy-recipes.md): each command sees the pinned image of the release it acts for, so the
// rollback after a failed verify gets the previous release's image, not the failed one's.
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runDeployPhase, type DeployBackend, type ReleaseJson } from '../../src/agent/deploy-phase.js';
import { FsBlobStore } from '../../src/artifacts/index.js';
import { tempDir, type TempDir } from './targets-fixtures.js';

const pinned = (hex: string) => `registry.example.com/team/app@sha256:${hex.repeat(64)}`;

function releaseJson(id: number, image: string): ReleaseJson {
  return { id, kind: 'deploy', version: `v${id}`, sha: 'c0ffee', ref: 'main', digest: 'd', image, status: 'deploying', files: [] };
}

describe('script target rollback with image releases', () => {
  let tmp: TempDir;
  before(async () => {
    tmp = await tempDir('tandem-deploy-script-image-');
  });
  after(() => tmp.remove());

  it("gives the rollback command the previous release's pinned image in TANDEM_RELEASE_IMAGE", async () => {
    const record = join(tmp.path, 'record');
    const workspace = join(tmp.path, 'workspace');
    await mkdir(workspace);
    const note = (what: string) => `echo "${what} $TANDEM_RELEASE_ID $TANDEM_RELEASE_IMAGE" >> ${record}`;
    const reports: string[] = [];
    const backend: DeployBackend = {
      fencingToken: 3,
      async startRelease(body) {
        assert.equal(body.image, pinned('b'), 'the pinned image starts the release');
        return {
          environment: { name: 'production', url: null },
          release: releaseJson(2, pinned('b')),
          previous: releaseJson(1, pinned('a')),
        };
      },
      async reportRelease(body) {
        reports.push(body.status);
      },
      async decision() {
        return { status: 'verifying', decision: null };
      },
    };
    const outcome = await runDeployPhase({
      deploy: {
        image: pinned('b'),
        target: {
          script: {
            deploy: note('deploy'),
            // The platform's health of the b image: failing, so the release is rolled back.
            verify: `${note('verify')}; case "$TANDEM_RELEASE_IMAGE" in *bbbb*) exit 1;; esac`,
            rollback: note('rollback'),
          },
        },
      },
      rollbackOf: null,
      workspace,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      backend,
      blobs: new FsBlobStore(join(tmp.path, 'blobs')),
      stateDir: join(tmp.path, 'state'),
      pinImage: async (ref) => ref,
      log: () => {},
      signal: new AbortController().signal,
    });
    assert.equal(outcome.ok, false);
    assert.equal(reports.at(-1), 'rolled_back');
    assert.deepEqual((await readFile(record, 'utf8')).trim().split('\n'), [
      `deploy 2 ${pinned('b')}`,
      `verify 2 ${pinned('b')}`,
      `rollback 1 ${pinned('a')}`,
    ]);
  });
});
