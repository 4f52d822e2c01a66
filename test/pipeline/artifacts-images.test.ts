// Tandem's `artifacts:images`: refs of images a job pushed, kept as written for the agent to expand
// and pin by digest when the job succeeds; a malformed entry is refused at its place.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileErrors, compileOk, expectError, job } from './helpers.js';

const file = (images: string) => `build:\n  script: [make]\n  artifacts:\n    images:\n${images}`;

describe('artifacts:images', () => {
  it('keeps the refs unexpanded, and images alone make the job have artifacts', async () => {
    const p = await compileOk(file('      - $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA\n      - registry.example.com/team/app:latest\n'));
    assert.deepEqual(job(p, 'build').artifacts?.images, [
      '$CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA',
      'registry.example.com/team/app:latest',
    ]);
    assert.deepEqual(job(p, 'build').artifacts?.paths, []);
  });

  it('names the place of a bad entry', async () => {
    const e = await expectError(file('      - ok/app:1\n      - "two words"\n'), 6, 9, 'cannot contain spaces');
    assert.equal(e.path, 'build.artifacts.images[1]');
    await expectError(file('      - ""\n'), 5, 9, '`build.artifacts.images[0]` is empty');
  });

  it('refuses more than 20 images and a non-list', async () => {
    const many = Array.from({ length: 21 }, (_, i) => `      - r.io/app:${i}\n`).join('');
    assert.ok((await compileErrors(file(many))).some((e) => /build\.artifacts\.images/.test(e.message) && /20/.test(e.message)));
    assert.ok((await compileErrors(file('      app: 1\n'))).some((e) => /build\.artifacts\.images/.test(e.message)));
  });
});
