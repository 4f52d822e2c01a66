// include:project between repositories registered in one Tandem (GitLab's
// https://docs.gitlab.com/ci/yaml/#includeproject): a repository gets a GitLab project path, another
// one's pipeline includes files from it by that path, and CI_PROJECT_PATH is the path. The access
// rule (docs/security.md): every member of the including repository must be a member of the
// included one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestTandem } from '../support/tandem.js';
import { addOutsider } from './helpers.js';

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1 });
});
after(() => tandem.close());

test('a pipeline includes files of another registered repository by its path, nested local includes read there', async () => {
  await tandem.repo(
    {
      'README.md': 'templates\n',
      'ci/build.yml':
        'include: ci/common.yml\nbuild:\n  extends: .common\n  script: echo "built by template in $CI_PROJECT_PATH ($CI_PROJECT_NAMESPACE)"\n',
      'ci/common.yml': '.common:\n  variables:\n    FROM: templates\n',
    },
    { name: 'templates' },
  );
  const patched = await tandem.api<{ path: string }>('PATCH', '/api/v1/repos/templates', { path: 'platform/ci-templates' });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.path, 'platform/ci-templates');

  const app = await tandem.api<{ path: string }>('POST', '/api/v1/repos', {
    name: 'app',
    path: 'platform/ci-templates',
    url: '/nonexistent',
    defaultBranch: 'main',
  });
  assert.equal(app.status, 409, 'a path already taken is refused');

  const { name } = await tandem.repo({
    '.gitlab-ci.yml': 'include:\n  - project: platform/ci-templates\n    file: /ci/build.yml\n',
  });
  await tandem.api('PATCH', `/api/v1/repos/${name}`, { path: 'platform/app' });
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'success', p.error ?? JSON.stringify(p.jobs));
  const build = p.jobs.find((j) => j.name === 'build');
  assert.ok(build);
  assert.match(await tandem.log(build.id), /built by template in platform\/app \(platform\)/);
});

test('a member of the including repository who is not one of the included one makes the include an error', async () => {
  await tandem.repo({ 'secret.yml': 'leak:\n  script: echo secret\n' }, { name: 'private-templates' });
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'include:\n  project: private-templates\n  file: secret.yml\n' });
  await addOutsider(tandem, name);
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'failed');
  assert.match(p.error ?? '', /\.gitlab-ci\.yml:2:12: .*members who are not members of `private-templates`/);
});
