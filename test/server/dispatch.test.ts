// Dispatch to waiting agents on a real server (SQLite): agents speak the agent protocol by hand, so
// the test sees each long-poll. Waiting costs the database nothing per agent; queued jobs wake as
// many waiters as there are jobs, each claimed once, with about one claim attempt per job.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Dispatcher } from '../../src/server/dispatcher.js';
import type { ClaimedJob } from '../../src/scheduler/index.js';
import { TestTandem } from '../support/tandem.js';
import { sampleSum } from '../monitor/scrape.js';

interface Poll {
  agent: number;
  done: boolean;
  result: Promise<{ status: number; jobId: number | null; name: string | null }>;
}

describe('dispatch to waiting agents', () => {
  let tandem: TestTandem;
  const controllers: AbortController[] = [];
  const scrape = async () => (await tandem.api('GET', '/metrics')).text;
  const statements = (text: string) => sampleSum(text, 'tandem_db_query_duration_seconds_count');
  const attempts = (text: string, result: string) => sampleSum(text, 'tandem_job_claim_attempts_total', { result });

  before(async () => {
    tandem = await TestTandem.start({ agents: 0 });
  });
  after(async () => {
    for (const c of controllers) c.abort();
    await tandem.close();
  });

  async function registerAgents(count: number, tags: string[]): Promise<string[]> {
    const tokens: string[] = [];
    for (let i = 0; i < count; i++) {
      const res = await tandem.api<{ token: string }>('POST', '/api/v1/agents', { name: `waiter-${tags.join('-')}-${i}`, tags });
      assert.equal(res.status, 201);
      tokens.push(res.body.token);
    }
    return tokens;
  }

  function poll(token: string, agent: number, waitMs: number): Poll {
    const controller = new AbortController();
    controllers.push(controller);
    const p: Poll = { agent, done: false, result: Promise.resolve({ status: 0, jobId: null, name: null }) };
    p.result = (async () => {
      const res = await fetch(`${tandem.url}/api/v1/agent/jobs/request`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ waitMs }),
        signal: controller.signal,
      }).catch(() => null);
      p.done = true;
      if (!res) return { status: 0, jobId: null, name: null };
      if (res.status !== 200) return { status: res.status, jobId: null, name: null };
      const body = (await res.json()) as { jobId: number; job: { name: string } };
      return { status: 200, jobId: body.jobId, name: body.job.name };
    })();
    return p;
  }

  /** Statements per second over `ms`, and the claim attempts that ended empty meanwhile. */
  async function idleCost(ms: number): Promise<{ perSecond: number; empty: number }> {
    const t0 = await scrape();
    await sleep(ms);
    const t1 = await scrape();
    return { perSecond: ((statements(t1) - statements(t0)) * 1000) / ms, empty: attempts(t1, 'empty') - attempts(t0, 'empty') };
  }

  test('waiting agents cost no statements of their own; a burst of jobs wakes as many of them as there are jobs', async () => {
    const plain = await registerAgents(30, []);
    const gpu = await registerAgents(2, ['gpu']);
    // Let registration's writes and the server's start-up duties settle.
    await sleep(1500);
    const alone = await idleCost(3000);

    const polls = [...plain.map((t, i) => poll(t, i, 30_000)), ...gpu.map((t, i) => poll(t, 100 + i, 30_000))];
    await sleep(1500);
    assert.ok(
      polls.every((p) => !p.done),
      `no job is queued: every request still waits; answered: ${JSON.stringify(await Promise.all(polls.filter((p) => p.done).map((p) => p.result)))}`,
    );
    const waiting = await idleCost(3000);
    // The old loop claimed once a second per waiter (3 statements each): 32 waiters, ~96 a second.
    assert.ok(
      waiting.perSecond - alone.perSecond < 12,
      `32 waiting agents added ${(waiting.perSecond - alone.perSecond).toFixed(1)} statements/s (alone ${alone.perSecond.toFixed(1)}/s)`,
    );
    // Repair rounds: about one a second, each one claim per tag set (two here).
    assert.ok(waiting.empty <= 10, `${waiting.empty} empty claim attempts in 3 s`);

    const before = await scrape();
    const { name } = await tandem.repo({
      '.gitlab-ci.yml':
        [1, 2, 3, 4, 5].map((i) => `plain-${i}:\n  script: [echo ${i}]\n`).join('') + 'gpu-1:\n  tags: [gpu]\n  script: [nvidia]\n',
    });
    await tandem.trigger(name);
    const answered = async () => polls.filter((p) => p.done).length;
    for (let i = 0; i < 100 && (await answered()) < 6; i++) await sleep(100);
    await sleep(1000);
    const done = polls.filter((p) => p.done);
    assert.equal(done.length, 6, 'six jobs wake six waiters, the rest wait on');
    const results = await Promise.all(done.map((p) => p.result));
    assert.ok(
      results.every((r) => r.status === 200),
      JSON.stringify(results),
    );
    assert.equal(new Set(results.map((r) => r.jobId)).size, 6, 'each job handed out once');
    const gpuJob = done.find((p) => p.agent >= 100);
    assert.ok(gpuJob, 'the gpu job goes to a gpu agent');
    assert.equal((await gpuJob.result).name, 'gpu-1');
    const after = await scrape();
    assert.equal(attempts(after, 'claimed') - attempts(before, 'claimed'), 6);
    console.log(
      `# dispatch: alone ${alone.perSecond.toFixed(1)} statements/s, 32 waiting ${waiting.perSecond.toFixed(1)}/s, ${waiting.empty} empty claims in 3 s`,
    );
    const perJob = (attempts(after, 'claimed') + attempts(after, 'empty') - attempts(before, 'claimed') - attempts(before, 'empty')) / 6;
    assert.ok(perJob <= 2.5, `${perJob.toFixed(2)} claim attempts per job`);
    console.log(`# dispatch: 6 jobs to 32 waiters, ${perJob.toFixed(2)} claim attempts per job`);
  });
  test('an agent renewing its long-poll reads nothing: its token and tags are held by the replica', async () => {
    const tokens = await registerAgents(16, ['renew']);
    const stop = new AbortController();
    let requests = 0;
    const renewing = tokens.map(async (token, i) => {
      while (!stop.signal.aborted) {
        const { status } = await poll(token, 200 + i, 200).result;
        assert.ok(status === 204 || stop.signal.aborted, `a renewal answered ${status}`);
        requests++;
      }
    });
    await sleep(1500);
    const counted = requests;
    const cost = await idleCost(3000);
    const renewals = requests - counted;
    stop.abort();
    await Promise.all(renewing);
    const alone = (await idleCost(2000)).perSecond;
    console.log(`# dispatch: ${renewals} renewals in 3 s cost ${(cost.perSecond - alone).toFixed(1)} statements/s, ${cost.empty} claims`);
    assert.ok(renewals >= 100, `${renewals} renewals`);
    // Each renewal once read the token and the agent's row and made a claim: 3 statements or more
    // apiece. What remains is the noise of the server's own duties (alert evaluation, scrapes).
    const perRenewal = ((cost.perSecond - alone) * 3) / renewals;
    assert.ok(perRenewal < 0.25, `${renewals} renewals added ${(cost.perSecond - alone).toFixed(1)} statements/s`);
    assert.equal(cost.empty, 0, 'no work was announced: no claim');
  });

  test("a removed agent's wait ends and its token is refused at once; new tags end a wait too", async () => {
    const [removed, retagged] = await registerAgents(2, ['moving']);
    const agents = (await tandem.api<{ id: number; name: string }[]>('GET', '/api/v1/agents')).body;
    const idOf = (i: number) => agents.find((a) => a.name === `waiter-moving-${i}`)!.id;
    const waits = [poll(removed, 300, 30_000), poll(retagged, 301, 30_000)];
    await sleep(300);
    const started = Date.now();
    assert.equal((await tandem.api('DELETE', `/api/v1/agents/${idOf(0)}`)).status, 204);
    assert.equal((await waits[0].result).status, 204);
    const next = await fetch(`${tandem.url}/api/v1/agent/jobs/request`, {
      method: 'POST',
      headers: { authorization: `Bearer ${removed}`, 'content-type': 'application/json' },
      body: '{"waitMs":0}',
    });
    assert.equal(next.status, 401, 'the removed agent is refused');
    assert.equal((await tandem.api('PATCH', `/api/v1/agents/${idOf(1)}`, { tags: ['moved'] })).status, 200);
    assert.equal((await waits[1].result).status, 204, 'the retagged agent asks again');
    assert.ok(Date.now() - started < 5000, `both waits ended in ${Date.now() - started} ms`);
    const { name } = await tandem.repo({ '.gitlab-ci.yml': 'moved:\n  tags: [moved]\n  script: [echo]\n' });
    await tandem.trigger(name);
    const got = await poll(retagged, 301, 10_000).result;
    assert.equal(got.name, 'moved', 'its next request claims with the new tags');
  });
});

