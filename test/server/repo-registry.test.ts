// A repository's container registry (issue 20): set with `tandem repo add|edit --registry*`, the
// password read from a file, sealed at rest, never shown by the API or the audit log; jobs get
// GitLab's CI_REGISTRY, CI_REGISTRY_IMAGE, CI_REGISTRY_USER and CI_REGISTRY_PASSWORD (masked).
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { RepoJson } from '../../src/api/index.js';
import { tandem as cli } from '../cli/helpers.js';
import { makeRemote } from '../support/git.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

const PASSWORD = 'registry-pass-7f3a9c21';
const CI_FILE = {
  '.gitlab-ci.yml':
    'show:\n  script:\n    - echo "registry=$CI_REGISTRY image=$CI_REGISTRY_IMAGE user=$CI_REGISTRY_USER password=$CI_REGISTRY_PASSWORD"\n',
};

let server: TestTandem;
before(async () => {
  server = await TestTandem.start({ agents: 1 });
});
after(() => server.close());

async function runShow(repo: string): Promise<string> {
  const done = await server.waitForPipeline(await server.trigger(repo));
  const job = jobNamed(done, 'show');
  assert.equal(job.status, 'success');
  return server.log(job.id);
}

test('tandem repo add|edit --registry: jobs get CI_REGISTRY*, the password masked, sealed and never shown', async () => {
  const remote = await makeRemote(await mkdtemp(path.join(server.dataDir, 'registry-remote-')));
  await remote.commit(CI_FILE, 'initial');
  await remote.push('main');
  const passwordFile = path.join(server.dataDir, 'registry-password');
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  const auth = ['--server', server.url, '--token', server.token];

  const added = await cli([
    'repo',
    'add',
    'Shop',
    remote.bare,
    ...auth,
    '--path',
    'Team/Shop',
    '--registry',
    'registry.example.com:5000',
    '--registry-user',
    'ci-bot',
    '--registry-password-file',
    passwordFile,
    '--json',
  ]);
  assert.equal(added.code, 0, added.stderr);
  assert.ok(!added.stdout.includes(PASSWORD));
  assert.deepEqual((JSON.parse(added.stdout) as RepoJson).registry, {
    host: 'registry.example.com:5000',
    path: null,
    // GitLab's CI_REGISTRY_IMAGE: the registry and the project path, lowercase.
    image: 'registry.example.com:5000/team/shop',
    username: 'ci-bot',
    hasPassword: true,
  });
  const row = await server.server.ctx.store.db.selectFrom('repos').selectAll().where('name', '=', 'Shop').executeTakeFirstOrThrow();
  assert.match(row.registry_password ?? '', /^tdx1:/);

  const log = await runShow('Shop');
  assert.match(log, /registry=registry\.example\.com:5000 image=registry\.example\.com:5000\/team\/shop user=ci-bot password=\[MASKED\]/);
  assert.ok(!log.includes(PASSWORD));

  const listed = await cli(['repo', 'list', ...auth, '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal((JSON.parse(listed.stdout) as RepoJson[]).find((r) => r.name === 'Shop')?.registry?.hasPassword, true);
  assert.ok(!listed.stdout.includes(PASSWORD));

  // Another host without a password: the stored one would follow it, so it is refused.
  const moved = await cli(['repo', 'edit', 'Shop', ...auth, '--registry', 'ghcr.io']);
  assert.notEqual(moved.code, 0);
  assert.match(moved.stderr, /registry\.password: required/);

  const pathed = await cli([
    'repo',
    'edit',
    'Shop',
    ...auth,
    '--registry',
    'registry.example.com:5000',
    '--registry-path',
    'team/shop-images',
  ]);
  assert.equal(pathed.code, 0, pathed.stderr);
  assert.match(pathed.stdout, /images go to registry\.example\.com:5000\/team\/shop-images as ci-bot/);

  const audit = await server.api<{ action: string; details: Record<string, unknown> | null }[]>(
    'GET',
    '/api/v1/audit?action=repo.update&limit=1',
  );
  assert.deepEqual(audit.body[0]?.details?.registry, {
    host: 'registry.example.com:5000',
    path: 'team/shop-images',
    username: 'ci-bot',
    passwordChanged: false,
  });
  assert.ok(!audit.text.includes(PASSWORD));

  const bad = await server.api('PATCH', '/api/v1/repos/Shop', { registry: { host: 'https://registry.example.com' } });
  assert.equal(bad.status, 422);
  assert.match(bad.text, /registry\.host/);

  const none = await cli(['repo', 'edit', 'Shop', ...auth, '--registry', 'none', '--json']);
  assert.equal(none.code, 0, none.stderr);
  assert.equal((JSON.parse(none.stdout) as RepoJson).registry, null);
  assert.match(await runShow('Shop'), /registry= image= user= password=\n/);
});
