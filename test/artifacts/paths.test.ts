import assert from 'node:assert/strict';
import { mkdir, realpath, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { PathEscapeError, resolveInside, safeRelativePath } from '../../src/artifacts/index.js';
import { tempDir } from './helpers.js';

test('safeRelativePath normalizes harmless forms', () => {
  assert.equal(safeRelativePath('a/b.txt'), 'a/b.txt');
  assert.equal(safeRelativePath('./a//b/'), 'a/b');
  assert.equal(safeRelativePath('a/./b'), 'a/b');
  assert.equal(safeRelativePath('..a/b..'), '..a/b..');
});

test('safeRelativePath rejects escapes with an error naming the path', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['/etc/passwd', /absolute/],
    ['../x', /"\.\."/],
    ['a/../../x', /"\.\."/],
    ['a/..', /"\.\."/],
    ['..\\..\\etc\\passwd', /backslash/],
    ['a\\b', /backslash/],
    ['C:/Windows', /drive letter/],
    ['a\0b', /NUL/],
    ['.', /workspace itself/],
    ['./', /workspace itself/],
  ];
  for (const [input, reason] of cases) {
    assert.throws(
      () => safeRelativePath(input),
      (err: Error) => err instanceof PathEscapeError && reason.test(err.message) && err.message.includes(JSON.stringify(input)),
      input,
    );
  }
});

test('resolveInside returns paths under the real root and follows symlinks that stay inside', async (t) => {
  const root = await tempDir(t);
  const real = await realpath(root);
  await mkdir(join(root, 'inner'));
  await symlink(join(root, 'inner'), join(root, 'alias'));
  assert.equal(await resolveInside(root, 'a/b/c.txt'), join(real, 'a/b/c.txt'));
  assert.equal(await resolveInside(root, 'alias/new/file'), join(real, 'inner/new/file'));
});

test('resolveInside refuses a parent symlink leading outside, and a dangling one', async (t) => {
  const root = await tempDir(t);
  const outside = await tempDir(t);
  await symlink(outside, join(root, 'out'));
  await symlink('/etc', join(root, 'etc'));
  await symlink(join(root, 'missing-target'), join(root, 'dangling'));
  await assert.rejects(resolveInside(root, 'out/x'), (err: Error) => err instanceof PathEscapeError && /out\/x/.test(err.message));
  await assert.rejects(resolveInside(root, 'etc/passwd'), PathEscapeError);
  await assert.rejects(resolveInside(root, 'out/deeper/still/x'), PathEscapeError);
  await assert.rejects(resolveInside(root, 'dangling/x'), PathEscapeError);
  await assert.rejects(resolveInside(root, '../x'), PathEscapeError);
});
