// Item 10 of issue 14: a repository URL with credentials (https://user:token@host/...) was shown
// to guests and job tokens, kept in tandem.db, given to jobs as CI_REPOSITORY_URL and written into
// every workspace's .git/config. Now the credentials are taken out of the URL and stored encrypted;
// git gets them by environment for that URL only, and nothing a person or a job sees holds them.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { makeRemote, tempDir } from '../support/git.js';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { startGitHttpServer, type GitHttpServer } from './git-http-server.js';
import { callAs, memberToken } from './source-support.js';

const TOKEN = 'glpat-url-token-9d8e7f';
const CI_FILE = {
  '.gitlab-ci.yml': 'job:\n  script:\n    - echo "url=$CI_REPOSITORY_URL"\n    - cat .git/config\n    - env | grep -c glpat || true\n',
};

let tandem: TestTandem;
let forge: GitHttpServer;
before(async (t) => {
  tandem = await TestTandem.start({ agents: 1 });
  const root = tempDir(t as unknown as { after: (fn: () => void) => void }, 'forge');
  const remote = await makeRemote(root);
  await remote.commit(CI_FILE, 'initial');
  await remote.push('main');
  forge = await startGitHttpServer(root, 'ci', TOKEN);
});
after(async () => {
  await forge.close();
  await tandem.close();
});

async function databaseBytes(): Promise<string> {
  const files = (await readdir(tandem.dataDir)).filter((f) => f.startsWith('tandem.db'));
  return (await Promise.all(files.map((f) => readFile(path.join(tandem.dataDir, f))))).map((b) => b.toString('latin1')).join('');
}

test('credentials in a repository URL are stored encrypted and shown to no one, and still fetch the private repository', async () => {
  // Loopback needs an admin; the credentials are what a forge's deploy token would be.
  const created = await tandem.api<{ url: string; hasUrlCredentials: boolean }>('POST', '/api/v1/repos', {
    name: 'private',
    url: `${forge.url.replace('://', `://ci:${TOKEN}@`)}/origin.git`,
  });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.url, `${forge.url}/origin.git`);
  assert.equal(created.body.hasUrlCredentials, true);

  const guest = await memberToken(tandem, 'private', 'gus', 'guest');
  const seen = await callAs(tandem, guest, 'GET', '/api/v1/repos/private');
  assert.equal(seen.status, 200);
  assert.ok(!seen.text.includes(TOKEN), seen.text);
  assert.ok(!(await databaseBytes()).includes(TOKEN), 'tandem.db holds the token only encrypted');

  const id = await tandem.trigger('private');
  const p = await tandem.waitForPipeline(id);
  const log = await tandem.log(jobNamed(p, 'job').id);
  assert.equal(p.status, 'success', log);
  assert.match(log, new RegExp(`url=${forge.url}/origin.git`));
  assert.ok(!log.includes(TOKEN), 'neither CI_REPOSITORY_URL, the workspace config nor the environment hold the token');
  assert.ok(
    forge.authorizations.some((a) => a !== undefined),
    'git sent the credentials',
  );

  // The settings form sends the URL back as shown: the credentials stay.
  const saved = await tandem.api<{ hasUrlCredentials: boolean }>('PATCH', '/api/v1/repos/private', {
    url: created.body.url,
    pollInterval: 0,
  });
  assert.equal(saved.status, 200, saved.text);
  assert.equal(saved.body.hasUrlCredentials, true);
});

test('a URL stored with credentials before is cleaned at start; a password in an ssh URL is refused', async () => {
  const { name } = await tandem.repo(CI_FILE);
  const legacy = `${forge.url.replace('://', `://ci:${TOKEN}@`)}/origin.git`;
  await tandem.server.ctx.store.db.updateTable('repos').set({ url: legacy }).where('name', '=', name).execute();
  await tandem.stopServer();
  await tandem.startServerAgain();
  const repo = await tandem.api<{ url: string; hasUrlCredentials: boolean }>('GET', `/api/v1/repos/${name}`);
  assert.equal(repo.body.url, `${forge.url}/origin.git`);
  assert.equal(repo.body.hasUrlCredentials, true);
  const p = await tandem.waitForPipeline(await tandem.trigger(name));
  assert.equal(p.status, 'success');

  const ssh = await tandem.api<{ message: string }>('PATCH', `/api/v1/repos/${name}`, { url: `ssh://git:${TOKEN}@192.0.2.1/app.git` });
  assert.equal(ssh.status, 422);
  assert.ok(!ssh.text.includes(TOKEN), ssh.text);
});
