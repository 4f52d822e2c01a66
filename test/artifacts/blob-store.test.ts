// The blob store contract, run against every backend: the filesystem and S3 (s3rver).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { BlobIntegrityError, BlobNotFoundError, BlobTooLargeError, InvalidDigestError } from '../../src/artifacts/index.js';
import { blobBackends, readAll, sha256 } from './helpers.js';

for (const backend of blobBackends(after)) {
  describe(`blob store on ${backend.name}`, { skip: backend.skip() }, () => {
    test('put then get returns the same bytes under layout sha256/ab/<digest>', async (t) => {
      const { store, keys } = await backend.open(t);
      const data = Buffer.from('hello artifacts\n');
      const info = await store.put(Readable.from([data]));
      assert.equal(info.digest, sha256(data));
      assert.equal(info.size, data.length);
      assert.ok(await store.has(info.digest));
      assert.deepEqual(await store.stat(info.digest), { size: data.length });
      assert.deepEqual(await readAll(await store.get(info.digest)), data);
      assert.deepEqual(await keys(), [`sha256/${info.digest.slice(0, 2)}/${info.digest}`]);
    });

    test('the same content is stored once and listed once', async (t) => {
      const { store, keys } = await backend.open(t);
      const a = await store.put(Readable.from([Buffer.from('same')]));
      const b = await store.put(Readable.from([Buffer.from('sa'), Buffer.from('me')]));
      await store.put(Readable.from([Buffer.from('other')]));
      assert.equal(a.digest, b.digest);
      assert.equal((await keys()).length, 2);
      const listed: string[] = [];
      for await (const d of store.list!()) listed.push(d);
      assert.deepEqual(listed.sort(), [sha256('same'), sha256('other')].sort());
    });

    test('a digest or size mismatch is refused and leaves nothing behind', async (t) => {
      const { store, keys } = await backend.open(t);
      const wrong = sha256('something else');
      await assert.rejects(store.put(Readable.from([Buffer.from('payload')]), { digest: wrong }), BlobIntegrityError);
      await assert.rejects(store.put(Readable.from([Buffer.from('payload')]), { size: 3 }), BlobIntegrityError);
      await assert.rejects(store.put(Readable.from([Buffer.from('payload')]), { size: 100 }), BlobIntegrityError);
      assert.deepEqual(await keys(), []);
      assert.equal(await store.has(wrong), false);
      assert.equal(await store.has(sha256('payload')), false);
    });

    test('maxBytes stops the upload mid-stream without reading the rest', async (t) => {
      const { store, keys } = await backend.open(t);
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
      assert.deepEqual(await keys(), []);
    });

    test('a corrupted stored blob makes the read stream fail, naming the blob', async (t) => {
      const { store, corrupt } = await backend.open(t);
      const { digest } = await store.put(Readable.from([Buffer.from('original content')]));
      // Same length and different length: both are caught.
      for (const tampered of ['tampered content', 'short']) {
        await corrupt(digest, tampered);
        await assert.rejects(readAll(await store.get(digest)), (err: Error) => {
          assert.ok(err instanceof BlobIntegrityError, String(err));
          assert.match(err.message, new RegExp(digest));
          return true;
        });
      }
    });

    test('missing blobs: get throws BlobNotFoundError, stat is null, delete is a no-op', async (t) => {
      const { store } = await backend.open(t);
      const digest = sha256('never stored');
      await assert.rejects(store.get(digest), BlobNotFoundError);
      assert.equal(await store.stat(digest), null);
      await store.delete(digest);
      const { digest: stored } = await store.put(Readable.from([Buffer.from('x')]));
      await store.delete(stored);
      assert.equal(await store.has(stored), false);
    });

    test('invalid digest strings are refused before any path or key is built', async (t) => {
      const { store } = await backend.open(t);
      const bad = ['../../etc/passwd', 'ABCDEF' + '0'.repeat(58), '0'.repeat(63), '0'.repeat(64) + '/x', '', 'g'.repeat(64)];
      for (const digest of bad) {
        await assert.rejects(store.get(digest), InvalidDigestError, digest);
        await assert.rejects(store.has(digest), InvalidDigestError, digest);
        await assert.rejects(store.delete(digest), InvalidDigestError, digest);
        await assert.rejects(store.put(Readable.from([Buffer.from('x')]), { digest }), InvalidDigestError, digest);
      }
    });

    test('a 50 MB blob is stored while it arrives and reads back verified', async (t) => {
      const { store, storedBytes, bufferedAtMost } = await backend.open(t);
      const expected = createHash('sha256');
      let storedAtHalf = 0;
      const chunks = async function* () {
        for (let i = 0; i < 800; i++) {
          // Half the data has been handed over: a streaming store has already stored most of it.
          if (i === 400) storedAtHalf = await storedBytes();
          const chunk = Buffer.alloc(64 * 1024, i % 251);
          expected.update(chunk);
          yield chunk;
        }
      };
      const info = await store.put(Readable.from(chunks()), { maxBytes: 64 * 1024 * 1024 });
      assert.equal(info.size, 50 * 1024 * 1024);
      assert.equal(info.digest, expected.digest('hex'));
      assert.ok(storedAtHalf >= 25 * 1024 * 1024 - bufferedAtMost, `only ${storedAtHalf} bytes stored after 25 MB were produced`);
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
  });
}
