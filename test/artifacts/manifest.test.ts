import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, test } from 'node:test';
import {
  BlobIntegrityError,
  BlobNotFoundError,
  type BlobStore,
  FsBlobStore,
  ManifestError,
  type ManifestEntry,
  PathEscapeError,
  type StoreProgress,
  collectFiles,
  manifestToTarGz,
  restoreFiles,
  storeFiles,
  validateManifest,
} from '../../src/artifacts/index.js';
import { blobBackends, type BlobBackend, sha256, tempDir } from './helpers.js';

async function storedWorkspace(t: Parameters<typeof tempDir>[0], backend: BlobBackend) {
  const ws = await tempDir(t);
  const { store } = await backend.open(t);
  await mkdir(join(ws, 'bin'), { recursive: true });
  await mkdir(join(ws, 'docs/deep'), { recursive: true });
  await writeFile(join(ws, 'bin/tool'), '#!/bin/sh\necho hi\n');
  await chmod(join(ws, 'bin/tool'), 0o755);
  await writeFile(join(ws, 'docs/deep/a.txt'), 'same');
  await writeFile(join(ws, 'docs/b.txt'), 'same');
  await chmod(join(ws, 'docs/b.txt'), 0o600);
  await writeFile(join(ws, 'docs/empty'), '');
  const { files } = await collectFiles(ws, { paths: ['bin', 'docs'] });
  const progress: StoreProgress[] = [];
  const entries = await storeFiles(files, store, { onProgress: (p) => progress.push(p) });
  return { ws, store, entries, progress };
}

const fetchFrom = (store: BlobStore) => (digest: string) => store.get(digest);

