// Replication of every blob to a second store (here: a directory as primary, S3 as replica), and
// the error reports behind tandem_artifact_store_errors_total.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import {
  BlobNotFoundError,
  FsBlobStore,
  openArtifactStore,
  ReplicatedBlobStore,
  S3BlobStore,
  parseS3Url,
  type BlobOperation,
} from '../../src/artifacts/index.js';
import { freePort } from '../support/ports.js';
import { s3ForFile, s3SkipReason } from '../support/s3.js';
import { readAll, sha256, tempDir } from './helpers.js';

const s3 = s3ForFile(after);

describe('a replicated artifact store', { skip: s3SkipReason() }, () => {
  test('every put lands in both stores; reads fall back to the replica when the primary lost the blob', async (t) => {
    const dir = await tempDir(t);
    const url = (await s3()).url();
    const errors: string[] = [];
    const store = openArtifactStore(dir, url, (which, op) => errors.push(`${which}:${op}`));
    t.after(() => store.close?.());
    const replica = new S3BlobStore(parseS3Url(url));
    t.after(() => replica.close());
    const { digest } = await store.put(Readable.from([Buffer.from('built once, kept twice')]));
    assert.ok(await new FsBlobStore(dir).has(digest));
    assert.ok(await replica.has(digest));

    // The primary store is lost: the blob still reads, from the replica, verified.
    await rm(dir, { recursive: true, force: true });
    assert.equal((await readAll(await store.get(digest))).toString(), 'built once, kept twice');
    await assert.rejects(store.get(sha256('in neither store')), BlobNotFoundError);
    // Missing blobs are answers, not failures.
    assert.deepEqual(errors, []);

    await store.delete(digest);
    assert.equal(await replica.has(digest), false);
  });

  test("a put fails while the replica is unreachable, and the failure is reported as the replica's", async (t) => {
    const dir = await tempDir(t);
    const closed = `s3://tandem/x?endpoint=${encodeURIComponent(`http://127.0.0.1:${await freePort()}`)}`;
    const errors: { store: string; op: BlobOperation }[] = [];
    const store = openArtifactStore(dir, closed, (which, op) => errors.push({ store: which, op }));
    t.after(() => store.close?.());
    assert.ok(store instanceof ReplicatedBlobStore);
    await assert.rejects(store.put(Readable.from([Buffer.from('not acknowledged')])), /ECONNREFUSED|connect/);
    assert.deepEqual(
      errors.map((e) => e.store),
      ['replica'],
    );
    assert.ok(['has', 'put'].includes(errors[0].op), errors[0].op);
  });

  test('a corrupt blob read from the primary is reported as a read failure', async (t) => {
    const dir = await tempDir(t);
    const errors: string[] = [];
    const store = openArtifactStore(dir, undefined, (which, op) => errors.push(`${which}:${op}`));
    const { digest } = await store.put(Readable.from([Buffer.from('good bytes')]));
    await writeFile(`${dir}/sha256/${digest.slice(0, 2)}/${digest}`, 'bad bytes!');
    await assert.rejects(readAll(await store.get(digest)), /corrupt/);
    assert.deepEqual(errors, ['primary:read']);
  });
});
