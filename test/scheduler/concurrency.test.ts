import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { claimJob, claimJobs, getPipeline } from '../../src/scheduler/index.js';
import { backends, exited, firstMessage, forkSibling } from '../store/helpers.js';
import { finish, job, newPipeline, testDb, type TestDb } from './helpers.js';

interface Claim {
  jobId: number;
  token: number;
}

/** No job twice, one token per claim, each claimer's tokens increasing, and the pipeline done. */
async function assertClaimedOnce(db: TestDb, pipelineId: number, perClaimer: Claim[][], jobs: number): Promise<void> {
  const all = perClaimer.flat();
  assert.equal(all.length, jobs, 'every job claimed');
  assert.equal(new Set(all.map((c) => c.jobId)).size, jobs, 'no job claimed twice');
  assert.equal(new Set(all.map((c) => c.token)).size, jobs, 'every claim got its own fencing token');
  for (const mine of perClaimer) {
    assert.deepEqual(
      mine.map((c) => c.token),
      mine.map((c) => c.token).sort((x, y) => x - y),
      'tokens increase for each claimer',
    );
  }
  assert.ok(
    perClaimer.every((mine) => mine.length > 0),
    `every claimer got work (${perClaimer.map((m) => m.length).join(' / ')})`,
  );
  assert.equal((await getPipeline(db.store, pipelineId))?.pipeline.status, 'success');
}

const JOBS = 200;

for (const backend of backends()) {
  describe(backend.name, { skip: backend.skip }, () => {
    it('two processes claiming from one database never get the same job', async (t) => {
      const db = await testDb(backend);
      const children = [1, 2].map((agent) => forkSibling(import.meta.url, 'claim-child', [db.url, String(agent)]));
      try {
        const pipelineId = await newPipeline(
          db,
          Array.from({ length: JOBS }, (_, i) => job(`j${i}`, { tags: [] })),
        );
        await Promise.all(children.map((c) => firstMessage(c)));
        const results = children.map((c) => firstMessage<Claim[]>(c));
        const started = performance.now();
        for (const c of children) c.send('go');
        const [a, b] = await Promise.all(results);
        t.diagnostic(`${backend.name}: ${Math.round((JOBS / (performance.now() - started)) * 1000)} claim+complete/s over two processes`);
        await assertClaimedOnce(db, pipelineId, [a, b], JOBS);
      } finally {
        for (const c of children) if (c.exitCode === null) c.kill();
        await Promise.all(children.map(exited));
        await db.close();
      }
    });
  });
}

const postgres = backends().find((b) => b.name === 'postgres');
describe('postgres: concurrent claimers in one process', { skip: postgres?.skip ?? 'no PostgreSQL backend' }, () => {
  // Claims of one agent, and of several in one transaction as the dispatcher makes them: those hold
  // one resource group's lock while they try another's.
  for (const { claimers, agentsPerClaim } of [
    { claimers: 8, agentsPerClaim: 1 },
    { claimers: 4, agentsPerClaim: 4 },
  ]) {
    it(`${claimers} claimers of ${agentsPerClaim} agent(s) on one pool never share a job, and a resource group never runs two jobs at once`, async (t) => {
      if (!postgres) return;
      const db = await testDb(postgres);
      try {
        // The database itself refuses a second running job in a group, so a broken group check fails loudly.
        await sql`create unique index one_running_per_group on jobs (repo_id, resource_group) where status = 'running'`.execute(
          db.store.db,
        );
        const jobs = Array.from({ length: JOBS }, (_, i) =>
          job(`j${i}`, { tags: [], resourceGroup: i % 2 === 0 ? `group${i % 3}` : null }),
        );
        const pipelineId = await newPipeline(db, jobs);
        let done = 0;
        const deadline = Date.now() + 20_000;
        const claimer = async (agentIds: number[]): Promise<Claim[]> => {
          const mine: Claim[] = [];
          while (done < JOBS && Date.now() < deadline) {
            const { jobs } = await claimJobs(db.store, { agentIds, agentTags: [], leaseMs: 60_000, now: Date.now() });
            const claimed = jobs.filter((c) => c !== null);
            // Nothing free right now: the rest is locked by other claimers or waits for its group.
            if (claimed.length === 0) await sleep(2);
            for (const c of claimed) {
              mine.push({ jobId: c.job.id, token: c.fencingToken });
              await finish(db.store, c, Date.now());
              done++;
            }
          }
          return mine;
        };
        const started = performance.now();
        const perClaimer = await Promise.all(
          Array.from({ length: claimers }, (_, i) => claimer(Array.from({ length: agentsPerClaim }, (_, a) => i * agentsPerClaim + a + 1))),
        );
        t.diagnostic(
          `postgres: ${Math.round((JOBS / (performance.now() - started)) * 1000)} claim+complete/s with ${claimers} claimers of ${agentsPerClaim} in one process`,
        );
        await assertClaimedOnce(db, pipelineId, perClaimer, JOBS);
      } finally {
        await db.close();
      }
    });
  }
});

describe('postgres: a claim re-run after a transient error', { skip: postgres?.skip ?? 'no PostgreSQL backend' }, () => {
  it('reports its changes once and hands out the token of the attempt that committed', async () => {
    if (!postgres) return;
    const db = await testDb(postgres);
    try {
      // The first claim's UPDATE fails with serialization_failure (40001), after the token was taken.
      await sql`create sequence claim_failures`.execute(db.store.db);
      await sql
        .raw(
          `create function fail_first_claim() returns trigger language plpgsql as $$
           begin
             if new.status = 'running' and nextval('claim_failures') = 1 then
               raise exception 'injected conflict' using errcode = '40001';
             end if;
             return new;
           end $$`,
        )
        .execute(db.store.db);
      await sql`create trigger fail_first_claim before update on jobs for each row execute function fail_first_claim()`.execute(
        db.store.db,
      );
      await newPipeline(db, [job('build', { tags: [] })]);

      const claimed = await claimJob(db.store, { agentId: 1, agentTags: [], leaseMs: 60_000, now: Date.now() });
      // A sequence is not rolled back: the failed attempt used token 1 up, and tokens only grow.
      assert.equal(claimed?.fencingToken, 2, 'the retried claim drew a fresh token');
      assert.deepEqual(
        claimed.changes.map((c) => `${c.type}:${c.status}`),
        ['job:running', 'pipeline:running'],
      );
      const [{ nextval }] = (await sql<{ nextval: number }>`select nextval('claim_failures')`.execute(db.store.db)).rows;
      assert.equal(nextval, 3, 'the claim ran twice');
    } finally {
      await db.close();
    }
  });
});
