import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import {
  BlobIntegrityError,
  BlobNotFoundError,
  BlobTooLargeError,
  FsBlobStore,
  InvalidDigestError,
} from '../../src/artifacts/index.js';
import { readAll, sha256, tempDir } from './helpers.js';

async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name));
}

test('put then get returns the same bytes under layout sha256/ab/<digest>', async (t) => {
  const dir = await tempDir(t);
  const store = new FsBlobStore(dir);
  const data = Buffer.from('hello artifacts\n');
  const info = await store.put(Readable.from([data]));
  assert.equal(info.digest, sha256(data));
  assert.equal(info.size, data.length);
  assert.ok(await store.has(info.digest));
  assert.deepEqual(await store.stat(info.digest), { size: data.length });
  assert.deepEqual(await readAll(await store.get(info.digest)), data);
  assert.deepEqual(await listTree(dir), [join(dir, 'sha256', info.digest.slice(0, 2), info.digest)]);
});

test('the same content is stored once and listed once', async (t) => {
  const dir = await tempDir(t);
  const store = new FsBlobStore(dir);
  const a = await store.put(Readable.from([Buffer.from('same')]));
  const b = await store.put(Readable.from([Buffer.from('sa'), Buffer.from('me')]));
  await store.put(Readable.from([Buffer.from('other')]));
  assert.equal(a.digest, b.digest);
  assert.equal((await listTree(dir)).length, 2);
  const listed: string[] = [];
  for await (const d of store.list()) listed.push(d);
  assert.deepEqual(listed.sort(), [sha256('same'), sha256('other')].sort());
});

test('a digest or size mismatch is refused and leaves no file behind', async (t) => {
  const dir = await tempDir(t);
  const store = new FsBlobStore(dir);
  const wrong = sha256('something else');
  await assert.rejects(store.put(Readable.from([Buffer.from('payload')]), { digest: wrong }), BlobIntegrityError);
  await assert.rejects(store.put(Readable.from([Buffer.from('payload')]), { size: 3 }), BlobIntegrityError);
  await assert.rejects(store.put(Readable.from([Buffer.from('payload')]), { size: 100 }), BlobIntegrityError);
  assert.deepEqual(await listTree(dir), []);
  assert.equal(await store.has(wrong), false);
  assert.equal(await store.has(sha256('payload')), false);
});

test('maxBytes stops the upload mid-stream without reading the rest', async (t) => {
  const dir = await tempDir(t);
  const store = new FsBlobStore(dir);
  let produced = 0;
  const source = Readable.from(
    (function* () {
      for (let i = 0; i < 1000; i++) {
        produced++;
        yield Buffer.alloc(64 * 1024, i % 256);
      }
    })(),
  );
  await assert.rejects(store.put(source, { maxBytes: 1024 * 1024 }), BlobTooLargeError);
  assert.ok(produced < 100, `source was read ${produced} times; the store should stop early`);
  assert.deepEqual(await listTree(dir), []);
});

test('a corrupted stored blob makes the read stream fail', async (t) => {
  const dir = await tempDir(t);
  const store = new FsBlobStore(dir);
  const { digest } = await store.put(Readable.from([Buffer.from('original content')]));
  await writeFile(join(dir, 'sha256', digest.slice(0, 2), digest), 'tampered content');
  await assert.rejects(readAll(await store.get(digest)), (err: Error) => {
    assert.ok(err instanceof BlobIntegrityError);
    assert.match(err.message, new RegExp(digest));
    return true;
  });
});

test('missing blobs: get throws BlobNotFoundError, stat is null, delete is a no-op', async (t) => {
  const store = new FsBlobStore(await tempDir(t));
  const digest = sha256('never stored');
  await assert.rejects(store.get(digest), BlobNotFoundError);
  assert.equal(await store.stat(digest), null);
  await store.delete(digest);
  const { digest: stored } = await store.put(Readable.from([Buffer.from('x')]));
  await store.delete(stored);
  assert.equal(await store.has(stored), false);
});

test('invalid digest strings are refused before any path is built', async (t) => {
  const store = new FsBlobStore(await tempDir(t));
  const bad = ['../../etc/passwd', 'ABCDEF' + '0'.repeat(58), '0'.repeat(63), '0'.repeat(64) + '/x', '', 'g'.repeat(64)];
  for (const digest of bad) {
    await assert.rejects(store.get(digest), InvalidDigestError, digest);
    await assert.rejects(store.has(digest), InvalidDigestError, digest);
    await assert.rejects(store.delete(digest), InvalidDigestError, digest);
    await assert.rejects(store.put(Readable.from([Buffer.from('x')]), { digest }), InvalidDigestError, digest);
  }
});

test('a 50 MB blob streams to disk while it arrives and reads back verified', async (t) => {
  const dir = await tempDir(t);
  const store = new FsBlobStore(dir);
  const expected = createHash('sha256');
  let onDiskAtHalf = 0;
  const chunks = async function* () {
    for (let i = 0; i < 800; i++) {
      if (i === 400) {
        // Half the data has been handed over: a streaming store has already written most of it to its temp file.
        const [part] = await readdir(join(dir, 'tmp'));
        onDiskAtHalf = (await stat(join(dir, 'tmp', part))).size;
      }
      const chunk = Buffer.alloc(64 * 1024, i % 251);
      expected.update(chunk);
      yield chunk;
    }
  };
  const info = await store.put(Readable.from(chunks()), { maxBytes: 64 * 1024 * 1024 });
  assert.equal(info.size, 50 * 1024 * 1024);
  assert.equal(info.digest, expected.digest('hex'));
  assert.ok(onDiskAtHalf >= 24 * 1024 * 1024, `only ${onDiskAtHalf} bytes on disk after 25 MB were produced`);
  const back = createHash('sha256');
  let size = 0;
  let reads = 0;
  for await (const c of (await store.get(info.digest)) as AsyncIterable<Buffer>) {
    size += c.length;
    reads++;
    back.update(c);
  }
  assert.equal(size, info.size);
  assert.equal(back.digest('hex'), info.digest);
  assert.ok(reads > 100, `blob came back in ${reads} chunks; it should stream in small pieces`);
});
