// Found beside item 1 of issue 14: caches were shared by every pipeline of a repository, so an
// unprotected pipeline (a fork's merge request, a developer's branch) could plant a cache that the
// protected main pipeline restored and ran with its protected variables. Protected pipelines now
// keep their caches apart, as GitLab does by default (cache:unprotect false).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { git } from '../support/git.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

const CI_FILE = {
  '.gitlab-ci.yml': [
    'job:',
    '  cache:',
    '    key: tools',
    '    paths: [vendor/]',
    '  script:',
    '    - if [ -f vendor/tool.sh ]; then sh vendor/tool.sh; else echo "no cached tool"; fi',
    '    - mkdir -p vendor',
    '    - echo "echo tool from $CI_COMMIT_REF_NAME" > vendor/tool.sh',
    '',
  ].join('\n'),
};

let tandem: TestTandem;
before(async () => {
  tandem = await TestTandem.start({ agents: 1 });
});
after(() => tandem.close());

async function run(repo: string, ref: string): Promise<string> {
  const p = await tandem.waitForPipeline(await tandem.trigger(repo, { ref }));
  const log = await tandem.log(jobNamed(p, 'job').id);
  assert.equal(p.status, 'success', log);
  return log;
}

test("an unprotected branch's pipeline cannot plant a cache that the protected main pipeline restores", async () => {
  const { name, remote } = await tandem.repo(CI_FILE);
  await git(remote.work, 'checkout', '--quiet', '-b', 'evil');
  await remote.push('evil');
  assert.match(await run(name, 'evil'), /no cached tool/);
  assert.match(await run(name, 'evil'), /tool from evil/, 'unprotected pipelines share their cache');

  const main = await run(name, 'main');
  assert.ok(!main.includes('tool from evil'), `main ran the tool an unprotected branch cached:\n${main}`);
  assert.match(main, /no cached tool/);
  assert.match(await run(name, 'main'), /tool from main/, 'protected pipelines share theirs');
});
