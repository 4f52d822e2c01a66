// What one claim costs when one repository floods the queue (issue 21): 2,000 pending jobs in one
// repository and 10 in another, the scheduler's claimJob timed alone (no HTTP, one caller), on SQLite
// and, when installed, PostgreSQL 15 (after ANALYZE, as the claims benchmark measures). Two fleets:
// 'idle' completes each claimed job at once (untimed), so nothing stays running; 'busy' leaves them
// running, as 200 agents that took a job each would. Run from source:
//   npx tsx bench/claim-cost.ts
import { sql } from 'kysely';
import { compiledJob } from '../src/pipeline/jobs.js';
import type { CompiledPipeline } from '../src/pipeline/types.js';
import { claimJob, registerAgent } from '../src/scheduler/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { finish, insertPipeline, insertRepoRow } from '../test/scheduler/helpers.js';
import { postgresAvailable, startPostgres } from '../test/support/postgres.js';
import { fmt, median, percentile, tempDir, timed } from './common.js';

const BIG = 2000;
const SMALL = 10;
const PER_PIPELINE = 100;
const CLAIMS = 200;

function pipelineOf(jobs: number): CompiledPipeline {
  return {
    configPath: '.gitlab-ci.yml',
    stages: ['build'],
    variables: {},
    name: null,
    warnings: [],
    jobs: Array.from({ length: jobs }, (_, i) =>
      compiledJob({
        name: `j${i}`,
        stage: 'build',
        stageIndex: 0,
        script: ['true'],
        position: { file: '.gitlab-ci.yml', line: 1, column: 1 },
      }),
    ),
  };
}

async function fill(store: Store, repoId: number, jobs: number): Promise<void> {
  for (let left = jobs; left > 0; left -= PER_PIPELINE)
    await insertPipeline(store, repoId, pipelineOf(Math.min(PER_PIPELINE, left)), { now: Date.now() });
}

async function measure(name: string, url: string, fleet: 'idle' | 'busy'): Promise<void> {
  const store = await openStore(url);
  try {
    const agentId = await registerAgent(store.db, {
      name: 'bench',
      tokenHash: 'bench',
      tags: [],
      concurrency: 1,
      version: 'bench',
      now: 0,
    });
    const big = await insertRepoRow(store.db, 'big');
    await fill(store, big, BIG);
    const small = await insertRepoRow(store.db, 'small');
    await fill(store, small, SMALL);
    if (store.dialect === 'postgres') await sql`analyze`.execute(store.db);
    const ms: number[] = [];
    const repos: number[] = [];
    for (let i = 0; i < CLAIMS; i++) {
      const claim = await timed(() => claimJob(store, { agentId, agentTags: [], leaseMs: 60_000, now: Date.now() }));
      if (!claim.value) throw new Error(`${name}: the queue ran dry`);
      ms.push(claim.ms);
      repos.push(claim.value.job.repo_id);
      if (fleet === 'idle') await finish(store, claim.value, Date.now());
    }
    const smallAt = repos.flatMap((r, i) => (r === small ? [i + 1] : []));
    console.log(
      `${name}, ${fleet} fleet: claimJob ms p50 ${fmt(median(ms))} p90 ${fmt(percentile(ms, 90))} over ${CLAIMS} claims; ` +
        `the small repository's ${SMALL} jobs were claims ${smallAt.join(',') || 'none'}`,
    );
  } finally {
    await store.close();
  }
}

const sqlite = await tempDir('tandem-claim-cost-');
try {
  await measure('SQLite', `${sqlite.dir}/idle.db`, 'idle');
  await measure('SQLite', `${sqlite.dir}/busy.db`, 'busy');
} finally {
  await sqlite.remove();
}
if (postgresAvailable()) {
  const pg = await startPostgres();
  try {
    await measure('PostgreSQL', await pg.createDatabase(), 'idle');
    await measure('PostgreSQL', await pg.createDatabase(), 'busy');
  } finally {
    await pg.stop();
  }
} else console.log('PostgreSQL: not installed (scripts/services.sh install)');
