// `tandem exec` with a container engine: a job that names an image runs in it, the next one (no
// image) on the host with its artifact, and nothing of the run stays in podman.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { busyboxImage, ENGINE_ARGS, leftovers, podmanSkip, RUN_ARGS } from '../support/podman.js';
import { tempDir } from '../support/git.js';
import { tandem } from './helpers.js';

const skip = podmanSkip('EXEC CONTAINER TESTS');

describe('tandem exec with podman', { skip }, () => {
  let image: { name: string; remove(): Promise<void> };
  before(async () => {
    image = await busyboxImage();
  });
  after(() => image?.remove());

  test('runs a job in its image and hands its artifact to a host job', async (t) => {
    const dir = tempDir(t, 'cli-exec-container');
    await writeFile(
      path.join(dir, '.gitlab-ci.yml'),
      `build:
  stage: build
  image: ${image.name}
  script:
    - test ! -e /etc/os-release && echo "in the image as $(id -u)"
    - mkdir -p out && echo "made in a container" > out/x.txt
  artifacts: { paths: [out/] }
use:
  stage: test
  script: [cat out/x.txt]
`,
    );
    const r = await tandem(
      [
        'exec',
        '--container-engine',
        'podman',
        '--container-engine-args',
        ENGINE_ARGS.join(' '),
        '--container-run-args',
        RUN_ARGS.join(' '),
      ],
      // Two jobs, one in a container: 7 s alone here, over the default 15 s beside a cluster test.
      { cwd: dir, timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^\[build\] Running with Tandem on tandem exec \(executor: container\)$/m);
    assert.match(r.stdout, /^\[build\] in the image as 0$/m);
    assert.match(r.stdout, /^\[use\] Running with Tandem on tandem exec \(executor: shell\)$/m);
    assert.match(r.stdout, /^\[use\] made in a container$/m);
    assert.deepEqual(await leftovers(path.join(dir, '.tandem-exec')), { containers: 0, networks: 0 });
  });
});
