// The readers of stored JSON columns: they read what the current writers write, rows as older
// migrations left them (column defaults, specs from before a field existed), and name table, column
// and row when a value is corrupt.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createPersonalToken } from '../../src/auth/tokens.js';
import { readTokenScopes } from '../../src/auth/columns.js';
import { parseMatcher } from '../../src/monitor/alerting/labels.js';
import { addSilence } from '../../src/monitor/alerting/records.js';
import { applyEvaluation } from '../../src/monitor/alerting/state.js';
import { evaluateBurn, SLI_WINDOWS } from '../../src/monitor/burn.js';
import { readAlertAnnotations, readAlertLabels, readSilenceMatchers, readSloEvaluation } from '../../src/monitor/columns.js';
import { createPipeline, readJobSpec, registerAgent } from '../../src/scheduler/index.js';
import {
  CorruptColumnError,
  openStore,
  readAgentTags,
  readBranchFilter,
  readJobTags,
  readKnownRefs,
  readPipelineMergeRequest,
  readPipelineStages,
  readPipelineVariables,
  readReleaseDeploySpec,
  readReleaseFiles,
  readReleaseTags,
  readTagFilter,
  type Store,
} from '../../src/store/index.js';
import { compiled, job, T0 } from '../scheduler/helpers.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-columns-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withStore<T>(name: string, run: (store: Store) => Promise<T>, migrateTo?: string): Promise<T> {
  const store = await openStore(join(dir, name), migrateTo ? { migrateTo } : {});
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

