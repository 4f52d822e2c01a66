import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CatFileBatch, CatFileError } from '../../src/source/cat-file.js';
import { git, makeRemote, tempDir } from '../support/git.js';

function reader(t: { after: (fn: () => Promise<void>) => void }, gitDir: string, opts = {}): CatFileBatch {
  const batch = new CatFileBatch(gitDir, opts);
  t.after(() => batch.close());
  return batch;
}

const rejectsAs = (kind: CatFileError['kind']) => (err: unknown) => err instanceof CatFileError && err.kind === kind;

describe('CatFileBatch', () => {
  it('reads files and commits at commits in one process; missing paths, commits and trees are told apart', async (t) => {
    const remote = await makeRemote(tempDir(t, 'catfile-read'));
    const first = await remote.commit({ '.gitlab-ci.yml': 'one\n', 'dir/a.txt': 'a\n' }, 'first');
    const second = await remote.commit({ '.gitlab-ci.yml': 'two\n' }, 'second commit');
    await remote.push('main');
    const batch = reader(t, remote.bare);

    assert.equal((await batch.read(`${first}:.gitlab-ci.yml`))?.content.toString(), 'one\n');
    assert.equal((await batch.read(`${second}:.gitlab-ci.yml`))?.content.toString(), 'two\n');
    const blob = await batch.read(`${second}:dir/a.txt`);
    assert.equal(blob?.type, 'blob');
    assert.equal(blob?.oid, await git(remote.bare, 'rev-parse', `${second}:dir/a.txt`));
    assert.equal((await batch.read(`${second}:dir`))?.type, 'tree');
    const commit = await batch.read(`${second}^{commit}`);
    assert.equal(commit?.type, 'commit');
    assert.match(commit!.content.toString(), /\n\nsecond commit\n$/);
    assert.equal(await batch.read(`${first}:no/such/file`), null);
    assert.equal(await batch.read(`${'0'.repeat(40)}^{commit}`), null);
    assert.equal(await batch.read(`${first}:path with spaces.txt`), null);
    // A blob is not a commit.
    assert.equal(await batch.read(`${blob!.oid}^{commit}`), null);
    assert.equal(batch.starts, 1);
  });

  it('sees objects pushed and repacked after it started', async (t) => {
    const remote = await makeRemote(tempDir(t, 'catfile-fresh'));
    const first = await remote.commit({ 'f.txt': 'first\n' }, 'first');
    await remote.push('main');
    const batch = reader(t, remote.bare);
    assert.equal((await batch.read(`${first}:f.txt`))?.content.toString(), 'first\n');

    const second = await remote.commit({ 'f.txt': 'second\n' }, 'second');
    await remote.push('main');
    assert.equal((await batch.read(`${second}:f.txt`))?.content.toString(), 'second\n');
    // gc moves the loose objects into a new pack and deletes them.
    await git(remote.bare, 'gc', '--quiet', '--prune=now');
    const third = await remote.commit({ 'f.txt': 'third\n' }, 'third');
    await remote.push('main');
    for (const [sha, text] of [
      [first, 'first\n'],
      [second, 'second\n'],
      [third, 'third\n'],
    ])
      assert.equal((await batch.read(`${sha}:f.txt`))?.content.toString(), text);
    assert.equal(batch.starts, 1);
  });

  it('answers many concurrent reads each with its own object, large and binary ones too', async (t) => {
    const remote = await makeRemote(tempDir(t, 'catfile-concurrent'));
    // Several pipe reads' worth, with newlines and NULs that must not be taken for cat-file's framing.
    const files: Record<string, string> = {
      'big.bin': randomBytes(3 * 1024 * 1024)
        .toString('base64')
        .replace(/A/g, '\n')
        .replace(/B/g, '\0'),
    };
    for (let i = 0; i < 50; i++) files[`f${i}.txt`] = `file ${i}\n`.repeat(i + 1);
    const first = await remote.commit(files, 'many files');
    const second = await remote.commit({ 'f0.txt': 'changed\n' }, 'change f0');
    await remote.push('main');
    const batch = reader(t, remote.bare);

    const asks: [string, string | null][] = [];
    for (let i = 0; i < 50; i++) {
      asks.push([`${first}:f${i}.txt`, files[`f${i}.txt`]]);
      asks.push([`${second}:f${i}.txt`, i === 0 ? 'changed\n' : files[`f${i}.txt`]]);
      asks.push([`${second}:missing${i}`, null]);
      if (i % 10 === 0) asks.push([`${first}:big.bin`, files['big.bin']]);
    }
    const got = await Promise.all(asks.map(([name]) => batch.read(name)));
    got.forEach((object, i) => assert.equal(object === null ? null : object.content.toString(), asks[i][1], `answer to ${asks[i][0]}`));
    assert.equal(batch.starts, 1);
  });

  it('starts a new process after git dies or hangs; a hung one fails its reads at the timeout', async (t) => {
    const remote = await makeRemote(tempDir(t, 'catfile-restart'));
    const sha = await remote.commit({ 'a.txt': 'a\n' }, 'a');
    await remote.push('main');
    const batch = reader(t, remote.bare, { timeoutMs: 300 });
    assert.equal((await batch.read(`${sha}:a.txt`))?.content.toString(), 'a\n');

    process.kill(batch.pid!, 'SIGKILL');
    await sleep(50);
    assert.equal((await batch.read(`${sha}:a.txt`))?.content.toString(), 'a\n');
    assert.equal(batch.starts, 2);

    // A frozen process: the waiting read fails when its time is up, the process is killed, and
    // the next read is answered by a new one.
    const frozen = batch.pid!;
    process.kill(frozen, 'SIGSTOP');
    const started = Date.now();
    await assert.rejects(batch.read(`${sha}:a.txt`), rejectsAs('timeout'));
    assert.ok(Date.now() - started < 5_000);
    assert.equal((await batch.read(`${sha}:a.txt`))?.content.toString(), 'a\n');
    assert.notEqual(batch.pid, frozen);
    assert.equal(batch.starts, 3);
  });

  it('bounds waiting reads, skips objects over the size limit and refuses names with newlines', async (t) => {
    const remote = await makeRemote(tempDir(t, 'catfile-bounds'));
    const sha = await remote.commit({ 'small.txt': 'ok\n', 'large.txt': 'x'.repeat(1000) }, 'files');
    await remote.push('main');
    const batch = reader(t, remote.bare, { maxPending: 2, maxObjectBytes: 100 });

    const first = batch.read(`${sha}:small.txt`);
    const second = batch.read(`${sha}:large.txt`);
    await assert.rejects(batch.read(`${sha}:small.txt`), rejectsAs('busy'));
    assert.equal((await first)?.content.toString(), 'ok\n');
    await assert.rejects(second, rejectsAs('too_large'));
    // The skipped object's bytes were read past: the next answer is the right one.
    assert.equal((await batch.read(`${sha}:small.txt`))?.content.toString(), 'ok\n');
    await assert.rejects(batch.read(`${sha}:small.txt\n${sha}:large.txt`), rejectsAs('invalid'));
    assert.equal(batch.starts, 1);
  });

  it('says when git cannot run at all', async (t) => {
    const remote = await makeRemote(tempDir(t, 'catfile-nogit'));
    const batch = reader(t, remote.bare);
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await assert.rejects(batch.read('HEAD'), rejectsAs('spawn'));
    } finally {
      process.env.PATH = path;
    }
  });

  it('ends an idle process and starts one again on the next read', async (t) => {
    const remote = await makeRemote(tempDir(t, 'catfile-idle'));
    const sha = await remote.commit({ 'a.txt': 'a\n' }, 'a');
    await remote.push('main');
    const batch = reader(t, remote.bare, { idleMs: 50 });
    await batch.read(`${sha}:a.txt`);
    const pid = batch.pid!;
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 5_000;
    while ((batch.pid !== undefined || alive()) && Date.now() < deadline) await sleep(20);
    assert.equal(batch.pid, undefined);
    assert.equal(alive(), false);
    assert.equal((await batch.read(`${sha}:a.txt`))?.content.toString(), 'a\n');
    assert.equal(batch.starts, 2);
  });
});
