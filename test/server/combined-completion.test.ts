// A completion that carries the job's last log chunks and its artifact manifest (one request
// instead of three): recorded as the separate calls record them, refused whole for a stale claim,
// a no-op when repeated, and the separate calls of older agents still accepted.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { CompleteRequest, JobPayload } from '../../src/api/protocol.js';
import { TestTandem } from '../support/tandem.js';
import { registerAgent, type ProtocolAgent } from '../security/agent-protocol.js';

let tandem: TestTandem;
let agent: ProtocolAgent;

before(async () => {
  tandem = await TestTandem.start({ agents: 0 });
  agent = await registerAgent(tandem, 'combined');
});

after(async () => {
  await tandem.close();
});

async function claimedJob(): Promise<JobPayload> {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script:\n    - echo hi\n' });
  await tandem.trigger(name);
  const payload = await agent.claim();
  assert.ok(payload, 'the agent claims the job');
  return payload;
}

/** Uploads a blob as the agent; its manifest entry. */
async function uploadBlob(path: string, content: string): Promise<{ path: string; digest: string; size: number; mode: number }> {
  const digest = createHash('sha256').update(content).digest('hex');
  const res = await fetch(`${tandem.url}/api/v1/agent/blobs/${digest}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/octet-stream' },
    body: content,
  });
  assert.equal(res.status, 200, await res.text());
  return { path, digest, size: Buffer.byteLength(content), mode: 0o644 };
}

async function jobView(jobId: number) {
  return (await tandem.api<{ status: string; exitCode: number | null; failureReason: string | null }>('GET', `/api/v1/jobs/${jobId}`)).body;
}

async function artifactPaths(jobId: number): Promise<string[]> {
  const res = await tandem.api<{ files: { path: string }[] }>('GET', `/api/v1/jobs/${jobId}/artifact-files`);
  assert.equal(res.status, 200, res.text);
  return res.body.files.map((f) => f.path);
}

function complete(payload: JobPayload, body: Omit<CompleteRequest, 'fencingToken'>, fencingToken = payload.fencingToken) {
  return agent.call('POST', `/api/v1/agent/jobs/${payload.jobId}/complete`, { fencingToken, ...body });
}

test('one completion records the last log chunks, the artifact manifest and the result; repeating it changes nothing', async () => {
  const payload = await claimedJob();
  const { jobId } = payload;
  assert.equal(
    (
      await agent.call('POST', `/api/v1/agent/jobs/${jobId}/log`, {
        fencingToken: payload.fencingToken,
        chunks: [{ seq: 0, data: 'first\n' }],
      })
    ).status,
    200,
  );
  const file = await uploadBlob('out/result.txt', 'built\n');
  const body = {
    status: 'success' as const,
    exitCode: 0,
    failureReason: null,
    log: [
      { seq: 1, data: 'second\n' },
      { seq: 2, data: 'Job succeeded\n' },
    ],
    artifacts: { files: [file], expireInSeconds: null },
  };
  const done = await complete(payload, body);
  assert.equal(done.status, 200, done.text);
  assert.equal((await jobView(jobId)).status, 'success');
  assert.equal(await tandem.log(jobId), 'first\nsecond\nJob succeeded\n');
  assert.deepEqual(await artifactPaths(jobId), ['out/result.txt']);

  // The agent lost the answer and sends the same request again: accepted, nothing doubled.
  const again = await complete(payload, body);
  assert.equal(again.status, 200, again.text);
  assert.equal(await tandem.log(jobId), 'first\nsecond\nJob succeeded\n');
  assert.deepEqual(await artifactPaths(jobId), ['out/result.txt']);
  assert.equal((await jobView(jobId)).status, 'success');
});

test('a combined completion with a stale fencing token is refused whole: no log, no manifest, the job still runs', async () => {
  const payload = await claimedJob();
  const file = await uploadBlob('forged.txt', 'forged\n');
  const stale = await complete(
    payload,
    {
      status: 'failed',
      exitCode: 1,
      failureReason: null,
      log: [{ seq: 0, data: 'forged\n' }],
      artifacts: { files: [file], expireInSeconds: null },
    },
    payload.fencingToken + 1000,
  );
  assert.equal(stale.status, 409, stale.text);
  // Without log chunks the manifest step is the first to check the claim.
  const staleManifest = await complete(
    payload,
    { status: 'failed', exitCode: 1, failureReason: null, artifacts: { files: [file], expireInSeconds: null } },
    payload.fencingToken + 1000,
  );
  assert.equal(staleManifest.status, 409, staleManifest.text);
  assert.equal((await jobView(payload.jobId)).status, 'running');
  assert.equal(await tandem.log(payload.jobId), '');
  assert.deepEqual(await artifactPaths(payload.jobId), []);

  const done = await complete(payload, { status: 'success', exitCode: 0, failureReason: null, log: [{ seq: 0, data: 'real\n' }] });
  assert.equal(done.status, 200, done.text);
  assert.equal(await tandem.log(payload.jobId), 'real\n');
});

test("an older agent's separate log, artifacts and completion calls still work", async () => {
  const payload = await claimedJob();
  const { jobId, fencingToken } = payload;
  const base = `/api/v1/agent/jobs/${jobId}`;
  const file = await uploadBlob('old/agent.txt', 'old agent\n');
  assert.equal((await agent.call('POST', `${base}/log`, { fencingToken, chunks: [{ seq: 0, data: 'old\n' }] })).status, 200);
  const artifacts = await agent.call<{ files: number }>('POST', `${base}/artifacts`, {
    fencingToken,
    files: [file],
    expireInSeconds: 3600,
  });
  assert.equal(artifacts.status, 200, artifacts.text);
  assert.equal(artifacts.body.files, 1);
  const done = await complete(payload, { status: 'failed', exitCode: 3, failureReason: null });
  assert.equal(done.status, 200, done.text);
  const view = await jobView(jobId);
  assert.deepEqual([view.status, view.exitCode, view.failureReason], ['failed', 3, 'script_failure']);
  assert.equal(await tandem.log(jobId), 'old\n');
  assert.deepEqual(await artifactPaths(jobId), ['old/agent.txt']);
  // Last chunks after the completion, as an older agent's outbox may flush them: still stored.
  assert.equal((await agent.call('POST', `${base}/log`, { fencingToken, chunks: [{ seq: 1, data: 'late\n' }] })).status, 200);
  assert.equal(await tandem.log(jobId), 'old\nlate\n');
});

test('a manifest naming a blob that was never uploaded fails the job as archived_failure, once', async () => {
  const payload = await claimedJob();
  const missing = { path: 'lost.bin', digest: createHash('sha256').update('never uploaded').digest('hex'), size: 14, mode: 0o644 };
  const body = { status: 'success' as const, exitCode: 0, failureReason: null, artifacts: { files: [missing], expireInSeconds: null } };
  const done = await complete(payload, body);
  assert.equal(done.status, 200, done.text);
  const view = await jobView(payload.jobId);
  assert.deepEqual([view.status, view.exitCode, view.failureReason], ['failed', 0, 'archived_failure']);
  assert.deepEqual(await artifactPaths(payload.jobId), []);
  // Repeated, it is answered as the first was and the verdict stands.
  assert.equal((await complete(payload, body)).status, 200);
  assert.equal((await jobView(payload.jobId)).status, 'failed');
});
