// `tandem exec --include-source group/name=URL`: include:project and include:component read from a
// local git repository (GitLab's https://docs.gitlab.com/ci/yaml/#includeproject and
// https://docs.gitlab.com/ci/components/), as a server reads registered repositories.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { git, makeRemote, tempDir } from '../support/git.js';
import { tandem } from './helpers.js';

test('exec --include-source: include:project and include:component from a local git repository', async (t) => {
  const components = await makeRemote(tempDir(t, 'exec-include-source'));
  await components.commit(
    {
      'ci/test.yml': 'unit:\n  script: echo "unit from templates"\n',
      'templates/greet/template.yml':
        'spec:\n  inputs:\n    who: {default: world}\n---\ngreet:\n  script: echo "hello $[[ inputs.who ]]"\n',
    },
    'templates',
  );
  await git(components.work, 'tag', '1.0.0');
  await components.push('main', '1.0.0');

  const dir = tempDir(t, 'exec-includes');
  await git(dir, 'init', '--quiet', '-b', 'main');
  await writeFile(
    path.join(dir, '.gitlab-ci.yml'),
    `include:
  - project: my-group/ci
    file: /ci/test.yml
  - component: gitlab.example.com/my-group/ci/greet@1.0.0
    inputs:
      who: tandem
`,
  );
  await git(dir, 'add', '--all');
  await git(dir, 'commit', '--quiet', '-m', 'initial');

  const r = await tandem(['exec', '--include-source', `my-group/ci=${components.bare}`], { cwd: dir, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^\[unit\] unit from templates$/m);
  assert.match(r.stdout, /^\[greet\] hello tandem$/m);

  const missing = await tandem(['exec'], { cwd: dir, timeoutMs: 60_000 });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /\.gitlab-ci\.yml:2:14: error: project `my-group\/ci` was not given with --include-source/);

  // tandem lint skips foreign includes with a warning, or reads them with the same flags as exec.
  // (Here every job comes from the skipped files, so the rest has none: an error too.)
  const skipped = await tandem(['lint'], { cwd: dir });
  assert.match(skipped.stdout, /error: the pipeline has no jobs/);
  assert.match(skipped.stdout, /\.gitlab-ci\.yml:2:14: warning: `include:project` is not checked/);
  const checked = await tandem(['lint', '--include-source', `my-group/ci=${components.bare}`], { cwd: dir, timeoutMs: 60_000 });
  assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /\.gitlab-ci\.yml: valid/);
});
