import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffRefs, lsRemote, ZERO_SHA } from '../../src/source/index.js';
import { git, makeRemote, tempDir } from '../support/git.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

describe('diffRefs', () => {
  it('reports nothing when nothing moved', () => {
    assert.deepEqual(diffRefs({ 'refs/heads/main': A }, new Map([['refs/heads/main', A]])), []);
  });

  it('reports new, moved and deleted branches and tags, sorted by ref', () => {
    const previous = { 'refs/heads/main': A, 'refs/heads/gone': B, 'refs/tags/v1': A };
    const current = new Map([
      ['refs/tags/v1', C],
      ['refs/heads/main', B],
      ['refs/heads/new/feature', C],
      ['refs/tags/v2', B],
    ]);
    assert.deepEqual(diffRefs(previous, current), [
      { kind: 'push', ref: 'refs/heads/gone', sha: ZERO_SHA, beforeSha: B, deleted: true, branch: 'gone' },
      { kind: 'push', ref: 'refs/heads/main', sha: B, beforeSha: A, deleted: false, branch: 'main' },
      { kind: 'push', ref: 'refs/heads/new/feature', sha: C, beforeSha: null, deleted: false, branch: 'new/feature' },
      { kind: 'tag', ref: 'refs/tags/v1', sha: C, beforeSha: A, deleted: false, tag: 'v1' },
      { kind: 'tag', ref: 'refs/tags/v2', sha: B, beforeSha: null, deleted: false, tag: 'v2' },
    ]);
  });

  it('ignores refs that are neither branches nor tags', () => {
    const previous = { 'refs/pull/1/head': A, 'refs/notes/commits': B };
    const current = new Map([
      ['refs/pull/2/head', C],
      ['refs/heads/constructor', A],
    ]);
    assert.deepEqual(diffRefs(previous, current), [
      { kind: 'push', ref: 'refs/heads/constructor', sha: A, beforeSha: null, deleted: false, branch: 'constructor' },
    ]);
  });

  it('sees a real push between two polls of a repository', async (t) => {
    const remote = await makeRemote(tempDir(t, 'poll'));
    const first = await remote.commit({ 'f.txt': '1\n' }, 'one');
    await remote.push('main');
    const before = Object.fromEntries(await lsRemote(remote.bare));

    const second = await remote.commit({ 'f.txt': '2\n' }, 'two');
    await git(remote.work, 'tag', '-a', 'v1', '-m', 'v1');
    await remote.push('main', 'v1');
    assert.deepEqual(diffRefs(before, await lsRemote(remote.bare)), [
      { kind: 'push', ref: 'refs/heads/main', sha: second, beforeSha: first, deleted: false, branch: 'main' },
      { kind: 'tag', ref: 'refs/tags/v1', sha: second, beforeSha: null, deleted: false, tag: 'v1' },
    ]);
  });
});