async function insertRepo(store: Store, fields: { branch_filter?: string; tag_filter?: string } = {}): Promise<number> {
  const row = await store.db
    .insertInto('repos')
    .values({
      name: 'demo',
      url: '/srv/git/demo',
      default_branch: 'main',
      poll_interval_seconds: 0,
      known_refs: '{}',
      created_at: T0,
      ...fields,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

describe('column readers', () => {
  it('read what the current writers write', async () => {
    await withStore('current.db', async (store) => {
      const repoId = await insertRepo(store, { branch_filter: JSON.stringify(['main', 'release/*']), tag_filter: JSON.stringify(['v*']) });
      const repo = await store.db.selectFrom('repos').selectAll().where('id', '=', repoId).executeTakeFirstOrThrow();
      assert.deepEqual(readBranchFilter(repo), ['main', 'release/*']);
      assert.deepEqual(readTagFilter(repo), ['v*']);
      assert.deepEqual(readKnownRefs(repo), {});

      const deploy = job('deploy', {
        stage: 'deploy',
        environment: { name: 'production', action: 'start', extra: {} },
        deploy: { target: { kind: 'local', path: '/srv/app' } },
        inheritVariables: ['GLOBAL'],
        idTokens: { ID_TOKEN: { aud: 'https://cloud.example' } },
        artifacts: { name: 'site', paths: ['dist/'], exclude: [], untracked: false, when: 'on_success', expireInSeconds: null },
        cache: [
          {
            key: { files: ['package-lock.json'] },
            paths: ['node_modules/'],
            policy: 'pull-push',
            when: 'on_success',
            untracked: false,
            fallbackKeys: [],
          },
        ],
      });
      const mergeRequest = { iid: 7, sourceBranch: 'feature', targetBranch: 'main', sourceProject: 'fork/demo', fork: true };
      const { pipelineId } = await createPipeline(store, {
        repoId,
        ref: 'refs/pull/7/head',
        isTag: false,
        sha: 'a'.repeat(40),
        beforeSha: null,
        source: 'merge_request_event',
        compiled: compiled([job('build'), deploy]),
        mergeRequest,
        defaultTimeoutSeconds: 3600,
        now: T0,
      });
      const pipeline = await store.db.selectFrom('pipelines').selectAll().where('id', '=', pipelineId).executeTakeFirstOrThrow();
      assert.deepEqual(readPipelineStages(pipeline), ['build', 'test', 'deploy', 'cleanup']);
      assert.deepEqual(readPipelineVariables(pipeline), { GLOBAL: '1' });
      assert.deepEqual(readPipelineMergeRequest(pipeline), mergeRequest);
      const stored = await store.db.selectFrom('jobs').selectAll().where('name', '=', 'deploy').executeTakeFirstOrThrow();
      assert.deepEqual(readJobSpec(stored), deploy);
      assert.deepEqual(readJobTags(stored), ['deploy']);

      const agentId = await registerAgent(store.db, {
        name: 'a1',
        tokenHash: 'h',
        tags: ['linux', 'docker'],
        concurrency: 1,
        version: '1.0.0',
        now: T0,
      });
      const agent = await store.db.selectFrom('agents').selectAll().where('id', '=', agentId).executeTakeFirstOrThrow();
      assert.deepEqual(readAgentTags(agent), ['linux', 'docker']);

      const user = await store.db
        .insertInto('users')
        .values({ username: 'ada', email: null, password_hash: null, admin: 0, admin_from_groups: 0, created_at: T0, updated_at: T0 })
        .returning('id')
        .executeTakeFirstOrThrow();
      const token = await createPersonalToken(store.db, {
        userId: user.id,
        name: 'ci',
        scopes: ['read_api', 'api'],
        expiresAt: null,
        now: T0,
      });
      const tokenRow = await store.db.selectFrom('tokens').selectAll().where('id', '=', token.id).executeTakeFirstOrThrow();
      assert.deepEqual(readTokenScopes(tokenRow), ['read_api', 'api']);

      const matchers = [parseMatcher('severity=page'), parseMatcher('alertname=~Tandem.*')];
      const silence = await addSilence(store.db, { matchers, startsAt: T0, endsAt: T0 + 60_000, comment: '', createdBy: 'ada', now: T0 });
      assert.deepEqual(readSilenceMatchers(silence), matchers);

      const [change] = await applyEvaluation(store, {
        now: T0,
        route: () => [],
        sources: [
          { source: 'test', conditions: [{ name: 'Burning', severity: 'page', labels: { slo: 'api' }, annotations: { summary: 'hot' } }] },
        ],
      });
      assert.deepEqual(readAlertLabels(change.alert), { alertname: 'Burning', severity: 'page', slo: 'api' });
      assert.deepEqual(readAlertAnnotations(change.alert), { summary: 'hot' });

      const counts = { errors: 1, total: 1000 };
      const evaluation = evaluateBurn(99.9, '30d', {
        windows: Object.fromEntries(SLI_WINDOWS.map((w) => [w, counts])) as never,
        period: counts,
      });
      assert.deepEqual(readSloEvaluation({ slo: 'api', evaluation: JSON.stringify(evaluation) }), evaluation);
    });
  });

  it('read rows as older migrations left them', async () => {
    const name = 'old.db';
    const spec = job('build');
    // A spec stored before deployments (migration 003) has no `deploy`; optional keys are absent.
    const { deploy: _deploy, ...oldSpec } = spec;
    await withStore(
      name,
      async (store) => {
        await sql`insert into repos (name, url, default_branch, created_at) values ('demo', '/srv/git/demo', 'main', ${T0})`.execute(
          store.db,
        );
        await sql`insert into pipelines (repo_id, ref, sha, source, status, created_at) values (1, 'main', ${'a'.repeat(40)}, 'push', 'pending', ${T0})`.execute(
          store.db,
        );
        await sql`insert into jobs (pipeline_id, repo_id, name, stage, stage_index, status, spec, timeout_seconds, created_at)
                  values (1, 1, 'build', 'build', 0, 'pending', ${JSON.stringify(oldSpec)}, 3600, ${T0})`.execute(store.db);
        await sql`insert into agents (name, token_hash, created_at) values ('a1', 'h', ${T0})`.execute(store.db);
        await sql`insert into tokens (name, kind, token_hash, created_at) values ('old', 'personal', 'th', ${T0})`.execute(store.db);
      },
      '001_initial',
    );
    await withStore(name, async (store) => {
      const repo = await store.db.selectFrom('repos').selectAll().executeTakeFirstOrThrow();
      assert.deepEqual(readKnownRefs(repo), {});
      assert.equal(readBranchFilter(repo), null);
      assert.equal(readTagFilter(repo), null);
      const pipeline = await store.db.selectFrom('pipelines').selectAll().executeTakeFirstOrThrow();
      assert.deepEqual(readPipelineStages(pipeline), []);
      assert.deepEqual(readPipelineVariables(pipeline), {});
      assert.equal(readPipelineMergeRequest(pipeline), null);
      const stored = await store.db.selectFrom('jobs').selectAll().executeTakeFirstOrThrow();
      assert.deepEqual(readJobTags(stored), []);
      const read = readJobSpec(stored);
      assert.equal(read.deploy, null);
      assert.equal(read.inheritVariables, undefined);
      assert.equal(read.idTokens, undefined);
      assert.deepEqual(read, spec);
      const agent = await store.db.selectFrom('agents').selectAll().executeTakeFirstOrThrow();
      assert.deepEqual(readAgentTags(agent), []);
      const token = await store.db.selectFrom('tokens').selectAll().executeTakeFirstOrThrow();
      assert.deepEqual(readTokenScopes(token), ['api']);
    });
  });

  it('keep keys they do not know and leave out scopes that no longer exist', () => {
    const spec = { ...job('build'), laterField: { kept: true } };
    assert.deepEqual(readJobSpec({ id: 1_000_001, spec: JSON.stringify(spec) }), spec);
    assert.deepEqual(readTokenScopes({ id: 1, scopes: '["api","retired_scope"]' }), ['api']);
    const files = [{ path: 'index.html', digest: 'd'.repeat(64), size: 3, mode: 0o644 }];
    const release = { id: 3, files: JSON.stringify(files), deploy_spec: '{}', tags: '["edge"]' };
    assert.deepEqual(readReleaseFiles(release), files);
    assert.deepEqual(readReleaseDeploySpec(release), {});
    assert.deepEqual(readReleaseTags(release), ['edge']);
  });

  it('name table, column and row when a value is corrupt', () => {
    const failure = (read: () => unknown, message: RegExp) =>
      assert.throws(read, (err: unknown) => err instanceof CorruptColumnError && message.test(err.message));
    failure(
      () => readJobSpec({ id: 1_000_002, spec: JSON.stringify({ ...job('build'), when: 'sometimes' }) }),
      /^jobs\.spec of row 1000002 is corrupt: .*when/s,
    );
    failure(() => readPipelineStages({ id: 12, stages: '["build"' }), /^pipelines\.stages of row 12 is corrupt: /);
    failure(() => readJobTags({ id: 5, tags: '{"a":1}' }), /^jobs\.tags of row 5 is corrupt: /);
    failure(() => readPipelineMergeRequest({ id: 9, merge_request: '{"iid":"7"}' }), /^pipelines\.merge_request of row 9 is corrupt: /);
    failure(() => readAlertLabels({ id: 4, labels: '{"a":1}' }), /^alerts\.labels of row 4 is corrupt: /);
    failure(() => readSloEvaluation({ slo: 'api', evaluation: '{}' }), /^slo_evaluations\.evaluation of row api is corrupt: /);
  });
});
