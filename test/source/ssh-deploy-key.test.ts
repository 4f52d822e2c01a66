// A private repository over ssh with a deploy key (issue 17, item 4), against a real sshd on
// loopback serving git as the test's user: the key and the known hosts are the only things ssh
// uses, a host key that is not among them is refused with a clear error, the key's temporary files
// are gone after each git call, and no message holds the key.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { lsRemote, MirrorCache, SourceError, type SshKeyCredentials } from '../../src/source/index.js';
import { git, makeRemote, type TestRemote } from '../support/git.js';
import { startSshd, sshdSkipReason, type SshdHosts } from '../support/sshd.js';

const execFileP = promisify(execFile);

describe('git over ssh with a deploy key', { skip: sshdSkipReason() }, () => {
  let sshd: SshdHosts;
  let root: string;
  let scratch: string;
  let remote: TestRemote;
  let url: string;
  let deployKey: SshKeyCredentials;
  let first: string;
  const savedTmp = process.env.TMPDIR;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tandem-ssh-repo-'));
    // git's temporary key files go here (os.tmpdir() reads TMPDIR), so the test can see them go.
    scratch = path.join(root, 'tmp');
    await execFileP('mkdir', ['-p', scratch]);
    [sshd, remote] = await Promise.all([startSshd(2), makeRemote(root)]);
    process.env.TMPDIR = scratch;
    // What a process killed during a git call leaves: the first deploy key used here sweeps it.
    const dead = spawnSync('true').pid;
    await mkdir(path.join(scratch, `tandem-ssh-${dead}-left`));
    await writeFile(path.join(scratch, `tandem-ssh-${dead}-left`, 'key'), 'left over');
    first = await remote.commit({ 'README.md': 'private\n' }, 'first');
    await remote.push('main');
    url = `ssh://${sshd.user}@127.0.0.1:${sshd.servers[0].port}${remote.bare}`;
    deployKey = { privateKey: await readFile(sshd.identityFile, 'utf8'), knownHosts: `${sshd.servers[0].knownHostsLine}\n` };
  });
  after(async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await sshd?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const keyLines = () => deployKey.privateKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));

  function assertNoKey(text: string): void {
    for (const line of keyLines()) assert.ok(!text.includes(line), `a line of the private key in: ${text}`);
  }

  it('lists refs, mirrors and checks out with the key, leaving no key file behind', async () => {
    const refs = await lsRemote(url, { credentials: deployKey });
    assert.equal(refs.get('refs/heads/main'), first);

    const mirrors = new MirrorCache(path.join(root, 'mirrors'), { credentials: () => deployKey });
    assert.equal(await mirrors.resolveRef(url, 'main'), first);
    const second = await remote.commit({ 'b.txt': 'b\n' }, 'second');
    await remote.push('main');
    // A checkout given its own credentials (an agent's, from the job's payload) fetches with them.
    const agentMirrors = new MirrorCache(path.join(root, 'agent-mirrors'));
    const workspace = path.join(root, 'workspace');
    await agentMirrors.checkout(url, second, workspace, { credentials: deployKey });
    assert.equal(await readFile(path.join(workspace, 'b.txt'), 'utf8'), 'b\n');
    assert.equal(await git(workspace, 'config', 'remote.origin.url'), url);
    assert.deepEqual(
      await readdir(scratch),
      [],
      'the key and known_hosts files are removed after each git call, and leftovers of dead processes',
    );
    assertNoKey(await readFile(path.join(workspace, '.git', 'config'), 'utf8'));
  });

  it('refuses a host whose key is not among the known hosts, saying so', async () => {
    // The second server's key, for the first server's address: what a man in the middle presents.
    const wrong = {
      ...deployKey,
      knownHosts: sshd.servers[1].knownHostsLine.replace(/^\[127\.0\.0\.1\]:\d+/, `[127.0.0.1]:${sshd.servers[0].port}`),
    };
    await assert.rejects(lsRemote(url, { credentials: wrong, timeoutMs: 20_000 }), (err: unknown) => {
      assert.ok(err instanceof SourceError, String(err));
      assert.equal(err.kind, 'upstream');
      assert.match(err.message, /not one of the repository's known hosts \(credentials\.knownHosts\)/);
      assert.match(err.message, new RegExp(`\\[127\\.0\\.0\\.1\\]:${sshd.servers[0].port}`));
      assertNoKey(`${err.message}\n${err.stderr ?? ''}`);
      return true;
    });
    // Known hosts naming another host only: ssh has no key for this one, and refuses too.
    const other = { ...deployKey, knownHosts: 'git.example.com ' + sshd.servers[0].knownHostsLine.split(' ').slice(1).join(' ') };
    await assert.rejects(lsRemote(url, { credentials: other, timeoutMs: 20_000 }), /not one of the repository's known hosts/);
    assert.deepEqual(await readdir(scratch), []);
  });

  it('says when the host refuses the key, without quoting it', async () => {
    const stranger = path.join(root, 'stranger');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const refused = { ...deployKey, privateKey: await readFile(stranger, 'utf8') };
    await assert.rejects(lsRemote(url, { credentials: refused, timeoutMs: 20_000 }), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.match(err.message, /refused the deploy key/);
      for (const line of refused.privateKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')))
        assert.ok(!err.message.includes(line));
      return true;
    });
  });
});