// The manifest functions over every artifact store backend (filesystem and S3).
for (const backend of blobBackends(after)) {
  describe(`manifests on ${backend.name}`, { skip: backend.skip() }, () => {
    test('storeFiles hashes, uploads each content once and reports progress', async (t) => {
      const { store, entries, progress } = await storedWorkspace(t, backend);
      assert.deepEqual(entries, [
        { path: 'bin/tool', digest: sha256('#!/bin/sh\necho hi\n'), size: 18, mode: 0o755 },
        { path: 'docs/b.txt', digest: sha256('same'), size: 4, mode: 0o600 },
        { path: 'docs/deep/a.txt', digest: sha256('same'), size: 4, mode: 0o644 & ~process.umask() },
        { path: 'docs/empty', digest: sha256(''), size: 0, mode: 0o644 & ~process.umask() },
      ]);
      // The second file with content "same" was already stored, so it is not uploaded again.
      assert.deepEqual(
        progress.map((p) => p.uploaded),
        [true, true, false, true],
      );
      assert.deepEqual(progress.at(-1), { path: 'docs/empty', done: 4, total: 4, bytesDone: 26, bytesTotal: 26, uploaded: true });
      for (const e of entries) assert.ok(await store.has(e.digest));
    });

    test('restoreFiles recreates contents and modes under a fresh root', async (t) => {
      const { store, entries } = await storedWorkspace(t, backend);
      const target = await tempDir(t);
      await restoreFiles(target, entries, fetchFrom(store));
      assert.equal(await readFile(join(target, 'bin/tool'), 'utf8'), '#!/bin/sh\necho hi\n');
      assert.equal(await readFile(join(target, 'docs/deep/a.txt'), 'utf8'), 'same');
      assert.equal((await stat(join(target, 'bin/tool'))).mode & 0o777, 0o755);
      assert.equal((await stat(join(target, 'docs/b.txt'))).mode & 0o777, 0o600);
      assert.equal((await stat(join(target, 'docs/empty'))).size, 0);
      // No temp files are left beside the restored ones.
      assert.deepEqual((await readdir(join(target, 'docs'))).sort(), ['b.txt', 'deep', 'empty']);
    });

    test('restoreFiles refuses an escaping entry before writing anything', async (t) => {
      const { store, entries } = await storedWorkspace(t, backend);
      const parent = await tempDir(t);
      const root = join(parent, 'root');
      await mkdir(root);
      const evil: ManifestEntry = { ...entries[0], path: '../escaped' };
      await assert.rejects(
        restoreFiles(root, [entries[0], evil], fetchFrom(store)),
        (err: Error) => err instanceof PathEscapeError && err.message.includes('"../escaped"'),
      );
      assert.deepEqual(await readdir(root), []);
      assert.deepEqual(await readdir(parent), ['root']);
    });

    test('restoreFiles refuses to write through a symlinked directory leading outside', async (t) => {
      const { store, entries } = await storedWorkspace(t, backend);
      const root = await tempDir(t);
      const outside = await tempDir(t);
      await symlink(outside, join(root, 'docs'));
      await assert.rejects(
        restoreFiles(root, entries.slice(1), fetchFrom(store)),
        (err: Error) => err instanceof PathEscapeError && err.message.includes('"docs/b.txt"'),
      );
      assert.deepEqual(await readdir(outside), []);
    });

    test('restoreFiles replaces a planted symlink at the file itself instead of writing through it', async (t) => {
      const { store, entries } = await storedWorkspace(t, backend);
      const root = await tempDir(t);
      const outside = await tempDir(t);
      await writeFile(join(outside, 'victim'), 'untouched');
      await mkdir(join(root, 'bin'));
      await symlink(join(outside, 'victim'), join(root, 'bin/tool'));
      await restoreFiles(root, [entries[0]], fetchFrom(store));
      assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'untouched');
      assert.ok((await lstat(join(root, 'bin/tool'))).isFile());
      assert.equal(await readFile(join(root, 'bin/tool'), 'utf8'), '#!/bin/sh\necho hi\n');
    });

    test('restoreFiles verifies what it wrote and leaves nothing when the content is wrong', async (t) => {
      const { entries } = await storedWorkspace(t, backend);
      const root = await tempDir(t);
      const lying = async () => Readable.from([Buffer.from('#!/bin/sh\necho no\n')]);
      await assert.rejects(
        restoreFiles(root, [entries[0]], lying),
        (err: Error) => err instanceof BlobIntegrityError && err.message.includes('bin/tool'),
      );
      assert.deepEqual(await readdir(join(root, 'bin')), []);
      await assert.rejects(
        restoreFiles(root, [entries[0]], (d) => new FsBlobStore(root).get(d)),
        BlobNotFoundError,
      );
    });

    test('manifestToTarGz streams an archive the tar CLI extracts with contents and modes', async (t) => {
      const { store, entries } = await storedWorkspace(t, backend);
      const dir = await tempDir(t);
      const archive = join(dir, 'artifacts.tar.gz');
      await pipeline(manifestToTarGz(entries, fetchFrom(store)), createWriteStream(archive));
      const listing = execFileSync('tar', ['-tzf', archive], { encoding: 'utf8' }).trim().split('\n');
      assert.deepEqual(
        listing,
        entries.map((e) => e.path),
      );
      const out = join(dir, 'out');
      await mkdir(out);
      execFileSync('tar', ['-xzf', archive, '-C', out]);
      assert.equal(await readFile(join(out, 'bin/tool'), 'utf8'), '#!/bin/sh\necho hi\n');
      assert.equal(await readFile(join(out, 'docs/deep/a.txt'), 'utf8'), 'same');
      assert.equal((await stat(join(out, 'bin/tool'))).mode & 0o777, 0o755);
      assert.equal((await stat(join(out, 'docs/empty'))).size, 0);
    });

    test('manifestToTarGz fails the stream when a blob is missing or corrupt', async (t) => {
      const { store, entries } = await storedWorkspace(t, backend);
      const missing = { ...entries[0], digest: sha256('not stored') };
      await assert.rejects(pipeline(manifestToTarGz([missing], fetchFrom(store)), createWriteStream('/dev/null')), BlobNotFoundError);
      const lying = async () => Readable.from([Buffer.from('x'.repeat(entries[0].size))]);
      await assert.rejects(pipeline(manifestToTarGz([entries[0]], lying), createWriteStream('/dev/null')), BlobIntegrityError);
    });
  });
}

test('validateManifest accepts good entries and names the index and field of bad ones', () => {
  const good = { path: 'a/b.txt', digest: sha256('x'), size: 1, mode: 0o644 };
  assert.deepEqual(validateManifest([good]), [good]);
  const cases: Array<[unknown, RegExp]> = [
    [{}, /^manifest: /],
    [[good, { ...good, path: '../x' }], /manifest\[1\]\.path: .*"\.\."/],
    [[{ ...good, path: '/etc/passwd' }], /manifest\[0\]\.path: .*absolute/],
    [[{ ...good, path: './a/b.txt' }], /manifest\[0\]\.path: path is not in normal form/],
    [[{ ...good, digest: 'ABC' }], /manifest\[0\]\.digest: digest must be 64 lowercase hex/],
    [[{ ...good, size: -1 }], /manifest\[0\]\.size/],
    [[{ ...good, mode: 0o4755 }], /manifest\[0\]\.mode/],
    [[{ ...good, extra: 1 }], /manifest\[0\]/],
    [[good, { ...good }], /manifest\[1\]\.path: duplicate path "a\/b\.txt"/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => validateManifest(input),
      (err: Error) => err instanceof ManifestError && message.test(err.message),
      JSON.stringify(input),
    );
  }
});
