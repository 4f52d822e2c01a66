// Attack: a job (or an agent) floods the server with log: a 629 MB log was stored whole and made
// GET /log fail building one string of it. Defence: the server keeps at most maxJobLogBytes of a
// job's log (here a small cap; the chunk crossing it keeps what fits), appends one truncation notice,
// drops the rest and tells the agent,
// which stops sending; GET /log streams the stored log a page at a time.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { truncationNotice } from '../../src/scheduler/index.js';
import { TestTandem } from '../support/tandem.js';
import { registerAgent } from './agent-protocol.js';

const CAP = 64 * 1024;
const NOTICE = truncationNotice(CAP);

let tandem: TestTandem;

before(async () => {
  tandem = await TestTandem.start({ agents: 0, settings: { maxJobLogBytes: CAP } });
});

after(async () => {
  await tandem.close();
});

/** Log POSTs the server answered so far (all agents, all jobs). */
async function logPosts(): Promise<number> {
  const text = (await tandem.api('GET', '/metrics')).text;
  return text
    .split('\n')
    .filter(
      (l) => l.startsWith('tandem_http_requests_total{') && l.includes('route="/api/v1/agent/jobs/:id/log"') && l.includes('method="POST"'),
    )
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

test('chunks past the cap are dropped with one notice, the agent is told, and a re-sent chunk is not counted twice', async () => {
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script:\n    - echo hi\n' });
  await tandem.trigger(name);
  const agent = await registerAgent(tandem, 'flooder');
  const payload = await agent.claim();
  assert.ok(payload);
  const send = (seq: number, data: string) =>
    agent.call<{ truncated: boolean }>('POST', `/api/v1/agent/jobs/${payload.jobId}/log`, {
      fencingToken: payload.fencingToken,
      chunks: [{ seq, data }],
    });
  const piece = 'x'.repeat(10 * 1024 - 1) + '\n';

  const answers: boolean[] = [];
  for (let seq = 0; seq < 6; seq++) answers.push((await send(seq, piece)).body.truncated);
  // The same chunk again (a lost response): stored once, counted once.
  answers.push((await send(5, piece)).body.truncated);
  for (let seq = 6; seq < 12; seq++) answers.push((await send(seq, piece)).body.truncated);
  assert.deepEqual(answers, [false, false, false, false, false, false, false, true, true, true, true, true, true]);

  const log = await tandem.log(payload.jobId);
  assert.equal(log, piece.repeat(6) + piece.slice(0, CAP - 6 * piece.length) + NOTICE);
  assert.equal(
    (
      await agent.call('POST', `/api/v1/agent/jobs/${payload.jobId}/complete`, {
        fencingToken: payload.fencingToken,
        status: 'success',
        exitCode: 0,
        failureReason: null,
      })
    ).status,
    200,
  );
});

test('a real job printing far more than the cap: its log stops at the cap with the notice, and its agent stops sending', async () => {
  await tandem.addAgent({ name: 'real', concurrency: 1 });
  // 8 bursts of 256 KiB, so an agent that kept sending would post at least once per burst.
  const script =
    'for i in 1 2 3 4 5 6 7 8; do head -c 262144 /dev/zero | tr "\\\\0" "y" | fold -w 1023; echo; sleep 0.3; done; echo finished';
  const { name } = await tandem.repo({ '.gitlab-ci.yml': `job:\n  script:\n    - '${script}'\n` });
  const before = await logPosts();
  const id = await tandem.trigger(name);
  const p = await tandem.waitForPipeline(id, undefined, 60_000);
  assert.equal(p.status, 'success', JSON.stringify(p.jobs));
  const log = await tandem.log(p.jobs[0].id);
  assert.equal(Buffer.byteLength(log), CAP + Buffer.byteLength(NOTICE), 'the log is filled to the cap, then the notice');
  assert.equal(log.split(NOTICE).length, 2, 'the notice appears exactly once');
  assert.ok(log.endsWith(NOTICE), 'nothing after the notice');
  assert.match(log, /yyyy/);
  const posts = (await logPosts()) - before;
  assert.ok(posts <= 4, `the agent stopped sending once told (${posts} log requests for 2 MiB in 8 bursts)`);
});

test('the chunk crossing the cap is cut between characters, never inside one', async () => {
  // Tagged, so the real agent of the test before leaves it to this one.
  const { name } = await tandem.repo({ '.gitlab-ci.yml': 'job:\n  tags: [multibyte]\n  script:\n    - echo hi\n' });
  await tandem.trigger(name);
  const agent = await registerAgent(tandem, 'multibyte', ['multibyte']);
  const payload = await agent.claim();
  assert.ok(payload);
  // 3-byte characters: the cap (a power of two) falls inside one.
  const wide = '€'.repeat(CAP);
  const res = await agent.call<{ truncated: boolean }>('POST', `/api/v1/agent/jobs/${payload.jobId}/log`, {
    fencingToken: payload.fencingToken,
    chunks: [{ seq: 0, data: wide }],
  });
  assert.equal(res.body.truncated, true);
  const log = await tandem.log(payload.jobId);
  assert.equal(log, '€'.repeat(Math.floor(CAP / 3)) + NOTICE);
});
