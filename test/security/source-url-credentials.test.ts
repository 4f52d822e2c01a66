// Item 10 of issue 14: a repository URL with credentials (https://user:token@host/...) was shown
// to guests and job tokens, kept in tandem.db, given to jobs as CI_REPOSITORY_URL and written into
// every workspace's .git/config. Now the credentials are taken out of the URL and stored encrypted;
// git gets them by environment for that URL only, and nothing a person or a job sees holds them.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
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

test('a token set as the credentials field fetches the private repository, is masked in job logs and never shown', async () => {
  // The job prints the token (as a careless script could): the log masks it.
  const root = await mkdtemp(path.join(tandem.dataDir, 'token-forge-'));
  const remote = await makeRemote(root);
  await remote.commit(
    { '.gitlab-ci.yml': `job:\n  script:\n    - cat README.md\n    - echo "token ${TOKEN}"\n`, 'README.md': 'token repo\n' },
    'initial',
  );
  await remote.push('main');
  const tokenForge = await startGitHttpServer(root, 'deploy-user', TOKEN);
  try {
    const url = `${tokenForge.url}/origin.git`;
    const wrongKind = await tandem.api<{ message: string }>('POST', '/api/v1/repos', {
      name: 'by-token',
      url,
      credentials: { type: 'ssh', privateKey: 'x', knownHosts: 'y' },
    });
    assert.equal(wrongKind.status, 422);
    assert.match(wrongKind.body.message, /^credentials: a deploy key is for an ssh URL .*\(https: use type "token"\)/);
    const both = await tandem.api<{ message: string }>('POST', '/api/v1/repos', {
      name: 'by-token',
      url: url.replace('://', `://deploy-user:${TOKEN}@`),
      credentials: { type: 'token', token: TOKEN },
    });
    assert.equal(both.status, 422);
    assert.match(both.body.message, /credentials: the URL carries credentials/);
    assert.ok(!both.text.includes(TOKEN));
    const spaced = await tandem.api<{ message: string }>('POST', '/api/v1/repos', {
      name: 'by-token',
      url,
      credentials: { type: 'token', token: `${TOKEN} x` },
    });
    assert.equal(spaced.status, 422);
    assert.match(spaced.body.message, /credentials\.token: no spaces or line breaks/);
    assert.ok(!spaced.text.includes(TOKEN), spaced.text);

    // Without a default branch, registering lists the remote's refs with the token.
    const created = await tandem.api<{ url: string; hasUrlCredentials: boolean; credentials: unknown }>('POST', '/api/v1/repos', {
      name: 'by-token',
      url,
      credentials: { type: 'token', username: 'deploy-user', token: TOKEN },
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual([created.body.url, created.body.hasUrlCredentials, created.body.credentials], [url, true, { type: 'token' }]);
    assert.ok(!created.text.includes(TOKEN));

    const p = await tandem.waitForPipeline(await tandem.trigger('by-token'));
    assert.equal(p.status, 'success', p.error ?? JSON.stringify(p.jobs));
    const log = await tandem.log(jobNamed(p, 'job').id);
    assert.match(log, /token repo/);
    assert.match(log, /token \[MASKED\]/);

    const removed = await tandem.api<{ hasUrlCredentials: boolean; credentials: unknown }>('PATCH', '/api/v1/repos/by-token', {
      credentials: null,
    });
    assert.deepEqual([removed.body.hasUrlCredentials, removed.body.credentials], [false, null]);
    // Without it, the private repository no longer answers the server's fetch.
    const anonymous = await tandem.api<{ message: string }>('POST', '/api/v1/repos/by-token/pipelines', { ref: 'main' });
    assert.equal(anonymous.status, 502, anonymous.text);
    assert.match(anonymous.body.message, /could not read Username/);
    const audit = await tandem.api('GET', '/api/v1/audit?action=repo.update');
    assert.match(audit.text, /"credentials":"removed"/);
    assert.ok(!audit.text.includes(TOKEN));
  } finally {
    await tokenForge.close();
  }
});
