// `tandem repo add|edit` with the forge options, against a real server: the token is read from a
// file and never printed, `--statuses jobs` and a GitHub App's key file are taken, `--forge none`
// stops statuses, and a bad value is refused with the field named.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { RepoJson } from '../../src/api/index.js';
import { tandem as cli } from '../cli/helpers.js';
import { makeRemote } from '../support/git.js';
import { TestTandem } from '../support/tandem.js';
import { GitHubContractServer } from './github-contract.js';

let server: TestTandem;
let app: GitHubContractServer;
before(async () => {
  [server, app] = await Promise.all([
    TestTandem.start({ agents: 0 }),
    GitHubContractServer.start({ app: { appId: '99', installationId: 5 } }),
  ]);
});
after(async () => {
  await server.close();
  await app.close();
});

test('tandem repo add|edit --forge: token from a file, statuses per job, a GitHub App, and none', async () => {
  const remote = await makeRemote(await mkdtemp(path.join(server.dataDir, 'cli-remote-')));
  await remote.commit({ '.gitlab-ci.yml': 'a:\n  script: [true]\n' }, 'initial');
  await remote.push('main');
  const tokenFile = path.join(server.dataDir, 'gh-token');
  await writeFile(tokenFile, 'ghp_from_a_file_123\n', { mode: 0o600 });
  const auth = ['--server', server.url, '--token', server.token];

  const added = await cli([
    'repo',
    'add',
    'shop',
    remote.bare,
    ...auth,
    '--forge',
    'github',
    '--forge-project',
    'octo/shop',
    '--forge-token-file',
    tokenFile,
    '--statuses',
    'jobs',
    '--json',
  ]);
  assert.equal(added.code, 0, added.stderr);
  const repo = JSON.parse(added.stdout) as RepoJson;
  assert.deepEqual(
    [repo.forge?.type, repo.forge?.apiUrl, repo.forge?.project, repo.forge?.statuses, repo.forge?.hasToken],
    ['github', 'https://api.github.com', 'octo/shop', 'jobs', true],
  );
  assert.ok(!added.stdout.includes('ghp_from_a_file_123'));

  const keyFile = path.join(server.dataDir, 'app.pem');
  await writeFile(keyFile, app.app!.privateKeyPem, { mode: 0o600 });
  const edited = await cli([
    'repo',
    'edit',
    'shop',
    ...auth,
    '--forge',
    'github',
    '--forge-api-url',
    app.url,
    '--forge-project',
    'octo/shop',
    '--forge-app-id',
    '99',
    '--forge-private-key-file',
    keyFile,
  ]);
  assert.equal(edited.code, 0, edited.stderr);
  assert.match(edited.stdout, /statuses \(jobs\) go to github octo\/shop at http:\/\/127\.0\.0\.1:\d+ as GitHub App 99/);

  const refused = await cli(['repo', 'edit', 'shop', ...auth, '--forge', 'github', '--forge-project', 'not-a-path']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /forge\.project/);

  const none = await cli(['repo', 'edit', 'shop', ...auth, '--forge', 'none', '--json']);
  assert.equal(none.code, 0, none.stderr);
  assert.equal((JSON.parse(none.stdout) as RepoJson).forge, null);
});