describe('a draining replica', () => {
  test('ends its waits with 503 and Retry-After, so agents move to another server instead of asking it again', async () => {
    const tandem = await TestTandem.start({ agents: 0 });
    let closed = false;
    try {
      const res = await tandem.api<{ token: string }>('POST', '/api/v1/agents', { name: 'drained', tags: [] });
      const request = () =>
        fetch(`${tandem.url}/api/v1/agent/jobs/request`, {
          method: 'POST',
          headers: { authorization: `Bearer ${res.body.token}`, 'content-type': 'application/json' },
          body: '{"waitMs":30000}',
        });
      const waiting = request();
      await sleep(300);
      const closing = tandem.close();
      closed = true;
      const answer = await waiting;
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('retry-after'), '1');
      assert.match(((await answer.json()) as { message: string }).message, /draining: ask another server/);
      await closing;
    } finally {
      if (!closed) await tandem.close();
    }
  });
});

describe('Dispatcher', () => {
  /**
   * A dispatcher over a queue of job ids in memory (all untagged unless `pendingTags` says); each
   * claim takes `claimMs`. `claims`: the agents claimed for, in order; `mostAtOnce`: the most claims under way together.
   */
  function over(
    queue: number[],
    claimMs = 0,
    opts: { repairMs?: number; pendingTags?: () => string[][]; claimLanes?: number; claimBatch?: number; removed?: Set<number> } = {},
  ) {
    const claims: number[] = [];
    const batches: number[][] = [];
    let listings = 0;
    let inFlight = 0;
    let most = 0;
    const dispatcher = new Dispatcher({
      claim: async (agentIds) => {
        claims.push(...agentIds);
        batches.push(agentIds);
        most = Math.max(most, ++inFlight);
        if (claimMs) await sleep(claimMs);
        inFlight--;
        let exhausted = false;
        const jobs = agentIds.map((agentId) => {
          if (exhausted || opts.removed?.has(agentId)) return null;
          const id = queue.shift();
          exhausted = id === undefined;
          return id === undefined ? null : ({ job: { id } } as unknown as ClaimedJob);
        });
        return { jobs, exhausted };
      },
      pendingTagSets: async () => {
        listings++;
        return opts.pendingTags?.() ?? queue.map(() => []);
      },
      markSeen: async () => undefined,
      onAttempt: () => undefined,
      onError: (err) => assert.fail(err as Error),
      claimLanes: opts.claimLanes ?? 1,
      claimBatch: opts.claimBatch ?? 1,
      repairMs: opts.repairMs ?? 60_000,
      seenMs: 60_000,
    });
    return { dispatcher, claims, batches, listings: () => listings, mostAtOnce: () => most };
  }

  test('a wait that runs out while a claim for it is under way still gets the job', async () => {
    const queue: number[] = [];
    const { dispatcher } = over(queue, 200);
    const waited = dispatcher.wait(1, [], 100, new AbortController().signal);
    queue.push(7);
    dispatcher.wake();
    const got = await waited;
    assert.equal(got?.job.id, 7, 'the job claimed for the agent reaches it');
    await dispatcher.stop();
  });

  test('one empty claim answers for every waiter with the same tags; stop ends the waits', async () => {
    const { dispatcher, claims } = over([]);
    const signal = new AbortController().signal;
    const waits = [1, 2, 3].map((agent) => dispatcher.wait(agent, ['a', 'b'], 10_000, signal));
    const other = dispatcher.wait(4, ['b', 'c'], 10_000, signal);
    await sleep(50);
    assert.deepEqual(claims, [1, 4], 'one claim per tag set');
    assert.equal(dispatcher.waiting, 4);
    await dispatcher.stop();
    assert.deepEqual(await Promise.all([...waits, other]), [null, null, null, null]);
  });

  test('with one lane, claims are made one at a time, oldest waiter first, and a waiter arriving meanwhile is served in the same round', async () => {
    const { dispatcher, claims, mostAtOnce } = over([1, 2, 3, 4, 5], 20);
    const signal = new AbortController().signal;
    const first = [10, 11, 12, 13].map((agent) => dispatcher.wait(agent, [], 10_000, signal));
    await sleep(30);
    const late = dispatcher.wait(14, [], 10_000, signal);
    const got = await Promise.all([...first, late]);
    assert.deepEqual(
      got.map((j) => j?.job.id),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(claims, [10, 11, 12, 13, 14]);
    assert.equal(mostAtOnce(), 1, 'never two claims at once');
    await dispatcher.stop();
  });

  test('with three lanes, at most three claims are under way and every waiter gets a job', async () => {
    const { dispatcher, claims, mostAtOnce } = over([1, 2, 3, 4, 5, 6, 7], 20, { claimLanes: 3 });
    const signal = new AbortController().signal;
    const got = await Promise.all([10, 11, 12, 13, 14, 15, 16].map((agent) => dispatcher.wait(agent, [], 10_000, signal)));
    assert.deepEqual(got.map((j) => j?.job.id).sort(), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(mostAtOnce(), 3);
    assert.deepEqual(claims.slice(0, 3), [10, 11, 12], 'the oldest waiters first');
    await dispatcher.stop();
  });

  test('one claim serves up to claimBatch waiters in a row with the same tags; running out leaves the rest waiting', async () => {
    const queue = [1, 2, 3, 4, 5];
    const { dispatcher, batches } = over(queue, 20, { claimBatch: 3, removed: new Set([12]) });
    const signal = new AbortController().signal;
    const waits = [
      [10, ['a']],
      [11, ['a']],
      [12, ['a']],
      [13, ['a']],
      [14, ['b']],
      [15, ['a']],
      [16, ['a']],
    ].map(([agent, tags]) => dispatcher.wait(agent as number, tags as string[], 300, signal));
    const got = await Promise.all(waits);
    // The first waiter starts a round at once, alone; the others arrive during its claim.
    assert.deepEqual(
      batches,
      [[10], [11, 12, 13], [14], [15, 16]],
      'consecutive waiters with the same tags share a claim; another tag set ends the batch',
    );
    // 12 was removed meanwhile: no job, and the queue is not taken for empty. 16 found it empty.
    assert.deepEqual(
      got.map((j) => j?.job.id ?? null),
      [1, 2, null, 3, 4, 5, null],
    );
    await dispatcher.stop();
  });

  test('work announced after an empty claim starts a round for the next waiter', async () => {
    const queue: number[] = [];
    const { dispatcher, claims } = over(queue);
    assert.equal(await dispatcher.wait(5, [], 30, new AbortController().signal), null);
    assert.deepEqual(claims, [5]);
    queue.push(9);
    dispatcher.wake(); // nobody waits now
    const got = await dispatcher.wait(5, [], 10_000, new AbortController().signal);
    assert.equal(got?.job.id, 9);
    assert.deepEqual(claims, [5, 5]);
    await dispatcher.stop();
  });

  test('an agent asking again costs no claim until work is announced', async () => {
    const queue: number[] = [];
    const { dispatcher, claims } = over(queue);
    const signal = new AbortController().signal;
    assert.equal(await dispatcher.wait(1, ['a'], 20, signal), null);
    assert.equal(await dispatcher.wait(2, ['a'], 20, signal), null, 'same tags: answered without a claim');
    assert.equal(await dispatcher.wait(3, ['b'], 20, signal), null);
    assert.deepEqual(claims, [1, 3], 'one claim per tag set');
    queue.push(4);
    dispatcher.wake(); // nobody waits: the round has nothing to do, but the announcement counts
    assert.equal((await dispatcher.wait(1, ['a'], 1000, signal))?.job.id, 4);
    assert.deepEqual(claims, [1, 3, 1]);
    await dispatcher.stop();
  });

  test('the repair starts a round only when a pending job fits a waiting agent', async () => {
    let pending: string[][] = [];
    const queue: number[] = [];
    const { dispatcher, claims, listings } = over(queue, 0, { repairMs: 50, pendingTags: () => pending });
    const signal = new AbortController().signal;
    const waited = dispatcher.wait(1, ['linux'], 10_000, signal);
    await sleep(20);
    assert.deepEqual(claims, [1], 'a new waiter is tried once');
    // Queued without an announcement (the mock's claim ignores tags: the repair alone decides).
    queue.push(11);
    pending = [['gpu']];
    await sleep(300);
    assert.ok(listings() >= 3, `${listings()} repairs listed the pending jobs' tags`);
    assert.deepEqual(claims, [1], 'a gpu job fits no linux agent: no claim');
    pending = [['linux']];
    assert.equal((await waited)?.job.id, 11, 'a job that fits is claimed by the next repair');
    await dispatcher.stop();
  });

  test("release ends an agent's waits without a job", async () => {
    const { dispatcher } = over([]);
    const signal = new AbortController().signal;
    const mine = dispatcher.wait(1, [], 10_000, signal);
    const other = dispatcher.wait(2, [], 10_000, signal);
    dispatcher.release(1);
    assert.equal(await mine, null);
    assert.equal(dispatcher.waiting, 1, "another agent's wait goes on");
    await dispatcher.stop();
    assert.equal(await other, null);
  });
});
