// Attack: an agent writes to a job another agent holds. Agent B, with its own valid token, sends
// agent A's job a completion, log chunks, a heartbeat, an artifact manifest, a cache and deploy
// steps, carrying A's fencing token (a small, guessable number that used to be named in 409s). Defence: every
// agent write is checked against the claim's agent and token; B is refused with 409 and the job is
// untouched. The refusals name no fencing token and not the agent holding the job. The holder itself
// may hand in only what the job's pipeline file declares (JUnit reports).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { JobPayload } from '../../src/api/protocol.js';
import { TestTandem, type ApiResponse } from '../support/tandem.js';
import { registerAgent, type ProtocolAgent } from './agent-protocol.js';

let tandem: TestTandem;
let holder: ProtocolAgent;
let intruder: ProtocolAgent;

before(async () => {
  tandem = await TestTandem.start({ agents: 0 });
  holder = await registerAgent(tandem, 'holder');
  intruder = await registerAgent(tandem, 'intruder');
});

after(async () => {
  await tandem.close();
});

/** A job claimed by `holder`. */
async function heldJob(): Promise<JobPayload> {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script:\n    - echo hi\n' });
  await tandem.trigger(name);
  const payload = await holder.claim();
  assert.ok(payload, 'the holder claims the job');
  return payload;
}

function assertRefusedWithoutLeak(res: ApiResponse, what: string): void {
  assert.ok(res.status === 409 || res.status === 403, `${what}: refused (got ${res.status} ${res.text})`);
  assert.doesNotMatch(res.text, /token\D{0,3}\d/i, `${what}: the refusal names no fencing token: ${res.text}`);
  assert.ok(
    !res.text.includes(holder.name) && !res.text.includes(`agent ${holder.id}`),
    `${what}: the refusal does not name the holder: ${res.text}`,
  );
}

test("another agent's writes to a held job (complete, log, heartbeat, artifacts, cache, deploy) are refused and change nothing", async () => {
  const payload = await heldJob();
  const { jobId, fencingToken } = payload;
  const job = `/api/v1/agent/jobs/${jobId}`;

  const attacks: [string, string, string, unknown][] = [
    ['complete', 'POST', `${job}/complete`, { fencingToken, status: 'failed', exitCode: 1, failureReason: null }],
    ['log', 'POST', `${job}/log`, { fencingToken, chunks: [{ seq: 0, data: 'forged line\n' }] }],
    ['heartbeat', 'POST', `${job}/heartbeat`, { fencingToken }],
    ['artifacts', 'POST', `${job}/artifacts`, { fencingToken, expireInSeconds: null, files: [] }],
    ['cache save', 'PUT', `${job}/caches/forged`, { fencingToken, files: [] }],
    ['cache read', 'GET', `${job}/caches/forged?fencingToken=${fencingToken}`, undefined],
    ['release start', 'POST', `${job}/release`, { fencingToken, files: [] }],
    ['release status', 'POST', `${job}/release/status`, { fencingToken, status: 'live' }],
    ['release decision', 'POST', `${job}/release/decision`, { fencingToken }],
  ];
  for (const [what, method, path, body] of attacks) assertRefusedWithoutLeak(await intruder.call(method, path, body), `intruder ${what}`);

  // The holder's own stale or guessed token is refused the same way, without the live one.
  const guessed = await holder.call('POST', `${job}/complete`, {
    fencingToken: fencingToken + 1000,
    status: 'failed',
    exitCode: 1,
    failureReason: null,
  });
  assertRefusedWithoutLeak(guessed, 'holder with a wrong token');

  const view = (await tandem.api<{ status: string; agentId: number | null }>('GET', `/api/v1/jobs/${jobId}`)).body;
  assert.deepEqual([view.status, view.agentId], ['running', holder.id], 'the job is still running under the holder');
  assert.equal(await tandem.log(jobId), '', 'no forged log line');

  // The holder still completes it.
  assert.equal((await holder.call('POST', `${job}/log`, { fencingToken, chunks: [{ seq: 0, data: 'real line\n' }] })).status, 200);
  const done = await holder.call('POST', `${job}/complete`, { fencingToken, status: 'success', exitCode: 0, failureReason: null });
  assert.equal(done.status, 200, done.text);
  assert.equal((await tandem.api<{ status: string }>('GET', `/api/v1/jobs/${jobId}`)).body.status, 'success');
  assert.equal(await tandem.log(jobId), 'real line\n');

  // Nor can the intruder repeat the holder's completion, or append to the finished job's log.
  assertRefusedWithoutLeak(
    await intruder.call('POST', `${job}/complete`, { fencingToken, status: 'success', exitCode: 0, failureReason: null }),
    'intruder repeating the completion',
  );
  assertRefusedWithoutLeak(
    await intruder.call('POST', `${job}/log`, { fencingToken, chunks: [{ seq: 1, data: 'late forged line\n' }] }),
    'intruder appending after completion',
  );
  assert.equal(await tandem.log(jobId), 'real line\n');
});

test('the holder may not hand in JUnit reports for a job that declares none', async () => {
  const { jobId, fencingToken } = await heldJob();
  const res = await holder.call('POST', `/api/v1/agent/jobs/${jobId}/reports/junit`, { fencingToken, files: [] });
  assert.equal(res.status, 403, res.text);
  assert.match(res.text, new RegExp(`job ${jobId} declares no artifacts:reports:junit`));
  const tests = await tandem.api<{ jobs: unknown[] }>('GET', `/api/v1/jobs/${jobId}/tests`);
  assert.deepEqual(tests.body.jobs, [], 'no report stored for the job');
});
