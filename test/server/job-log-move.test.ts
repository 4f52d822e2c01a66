// A finished job's log leaves the database for the artifact store (src/scheduler/sql/move-log.ts),
// with a real server: the API serves the same text (masked) from the blob, a live tail opened while
// the job ran ends with the whole log exactly once, a tail that reconnects after the move resumes
// from the blob after its Last-Event-ID, a log cut at maxJobLogBytes keeps its one truncation
// notice, and a real agent's job ends with no job_logs rows left. On SQLite and on PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { truncationNotice } from '../../src/scheduler/index.js';
import { logMoverIdle } from '../../src/server/log-mover.js';
import { readSse, until, type SseEvent } from '../e2e/helpers.js';
import { registerAgent, type ProtocolAgent } from '../security/agent-protocol.js';
import { postgresForFile, postgresSkipReason } from '../support/postgres.js';
import { TestTandem } from '../support/tandem.js';

const CAP = 256 * 1024;
const SECRET = 'tdm-log-secret-81c2';

const postgres = postgresForFile(after);
/** The instance of the suite running now (the suites run one after the other). */
let tandem: TestTandem;
let repo: string;

/** Rows left in job_logs for the job, and its blob digest. */
async function stored(jobId: number): Promise<{ rows: number; blob: string | null }> {
  const { db } = tandem.server.ctx.store;
  const rows = await db.selectFrom('job_logs').select('seq').where('job_id', '=', jobId).execute();
  const job = await db.selectFrom('jobs').select('log_blob').where('id', '=', jobId).executeTakeFirstOrThrow();
  return { rows: rows.length, blob: job.log_blob };
}

async function moved(jobId: number): Promise<void> {
  await until(
    `job ${jobId}'s log moved`,
    async () => {
      await logMoverIdle(tandem.server.ctx);
      const s = await stored(jobId);
      return s.blob !== null && s.rows === 0 ? true : undefined;
    },
    15_000,
  );
}

function logOf(events: SseEvent[]): { ids: number[]; text: string } {
  const logs = events.filter((e) => e.event === 'log');
  return { ids: logs.map((e) => Number(e.id)), text: logs.map((e) => e.data as string).join('') };
}

async function startJob(agent: ProtocolAgent) {
  await tandem.trigger(repo);
  const payload = await agent.claim();
  assert.ok(payload);
  const send = async (chunks: { seq: number; data: string }[]) => {
    const res = await agent.call<{ truncated: boolean }>('POST', `/api/v1/agent/jobs/${payload.jobId}/log`, {
      fencingToken: payload.fencingToken,
      chunks,
    });
    assert.equal(res.status, 200, res.text);
    return res.body;
  };
  const complete = async () => {
    const res = await agent.call('POST', `/api/v1/agent/jobs/${payload.jobId}/complete`, {
      fencingToken: payload.fencingToken,
      status: 'success',
      exitCode: 0,
      failureReason: null,
    });
    assert.equal(res.status, 200, res.text);
  };
  return { jobId: payload.jobId, send, complete };
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`job log move (${backend})`, { skip: backend === 'postgres' ? postgresSkipReason() : false }, () => {
    before(async () => {
      const databaseUrl = backend === 'postgres' ? await (await postgres()).createDatabase() : undefined;
      tandem = await TestTandem.start({ agents: 0, settings: { maxJobLogBytes: CAP, ...(databaseUrl ? { databaseUrl } : {}) } });
      repo = (await tandem.repo({ '.gitlab-ci.yml': 'job:\n  script:\n    - echo hi\n' })).name;
      const res = await tandem.api('POST', `/api/v1/repos/${repo}/variables`, { key: 'TOKEN', value: SECRET, masked: true });
      assert.equal(res.status, 201, res.text);
    });

    after(async () => {
      await tandem.close();
    });

    test('the API and live tails serve the same log from the rows while running and from the blob after the move', async () => {
      const agent = await registerAgent(tandem, 'tail-agent');
      const job = await startJob(agent);
      const chunks = Array.from({ length: 10 }, (_, seq) => ({ seq, data: `line ${seq} token ${SECRET}\n` }));
      const expected = chunks.map((c) => c.data.replace(SECRET, '[MASKED]')).join('');
      await job.send(chunks.slice(0, 5));

      const url = `${tandem.url}/api/v1/jobs/${job.jobId}/log/stream`;
      const whole = readSse(url, tandem.token);
      // A client that drops its connection after chunk 4, and comes back once the log moved.
      const early = readSse(url, tandem.token, { stop: (e) => e.id === '4' });
      await whole.opened;
      assert.deepEqual(logOf(await early.events).ids, [0, 1, 2, 3, 4]);
      const running = await tandem.log(job.jobId);
      assert.equal(running, expected.split('\n').slice(0, 5).join('\n') + '\n');

      await job.send(chunks.slice(5));
      await job.complete();
      await moved(job.jobId);

      const followed = await whole.events;
      assert.deepEqual(logOf(followed), { ids: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], text: expected });
      assert.deepEqual(followed.at(-1), { ...followed.at(-1)!, event: 'end', data: { status: 'success' } });

      const resumed = await readSse(url, tandem.token, { lastEventId: '4', timeoutMs: 5000 }).events;
      assert.deepEqual(logOf(resumed), { ids: [5, 6, 7, 8, 9], text: expected.split('\n').slice(5).join('\n') });
      assert.equal(resumed.at(-1)!.event, 'end');
      assert.equal(await tandem.log(job.jobId), expected, 'the full log from the blob, masked');
      assert.ok(!(await tandem.log(job.jobId)).includes(SECRET));

      // The agent re-sending its last chunks (a lost response) after the move stores nothing.
      assert.deepEqual(await job.send(chunks.slice(8)), { ok: true, truncated: false });
      assert.equal((await stored(job.jobId)).rows, 0);
      assert.equal(await tandem.log(job.jobId), expected);
    });

    test('a log cut at maxJobLogBytes keeps its one truncation notice in the blob', async () => {
      const agent = await registerAgent(tandem, 'flood-agent');
      const job = await startJob(agent);
      const piece = 'y'.repeat(60 * 1024 - 1) + '\n';
      const answers: boolean[] = [];
      for (let seq = 0; seq < 8; seq++) answers.push((await job.send([{ seq, data: piece }])).truncated);
      assert.deepEqual(answers, [false, false, false, false, true, true, true, true]);
      await job.complete();
      await moved(job.jobId);
      const log = await tandem.log(job.jobId);
      assert.equal(log, piece.repeat(4) + piece.slice(0, CAP - 4 * piece.length) + truncationNotice(CAP));
      assert.equal(log.split('job log truncated').length, 2, 'one notice');
    });

    test("a real agent's jobs end with their logs in blobs and no rows left", async () => {
      await tandem.addAgent({ name: 'real', concurrency: 2 });
      const { name } = await tandem.repo({
        '.gitlab-ci.yml': `
chatty:
  script:
    - for i in $(seq 1 2000); do echo "chatty line $i"; done
quiet:
  script: [echo one line]
`,
      });
      const p = await tandem.waitForPipeline(await tandem.trigger(name), undefined, 30_000);
      assert.equal(p.status, 'success');
      for (const j of p.jobs) {
        await moved(j.id);
        const log = await tandem.log(j.id);
        if (j.name === 'chatty') {
          assert.match(log, /chatty line 1\n/);
          assert.match(log, /chatty line 2000\n/);
          assert.equal(log.match(/^chatty line \d+$/gm)?.length, 2000);
        } else assert.match(log, /^one line$/m);
      }
    });
  });
}
