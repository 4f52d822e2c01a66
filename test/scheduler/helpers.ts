import { afterEach, beforeEach } from 'node:test';
import type { Kysely } from 'kysely';
import { compiledJob } from '../../src/pipeline/jobs.js';
import type { CompiledJob, CompiledPipeline } from '../../src/pipeline/types.js';
import {
  claimJob,
  completeJob,
  createPipeline,
  getPipeline,
  getPipelineRow,
  jobDependencies,
  registerAgent,
  type ClaimedJob,
  type CompleteResult,
  type JobDependencies,
} from '../../src/scheduler/index.js';
import { openStore, type Database, type Store } from '../../src/store/index.js';
import type { Backend } from '../store/helpers.js';

export const T0 = 1_700_000_000_000;

export interface TestDb {
  store: Store;
  /** What openStore was given, for another process to open the same database. */
  url: string;
  repoId: number;
  close(): Promise<void>;
}

/** A repository row (no polling, no secret); its id. */
export async function insertRepoRow(db: Kysely<Database>, name: string, url = `/srv/git/${name}`): Promise<number> {
  const repo = await db
    .insertInto('repos')
    .values({
      name,
      url,
      default_branch: 'main',
      poll_interval_seconds: 0,
      webhook_secret: null,
      known_refs: '{}',
      last_polled_at: null,
      created_at: T0,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return repo.id;
}

/** A user row without a password (an instance admin with `admin`); its id. */
export async function insertUserRow(db: Kysely<Database>, username: string, admin = false): Promise<number> {
  const user = await db
    .insertInto('users')
    .values({
      username,
      email: null,
      password_hash: null,
      admin: admin ? 1 : 0,
      admin_from_groups: 0,
      created_at: T0,
      updated_at: T0,
      last_login_at: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return user.id;
}

/** Agents in every testDb, ids 1 to this: a claim goes only to an agent that exists. */
export const TEST_AGENTS = 16;

/** A fresh database on the backend with one repository row and TEST_AGENTS agents. */
export async function testDb(backend: Backend): Promise<TestDb> {
  const { url, cleanup } = await backend.fresh();
  const store = await openStore(url);
  const repoId = await insertRepoRow(store.db, 'demo');
  for (let i = 1; i <= TEST_AGENTS; i++)
    await registerAgent(store.db, { name: `agent-${i}`, tokenHash: `test-agent-${i}`, tags: [], concurrency: 1, version: 'test', now: 0 });
  return {
    store,
    url,
    repoId,
    async close() {
      await store.close();
      await cleanup();
    },
  };
}

/**
 * A fresh testDb for each test of the enclosing describe (opened before it, closed after it). The
 * object returned reads through to the current test's database.
 */
export function freshTestDb(backend: Backend): TestDb {
  let current: TestDb | undefined;
  beforeEach(async () => {
    current = await testDb(backend);
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  const now = (): TestDb => {
    if (!current) throw new Error('freshTestDb: used outside a test');
    return current;
  };
  return {
    get store() {
      return now().store;
    },
    get url() {
      return now().url;
    },
    get repoId() {
      return now().repoId;
    },
    close: () => now().close(),
  };
}

const STAGES = ['build', 'test', 'deploy', 'cleanup'];

/**
 * A CompiledJob with GitLab's defaults; `stage` defaults to 'build'. Each job is tagged with its own
 * name so that a test can make an agent claim exactly that job.
 */
export function job(name: string, fields: Partial<CompiledJob> = {}): CompiledJob {
  const stage = fields.stage ?? 'build';
  return compiledJob({
    name,
    stage,
    stageIndex: STAGES.indexOf(stage),
    script: ['true'],
    tags: [name],
    position: { file: '.gitlab-ci.yml', line: 1, column: 1 },
    ...fields,
  });
}

export function needs(...names: string[]): CompiledJob['needs'] {
  return names.map((n) => ({ job: n, artifacts: true, optional: false }));
}

export function compiled(jobs: CompiledJob[]): CompiledPipeline {
  return { configPath: '.gitlab-ci.yml', stages: STAGES, variables: { GLOBAL: '1' }, jobs, name: null, warnings: [] };
}

export async function newPipeline(db: TestDb, jobs: CompiledJob[], fields: { ref?: string; now?: number } = {}): Promise<number> {
  return insertPipeline(db.store, db.repoId, compiled(jobs), fields);
}

/** A pipeline of a push to `ref` (default main) in any repository of any store; returns its id. */
export async function insertPipeline(
  store: Store,
  repoId: number,
  pipeline: CompiledPipeline,
  fields: { ref?: string; now?: number } = {},
): Promise<number> {
  const { pipelineId } = await createPipeline(store, {
    repoId,
    ref: fields.ref ?? 'main',
    isTag: false,
    sha: 'a'.repeat(40),
    beforeSha: null,
    source: 'push',
    compiled: pipeline,
    defaultTimeoutSeconds: 3600,
    now: fields.now ?? T0,
  });
  return pipelineId;
}

/** `{name: status}` of the latest attempts, plus the pipeline's status under `$pipeline`. */
export async function statuses(db: TestDb, pipelineId: number): Promise<Record<string, string>> {
  const view = await getPipeline(db.store, pipelineId);
  if (!view) throw new Error(`pipeline ${pipelineId} missing`);
  const out: Record<string, string> = { $pipeline: view.pipeline.status };
  for (const j of view.jobs) if (j.retried === 0) out[j.name] = j.status;
  return out;
}

export async function jobId(db: TestDb, pipelineId: number, name: string): Promise<number> {
  const row = await db.store.db
    .selectFrom('jobs')
    .select('id')
    .where('pipeline_id', '=', pipelineId)
    .where('name', '=', name)
    .where('retried', '=', 0)
    .executeTakeFirstOrThrow();
  return row.id;
}

export const LEASE_MS = 10_000;

/** Claims the named job (it must be pending) with an agent tagged with that name. */
export async function claim(db: TestDb, name: string, now = T0, agentId = 1): Promise<ClaimedJob> {
  const claimed = await claimJob(db.store, { agentId, agentTags: [name], leaseMs: LEASE_MS, now });
  if (!claimed || claimed.job.name !== name) throw new Error(`expected to claim ${name}, got ${claimed?.job.name ?? 'nothing'}`);
  return claimed;
}

/** Completes a claimed job as its agent would, successfully unless told otherwise. */
export function finish(store: Store, claimed: ClaimedJob, now: number, status: 'success' | 'failed' | 'canceled' = 'success') {
  return completeJob(store, {
    jobId: claimed.job.id,
    agentId: claimed.job.agent_id!,
    fencingToken: claimed.fencingToken,
    status,
    exitCode: status === 'success' ? 0 : 1,
    now,
  });
}

/** Claims (at `now`) and completes (at `finishedAt`, default a second later) the named job. */
export async function run(
  db: TestDb,
  name: string,
  status: 'success' | 'failed' | 'canceled',
  fields: { exitCode?: number | null; failureReason?: string; now?: number; finishedAt?: number } = {},
): Promise<CompleteResult> {
  const now = fields.now ?? T0;
  const claimed = await claim(db, name, now);
  return completeJob(db.store, {
    jobId: claimed.job.id,
    agentId: claimed.job.agent_id!,
    fencingToken: claimed.fencingToken,
    status,
    exitCode: fields.exitCode === undefined ? (status === 'success' ? 0 : 1) : fields.exitCode,
    failureReason: fields.failureReason,
    now: fields.finishedAt ?? now + 1000,
  });
}

/** What a job of the pipeline receives from its dependencies (the server passes the claimed row). */
export async function dependenciesOf(store: Store, pipelineId: number, spec: CompiledJob): Promise<JobDependencies> {
  const pipeline = await getPipelineRow(store, pipelineId);
  if (!pipeline) throw new Error(`no pipeline ${pipelineId}`);
  return jobDependencies(store, pipeline, spec);
}
