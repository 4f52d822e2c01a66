// Item 4 of issue 14: a maintainer could repoint a repository at any local path or file:// URL
// (PATCH /api/v1/repos/:name) and so read other repositories and the server's mirrors; remote
// helper and option-like URLs and hosts inside the server's network were the same kind of reach.
// Now only instance admins (or paths under allowedLocalRepoPaths) may use local places, remote
// helpers and options are refused for everyone, and internal hosts need an admin.
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { makeRemote } from '../support/git.js';
import { TestTandem } from '../support/tandem.js';
import { callAs, memberToken } from './source-support.js';

const CI_FILE = { '.gitlab-ci.yml': 'job:\n  script: [cat secret.txt]\n' };

let tandem: TestTandem;
let allowed: string;
before(async () => {
  allowed = await mkdtemp(path.join(tmpdir(), 'tandem-allowed-'));
  tandem = await TestTandem.start({ agents: 0, settings: { allowedLocalRepoPaths: [allowed] } });
});
after(async () => {
  await tandem.close();
  await rm(allowed, { recursive: true, force: true });
});

async function maintainerOf(repo: string, username: string): Promise<string> {
  return memberToken(tandem, repo, username, 'maintainer');
}

const urlOf = async (repo: string) => (await tandem.api<{ url: string }>('GET', `/api/v1/repos/${repo}`)).body.url;

test("a maintainer cannot point a repository at another repository's path, a file:// URL or the server's mirrors; an admin can", async () => {
  const mine = await tandem.repo(CI_FILE);
  const other = await tandem.repo({ ...CI_FILE, 'secret.txt': 'another team’s secret\n' });
  const maintainer = await maintainerOf(mine.name, 'mallory');
  const attacks = [
    other.remote.bare,
    `file://${other.remote.bare}`,
    path.join(tandem.dataDir, 'mirrors'),
    tandem.dataDir,
    '/etc',
    `${other.remote.bare}/../../`,
  ];
  for (const url of attacks) {
    const res = await callAs<{ message: string }>(tandem, maintainer, 'PATCH', `/api/v1/repos/${mine.name}`, { url });
    assert.equal(res.status, 403, `${url}: ${res.text}`);
    assert.match(res.body.message, /only an instance administrator/);
  }
  assert.equal(await urlOf(mine.name), mine.remote.bare, 'the URL is unchanged');
  const sameUrl = await callAs(tandem, maintainer, 'PATCH', `/api/v1/repos/${mine.name}`, { url: mine.remote.bare, pollInterval: 0 });
  assert.equal(sameUrl.status, 200, `the settings form sends the admin's URL back unchanged: ${sameUrl.text}`);

  const byAdmin = await tandem.api('PATCH', `/api/v1/repos/${mine.name}`, { url: other.remote.bare });
  assert.equal(byAdmin.status, 200, 'instance admins trust the host: they may use local paths');
});

test('a maintainer may use a local path under allowedLocalRepoPaths, not one that escapes it by .. or a symlink', async () => {
  const mine = await tandem.repo(CI_FILE);
  const maintainer = await maintainerOf(mine.name, 'maya');
  const shared = await makeRemote(await mkdtemp(path.join(allowed, 'shared-')));
  const inside = await callAs(tandem, maintainer, 'PATCH', `/api/v1/repos/${mine.name}`, { url: shared.bare });
  assert.equal(inside.status, 200, inside.text);
  const escape = await callAs(tandem, maintainer, 'PATCH', `/api/v1/repos/${mine.name}`, {
    url: path.join(allowed, '..', path.basename(tandem.dataDir)),
  });
  assert.equal(escape.status, 403, escape.text);
  await symlink(tandem.dataDir, path.join(allowed, 'link-to-data'));
  const viaLink = await callAs(tandem, maintainer, 'PATCH', `/api/v1/repos/${mine.name}`, {
    url: `file://${path.join(allowed, 'link-to-data')}`,
  });
  assert.equal(viaLink.status, 403, viaLink.text);
});

test('remote helpers, option-like URLs and hosts are refused for everyone with 422', async () => {
  const mine = await tandem.repo(CI_FILE);
  for (const url of [
    'ext::sh -c touch% /tmp/tandem-pwned',
    'fd::3',
    '--upload-pack=touch /tmp/tandem-pwned',
    '-oProxyCommand=id',
    'ssh://-oProxyCommand=id/x',
    'git@-oProxyCommand=id:x',
    'gopher://example.com/x',
  ]) {
    const res = await tandem.api<{ message: string }>('PATCH', `/api/v1/repos/${mine.name}`, { url });
    assert.equal(res.status, 422, `${url}: ${res.text}`);
    assert.match(res.body.message, /^url: /);
  }
});

test('a maintainer cannot point a repository at loopback, link-local or private hosts (SSRF); a public host is fine', async () => {
  const mine = await tandem.repo(CI_FILE);
  const maintainer = await maintainerOf(mine.name, 'sam');
  const internal = [
    'http://127.0.0.1:2375/x.git',
    'http://localhost/x.git',
    'https://169.254.169.254/latest/meta-data',
    'http://[::1]/x.git',
    'http://[::ffff:127.0.0.1]/x.git',
    'git://10.1.2.3/x.git',
    'ssh://git@192.168.1.10/x.git',
    'git@172.16.0.5:team/x.git',
    'http://0.0.0.0/x.git',
  ];
  for (const url of internal) {
    const res = await callAs<{ message: string }>(tandem, maintainer, 'PATCH', `/api/v1/repos/${mine.name}`, { url });
    assert.equal(res.status, 403, `${url}: ${res.text}`);
    assert.match(res.body.message, /inside the server's network/);
  }
  // 192.0.2.0/24 is a documentation range: public as far as the check goes, and never contacted by PATCH.
  const fine = await callAs(tandem, maintainer, 'PATCH', `/api/v1/repos/${mine.name}`, { url: 'https://192.0.2.10/team/app.git' });
  assert.equal(fine.status, 200, fine.text);
});
