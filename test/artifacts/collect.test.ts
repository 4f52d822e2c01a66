import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { ArtifactLimitError, PathEscapeError, collectFiles } from '../../src/artifacts/index.js';
import { tempDir } from './helpers.js';

async function makeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), content);
  }
}

async function workspace(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const ws = await tempDir(t);
  await makeTree(ws, {
    'dist/app.js': 'app',
    'dist/app.js.map': 'map',
    'dist/sub/lib.js': 'lib',
    'dist/sub/.hidden': 'h',
    'logs/a.log': 'a',
    'logs/deep/b.log': 'bb',
    'src/main.ts': 'main',
    'README.md': 'readme',
  });
  return ws;
}

const paths = (files: Array<{ path: string }>): string[] => files.map((f) => f.path);

test('a directory path takes everything below it, dotfiles included', async (t) => {
  const ws = await workspace(t);
  const { files, warnings } = await collectFiles(ws, { paths: ['dist/'] });
  assert.deepEqual(paths(files), ['dist/app.js', 'dist/app.js.map', 'dist/sub/.hidden', 'dist/sub/lib.js']);
  assert.deepEqual(warnings, []);
  const app = files[0];
  assert.equal(app.absPath, join(await realpath(ws), 'dist/app.js'));
  assert.equal(app.size, 3);
});

test('globs with * and ** match files, and a glob matching a directory takes its contents', async (t) => {
  const ws = await workspace(t);
  assert.deepEqual(paths((await collectFiles(ws, { paths: ['**/*.log'] })).files), ['logs/a.log', 'logs/deep/b.log']);
  assert.deepEqual(paths((await collectFiles(ws, { paths: ['dist/*.js'] })).files), ['dist/app.js']);
  assert.deepEqual(paths((await collectFiles(ws, { paths: ['dist/s*'] })).files), ['dist/sub/.hidden', 'dist/sub/lib.js']);
  assert.deepEqual(paths((await collectFiles(ws, { paths: ['./README.md', 'README.md'] })).files), ['README.md']);
});

test('exclude removes matching files and whole directories', async (t) => {
  const ws = await workspace(t);
  const { files } = await collectFiles(ws, { paths: ['dist', 'logs'], exclude: ['**/*.map', 'logs/deep'] });
  assert.deepEqual(paths(files), ['dist/app.js', 'dist/sub/.hidden', 'dist/sub/lib.js', 'logs/a.log']);
});

test('a pattern matching nothing gives a GitLab-style warning, not an error', async (t) => {
  const ws = await workspace(t);
  const { files, warnings } = await collectFiles(ws, { paths: ['missing/', '*.exe', 'README.md'] });
  assert.deepEqual(paths(files), ['README.md']);
  assert.deepEqual(warnings, ['missing/: no matching files', '*.exe: no matching files']);
});

test('mode keeps the permission bits', async (t) => {
  const ws = await workspace(t);
  await chmod(join(ws, 'dist/app.js'), 0o755);
  await chmod(join(ws, 'dist/app.js.map'), 0o600);
  const { files } = await collectFiles(ws, { paths: ['dist/app.*'] });
  assert.deepEqual(
    files.map((f) => f.mode),
    [0o755, 0o600],
  );
});

test('untracked adds the files git reports as untracked and respects .gitignore', async (t) => {
  const ws = await tempDir(t);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ws, stdio: 'pipe' });
  git('init', '-q');
  await makeTree(ws, { 'tracked.txt': 't', '.gitignore': 'ignored.txt\n', 'ignored.txt': 'i', 'new/out.bin': 'o', 'new.txt': 'n' });
  git('add', 'tracked.txt', '.gitignore');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'init');
  const { files } = await collectFiles(ws, { paths: [], untracked: true, exclude: ['new.txt'] });
  assert.deepEqual(paths(files), ['new/out.bin']);
  const both = await collectFiles(ws, { paths: ['tracked.txt'], untracked: true });
  assert.deepEqual(paths(both.files), ['new.txt', 'new/out.bin', 'tracked.txt']);
});

