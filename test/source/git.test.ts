import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { lsRemote, MirrorCache, normalizeRepoUrl, SourceError, ZERO_SHA } from '../../src/source/index.js';
import { git, makeRemote, tempDir } from '../support/git.js';

describe('lsRemote', () => {
  it('lists branches and tags, peeling annotated tags to their commit', async (t) => {
    const root = tempDir(t, 'lsremote');
    const remote = await makeRemote(root);
    const first = await remote.commit({ 'README.md': 'one\n' }, 'first');
    await git(remote.work, 'tag', 'light');
    await git(remote.work, 'tag', '-a', 'v1.0.0', '-m', 'release 1.0.0');
    const tagObject = await git(remote.work, 'rev-parse', 'v1.0.0');
    await git(remote.work, 'checkout', '--quiet', '-b', 'feature/x');
    const second = await remote.commit({ 'a.txt': 'a\n' }, 'second');
    await remote.push('main', 'feature/x', 'light', 'v1.0.0');

    const refs = await lsRemote(remote.bare);
    assert.deepEqual(Object.fromEntries(refs), {
      'refs/heads/main': first,
      'refs/heads/feature/x': second,
      'refs/tags/light': first,
      'refs/tags/v1.0.0': first,
    });
    assert.notEqual(tagObject, first);
  });

  it('returns an empty map for an empty repository', async (t) => {
    const root = tempDir(t, 'lsremote-empty');
    const remote = await makeRemote(root);
    assert.equal((await lsRemote(remote.bare)).size, 0);
  });

  it('fails with a SourceError naming an unreachable repository and git stderr', async (t) => {
    const root = tempDir(t, 'lsremote-missing');
    const missing = path.join(root, 'nope.git');
    await assert.rejects(lsRemote(missing), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.match(err.message, new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.match(err.message, /does not appear to be a git repository/);
      return true;
    });
  });

  it('fails instead of prompting for credentials and hides them from the message', async () => {
    // Port 9 on loopback: nothing listens, so the connection is refused at once.
    await assert.rejects(lsRemote('https://user:s3cret@127.0.0.1:9/org/repo.git', { timeoutMs: 5000 }), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.match(err.message, /https:\/\/\*\*\*@127\.0\.0\.1:9\/org\/repo\.git/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
  });

  it('gives up on a server that never answers once the timeout passes', async (t) => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    const started = Date.now();
    await assert.rejects(lsRemote(`http://127.0.0.1:${port}/org/repo.git`, { timeoutMs: 300 }), /timed out after 300 ms/);
    assert.ok(Date.now() - started < 4000, 'the git process group was killed instead of waited for');
  });
});

describe('normalizeRepoUrl', () => {
  it('keeps remote URLs in canonical form', () => {
    assert.equal(normalizeRepoUrl('https://GitHub.com/Org/Repo.git/'), 'https://github.com/Org/Repo.git');
    assert.equal(normalizeRepoUrl('  ssh://git@example.com:2222/org/repo.git '), 'ssh://git@example.com:2222/org/repo.git');
    assert.equal(normalizeRepoUrl('git@github.com:org/repo.git'), 'git@github.com:org/repo.git');
    assert.equal(normalizeRepoUrl('example.com:org/repo/'), 'example.com:org/repo');
    assert.equal(normalizeRepoUrl('file:///srv/git/repo.git'), 'file:///srv/git/repo.git');
  });

  it('makes local paths absolute', () => {
    assert.equal(normalizeRepoUrl('/srv/git/repo.git'), '/srv/git/repo.git');
    assert.equal(normalizeRepoUrl('repos/app'), path.resolve('repos/app'));
    assert.equal(normalizeRepoUrl('./a:b/c'), path.resolve('a:b/c'));
  });

  it('rejects other schemes, remote helpers and option-like input with a clear error', () => {
    assert.throws(() => normalizeRepoUrl('ftp://example.com/repo.git'), /unsupported scheme "ftp"/);
    assert.throws(() => normalizeRepoUrl('ext::sh -c touch% /tmp/pwned'), /remote helper syntax "ext::"/);
    assert.throws(() => normalizeRepoUrl('--upload-pack=touch /tmp/x'), /must not start with "-"/);
    assert.throws(() => normalizeRepoUrl(''), /empty/);
    assert.throws(() => normalizeRepoUrl('ssh:///no-host'), /has no host/);
    assert.throws(() => normalizeRepoUrl('file://host/repo'), /must not name a host/);
    assert.throws(() => normalizeRepoUrl('a b:repo'), /neither a known scheme nor a host/);
    assert.throws(() => normalizeRepoUrl('/repo\nx'), /control characters/);
  });
});

describe('MirrorCache', () => {
  async function setup(t: { after: (fn: () => void) => void }) {
    const root = tempDir(t, 'mirror');
    const remote = await makeRemote(root);
    const first = await remote.commit({ '.tandem.yml': 'build:\n  script: make\n', 'src/a.c': 'int a;\n', 'docs/x.md': 'x\n' }, 'first');
    await remote.push('main');
    return { root, remote, first, cache: new MirrorCache(path.join(root, 'cache')) };
  }

  it('clones a mirror, then fetches new commits only when the wanted sha is missing', async (t) => {
    const { root, remote, first, cache } = await setup(t);
    const mirror = await cache.ensure(remote.bare);
    assert.equal(mirror, cache.mirrorPath(remote.bare));
    assert.equal(await git(root, '--git-dir', mirror, 'rev-parse', 'refs/heads/main'), first);

    const second = await remote.commit({ '.tandem.yml': 'test:\n  script: make test\n', 'src/a.c': null, 'src/b.c': 'int b;\n' }, 'second');
    await remote.push('main');
    await cache.ensure(remote.bare, { sha: first });
    assert.equal(await git(root, '--git-dir', mirror, 'rev-parse', 'refs/heads/main'), first, 'a present sha needs no fetch');
    await cache.ensure(remote.bare, { sha: second });
    assert.equal(await git(root, '--git-dir', mirror, 'rev-parse', 'refs/heads/main'), second);

    assert.equal(await cache.readFile(remote.bare, first, '.tandem.yml'), 'build:\n  script: make\n');
    assert.equal(await cache.readFile(remote.bare, second, './.tandem.yml'), 'test:\n  script: make test\n');
    assert.equal(await cache.readFile(remote.bare, second, 'src/a.c'), null);
    assert.equal(await cache.readFile(remote.bare, second, 'src'), null, 'a directory is not a file');
    await assert.rejects(cache.readFile(remote.bare, second, '../etc/passwd'), /invalid repository path/);

    assert.deepEqual((await cache.listFiles(remote.bare, second)).sort(), ['.tandem.yml', 'docs/x.md', 'src/b.c']);
    assert.deepEqual((await cache.changedFiles(remote.bare, first, second))?.sort(), ['.tandem.yml', 'src/a.c', 'src/b.c']);
    assert.equal(await cache.changedFiles(remote.bare, null, second), null);
    assert.equal(await cache.changedFiles(remote.bare, ZERO_SHA, second), null);
    assert.equal(await cache.changedFiles(remote.bare, 'ab'.repeat(20), second), null);
  });

  it('fetches only the pushed ref when its sha is missing; a full fetch brings the others', async (t) => {
    const { root, remote, first, cache } = await setup(t);
    const mirror = await cache.ensure(remote.bare);
    // An agent's cache of its own, as a job's checkout uses it.
    const agent = new MirrorCache(path.join(root, 'agent-cache'));
    const agentMirror = await agent.ensure(remote.bare);
    const hinted = new MirrorCache(path.join(root, 'hinted-cache'));
    await hinted.ensure(remote.bare);
    const pushed = await remote.commit({ '.tandem.yml': 'pushed:\n  script: make\n' }, 'on main');
    await remote.push('main');
    await git(remote.work, 'checkout', '--quiet', '-b', 'other', first);
    const other = await remote.commit({ 'o.txt': 'o\n' }, 'on other');
    await remote.push('other');

    await cache.ensure(remote.bare, { sha: pushed, ref: 'refs/heads/main' });
    assert.equal(await git(root, '--git-dir', mirror, 'rev-parse', 'refs/heads/main'), pushed);
    await assert.rejects(git(root, '--git-dir', mirror, 'rev-parse', '--verify', `${other}^{commit}`), 'the other branch was not fetched');
    assert.equal(await cache.readFile(remote.bare, pushed, '.tandem.yml'), 'pushed:\n  script: make\n');

    await cache.ensure(remote.bare);
    assert.equal(await git(root, '--git-dir', mirror, 'rev-parse', 'refs/heads/other'), other);

    const workspace = path.join(root, 'ws');
    await agent.checkout(remote.bare, pushed, workspace, { ref: 'refs/heads/main' });
    assert.equal(readFileSync(path.join(workspace, '.tandem.yml'), 'utf8'), 'pushed:\n  script: make\n');
    await assert.rejects(git(root, '--git-dir', agentMirror, 'rev-parse', '--verify', `${other}^{commit}`));
    // A hint that is no ref name (a job's variables can say anything) is ignored: everything is fetched.
    await hinted.checkout(remote.bare, other, path.join(root, 'ws2'), { ref: 'refs/heads/a:b' });
    assert.equal(readFileSync(path.join(root, 'ws2', 'o.txt'), 'utf8'), 'o\n');
  });

  it('fetches everything when the pushed ref is gone or no longer leads to the sha', async (t) => {
    const { root, remote, first, cache } = await setup(t);
    const mirror = await cache.ensure(remote.bare);
    // Pushed to a branch deleted since: the sha is still on another branch.
    await git(remote.work, 'checkout', '--quiet', '-b', 'topic');
    const topic = await remote.commit({ 't.txt': 't\n' }, 'topic');
    await remote.push('topic');
    await cache.ensure(remote.bare, { sha: topic, ref: 'refs/heads/gone' });
    assert.equal(await git(root, '--git-dir', mirror, 'rev-parse', 'refs/heads/topic'), topic);

    // Pushed, then force-pushed away: a tag still holds the sha.
    await git(remote.work, 'checkout', '--quiet', '-b', 'feat', first);
    const feat = await remote.commit({ 'f.txt': 'f\n' }, 'feat');
    await git(remote.work, 'tag', 'keep');
    await remote.push('keep');
    await git(remote.work, 'reset', '--quiet', '--hard', first);
    await remote.push('feat');
    await cache.ensure(remote.bare, { sha: feat, ref: 'refs/heads/feat' });
    assert.equal(await git(root, '--git-dir', mirror, 'rev-parse', 'refs/tags/keep'), feat);
    await assert.rejects(cache.ensure(remote.bare, { sha: 'ef'.repeat(20), ref: 'refs/heads/feat' }), /not found/);
  });

  it('reads on after the mirror’s cat-file process dies or the mirror is deleted', async (t) => {
    const { remote, first, cache } = await setup(t);
    t.after(() => cache.close());
    assert.equal(await cache.readFile(remote.bare, first, 'src/a.c'), 'int a;\n');
    const mirror = cache.mirrorPath(remote.bare);
    const readers = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => {
        const cmdline = (() => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          } catch {
            return [];
          }
        })();
        return cmdline.includes('cat-file') && cmdline.includes(mirror);
      });
    assert.equal(readers.length, 1, 'one cat-file process for the mirror');
    process.kill(Number(readers[0]), 'SIGKILL');
    assert.equal(await cache.readFile(remote.bare, first, 'src/a.c'), 'int a;\n');
    assert.match((await cache.commitInfo(remote.bare, first))?.message ?? '', /^first/);

    // A mirror deleted under a running cache (a cleanup) is cloned again and read afresh.
    rmSync(mirror, { recursive: true, force: true });
    const second = await remote.commit({ 'src/a.c': 'int a2;\n' }, 'second');
    await remote.push('main');
    assert.equal(await cache.readFile(remote.bare, second, 'src/a.c'), 'int a2;\n');
  });

  it('fails with a SourceError for a commit the repository does not have', async (t) => {
    const { remote, cache } = await setup(t);
    await assert.rejects(cache.ensure(remote.bare, { sha: 'cd'.repeat(20) }), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.match(err.message, new RegExp(`commit ${'cd'.repeat(20)} not found in .*origin\\.git`));
      return true;
    });
    await assert.rejects(cache.ensure(remote.bare, { sha: 'main' }), /sha "main" is not a commit sha/);
  });

  it('leaves nothing behind when the repository cannot be cloned', async (t) => {
    const root = tempDir(t, 'mirror-missing');
    const cache = new MirrorCache(path.join(root, 'cache'));
    const missing = path.join(root, 'missing.git');
    await assert.rejects(cache.ensure(missing), (err: unknown) => {
      assert.ok(err instanceof SourceError);
      assert.ok(err.message.startsWith(`git clone --mirror of ${missing} failed: `), err.message);
      return true;
    });
    assert.deepEqual(readdirSync(path.join(root, 'cache')), []);
  });

  it('resolves branch, tag, full ref and sha names; null for unknown; prunes deleted branches', async (t) => {
    const { remote, first, cache } = await setup(t);
    await git(remote.work, 'tag', '-a', 'v2', '-m', 'v2');
    await git(remote.work, 'checkout', '--quiet', '-b', 'topic');
    const topic = await remote.commit({ 't.txt': 't\n' }, 'topic');
    await remote.push('main', 'topic', 'v2');

    assert.equal(await cache.resolveRef(remote.bare, 'main'), first);
    assert.equal(await cache.resolveRef(remote.bare, 'topic'), topic);
    assert.equal(await cache.resolveRef(remote.bare, 'v2'), first, 'annotated tag peeled');
    assert.equal(await cache.resolveRef(remote.bare, 'refs/heads/topic'), topic);
    assert.equal(await cache.resolveRef(remote.bare, topic), topic);
    assert.equal(await cache.resolveRef(remote.bare, topic.slice(0, 10)), topic);
    assert.equal(await cache.resolveRef(remote.bare, 'nope'), null);
    await assert.rejects(cache.resolveRef(remote.bare, 'main~1'), /invalid ref name "main~1"/);

    await git(remote.work, 'push', '--quiet', 'origin', '--delete', 'topic');
    assert.equal(await cache.resolveRef(remote.bare, 'topic'), null, 'fetch --prune drops the deleted branch');
  });

  it('checks out a fast job workspace at a detached sha with origin at the real URL', async (t) => {
    const { root, remote, first, cache } = await setup(t);
    const second = await remote.commit({ 'src/b.c': 'int b;\n' }, 'second');
    await remote.push('main');
    await cache.ensure(remote.bare);

    const dest = path.join(root, 'jobs', '1', 'ws');
    const started = performance.now();
    await cache.checkout(remote.bare, first, dest);
    const elapsed = performance.now() - started;
    // Tens of ms on an idle machine; the bound leaves room for a loaded shared CI box.
    assert.ok(elapsed < 2000, `checkout took ${elapsed.toFixed(0)} ms`);

    assert.equal(readFileSync(path.join(dest, 'src/a.c'), 'utf8'), 'int a;\n');
    assert.equal(existsSync(path.join(dest, 'src/b.c')), false, 'files of the later commit are absent');
    assert.equal(await git(dest, 'rev-parse', 'HEAD'), first);
    assert.equal(await git(dest, 'symbolic-ref', '--quiet', 'HEAD').catch(() => 'detached'), 'detached');
    assert.equal(await git(dest, 'remote', 'get-url', 'origin'), remote.bare);
    assert.equal(await git(dest, 'status', '--porcelain'), '');
    const packDir = path.join(dest, '.git', 'objects', 'pack');
    assert.deepEqual(existsSync(packDir) ? readdirSync(packDir) : [], [], 'objects are borrowed, not copied');
    assert.equal(await git(dest, 'rev-parse', 'origin/main'), second, "the mirror's branches are origin's");

    await git(remote.work, 'tag', '-a', 'v1.0', '-m', 'release', first);
    await remote.push('v1.0');
    await cache.ensure(remote.bare);
    const tagged = path.join(root, 'jobs', '3');
    await cache.checkout(remote.bare, second, tagged);
    assert.equal(await git(tagged, 'describe', '--tags'), `v1.0-1-g${second.slice(0, 7)}`, 'tags reach the workspace');

    const second2 = path.join(root, 'jobs', '2');
    mkdirSync(second2, { recursive: true });
    await cache.checkout(remote.bare, second, second2);
    assert.equal(await git(second2, 'rev-parse', 'HEAD'), second);

    await assert.rejects(cache.checkout(remote.bare, second, dest), /workspace .* is not empty/);
  });

  it('shares one mirror between concurrent callers and between caches on one directory', async (t) => {
    const { root, remote, first } = await setup(t);
    const dir = path.join(root, 'shared-cache');
    const a = new MirrorCache(dir);
    const b = new MirrorCache(dir);
    const paths = await Promise.all([a.ensure(remote.bare), a.ensure(remote.bare), b.ensure(remote.bare), b.ensure(remote.bare)]);
    assert.equal(new Set(paths).size, 1);
    assert.deepEqual(readdirSync(dir), [path.basename(paths[0])], 'no temp dirs or lock files left behind');
    const second = await remote.commit({ 'n.txt': 'n\n' }, 'n');
    await remote.push('main');
    const contents = await Promise.all([
      a.readFile(remote.bare, second, 'n.txt'),
      b.readFile(remote.bare, second, 'n.txt'),
      a.readFile(remote.bare, first, 'n.txt'),
    ]);
    assert.deepEqual(contents, ['n\n', 'n\n', null]);
  });

  it('takes over a lock left by a process that died', async (t) => {
    const { root, remote, cache } = await setup(t);
    const dead = spawnSync('true');
    assert.ok(dead.pid);
    mkdirSync(path.join(root, 'cache'), { recursive: true });
    writeFileSync(`${cache.mirrorPath(remote.bare)}.lock`, `${dead.pid}@${hostname()} deadbeef`);
    const mirror = await cache.ensure(remote.bare);
    assert.ok(existsSync(path.join(mirror, 'HEAD')));
    assert.equal(existsSync(`${mirror}.lock`), false);
  });
});