test('untracked outside a git work tree is a clear error', async (t) => {
  const ws = await tempDir(t);
  await assert.rejects(collectFiles(ws, { paths: [], untracked: true }), /artifacts:untracked needs a git work tree/);
});

test('a path outside the project is skipped with a warning, as GitLab Runner does; one under $CI_PROJECT_DIR is collected', async (t) => {
  const ws = await workspace(t);
  const { files, warnings } = await collectFiles(ws, { paths: ['../x', '/etc/passwd', 'dist/../../x', '**/../../etc', `${ws}/dist`] });
  assert.deepEqual(
    warnings.map((w) => w.split(':')[0]),
    ['../x', '/etc/passwd', 'dist/../../x', '**/../../etc'],
  );
  assert.ok(warnings.every((w) => w.includes('not inside the project directory')));
  assert.ok(files.length > 0 && files.every((f) => f.path.startsWith('dist/')), JSON.stringify(files.map((f) => f.path)));
});

test('malformed patterns are errors naming the pattern', async (t) => {
  const ws = await workspace(t);
  for (const pattern of ['a\\..\\b', '']) {
    await assert.rejects(
      collectFiles(ws, { paths: [pattern] }),
      (err: Error) => err instanceof PathEscapeError && err.message.includes(JSON.stringify(pattern)),
      pattern,
    );
  }
  await assert.rejects(collectFiles(ws, { paths: ['dist'], exclude: ['/abs'] }), /artifacts:exclude pattern is absolute/);
});

test('a symlink to a file inside the workspace is followed; one pointing outside is refused by name', async (t) => {
  const ws = await workspace(t);
  await symlink('app.js', join(ws, 'dist/alias.js'));
  const { files } = await collectFiles(ws, { paths: ['dist/*.js'] });
  assert.deepEqual(paths(files), ['dist/alias.js', 'dist/app.js']);
  assert.equal(files[0].absPath, join(await realpath(ws), 'dist/app.js'));

  await symlink('/etc/passwd', join(ws, 'dist/passwd'));
  for (const spec of [{ paths: ['dist/'] }, { paths: ['dist/passwd'] }, { paths: ['**'] }]) {
    await assert.rejects(
      collectFiles(ws, spec),
      (err: Error) => err instanceof PathEscapeError && err.message.includes('"dist/passwd"') && /outside the workspace/.test(err.message),
      spec.paths[0],
    );
  }
  // Excluded links are never looked at.
  const ok = await collectFiles(ws, { paths: ['dist/'], exclude: ['dist/passwd'] });
  assert.ok(!paths(ok.files).includes('dist/passwd'));
});

test('a symlinked directory escaping the workspace is refused and never read through', async (t) => {
  const ws = await workspace(t);
  const outside = await tempDir(t);
  await writeFile(join(outside, 'secret.txt'), 'secret');
  await symlink(outside, join(ws, 'linkdir'));
  for (const pattern of ['linkdir/secret.txt', 'linkdir/', 'linkdir/*', 'linkdir']) {
    await assert.rejects(
      collectFiles(ws, { paths: [pattern] }),
      (err: Error) => err instanceof PathEscapeError && err.message.includes(JSON.stringify(pattern)),
      pattern,
    );
  }
  // A glob from the root does not descend into the link, so the outside file is not collected.
  const { files } = await collectFiles(ws, { paths: ['**/*.txt'] });
  assert.deepEqual(paths(files), []);
});

test('maxFiles and maxTotalBytes stop the collection with a clear error', async (t) => {
  const ws = await workspace(t);
  await assert.rejects(
    collectFiles(ws, { paths: ['dist'] }, { maxFiles: 2 }),
    (err: Error) => err instanceof ArtifactLimitError && /more than 2 files/.test(err.message),
  );
  await assert.rejects(collectFiles(ws, { paths: ['dist'] }, { maxTotalBytes: 5 }), ArtifactLimitError);
  assert.equal((await collectFiles(ws, { paths: ['dist'] }, { maxFiles: 4, maxTotalBytes: 10 })).files.length, 4);
});
