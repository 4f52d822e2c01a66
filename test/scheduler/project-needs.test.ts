// `needs:project` in the store (https://docs.gitlab.com/ci/yaml/#needsproject): the artifacts handed
// out are those of the job of the latest successful pipeline of the other repository on the ref;
// GitLab fails the job when there is none, and Tandem's include access rule refuses a fork's
// pipeline any other repository (docs/security.md).
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { insertRepo } from '../../src/repos/index.js';
import { completeJob, createPipeline, claimJob, DependencyUnavailableError, saveJobDotenv } from '../../src/scheduler/index.js';
import type { CompiledJob } from '../../src/pipeline/index.js';
import { backends } from '../store/helpers.js';
import { compiled, dependenciesOf, job, T0, freshTestDb } from './helpers.js';

const use = (ref: string): CompiledJob => job('use', { projectNeeds: [{ project: 'group/other', job: 'build-1', ref, artifacts: true }] });

for (const backend of backends()) {
  describe(backend.name, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);
    let otherId: number;
    beforeEach(async () => {
      const other = await insertRepo(db.store.db, {
        name: 'other',
        path: 'group/other',
        url: '/srv/other',
        defaultBranch: 'main',
        pollIntervalSeconds: 0,
        branchFilter: null,
        tagFilter: null,
        forkPullRequests: 'approval',
        now: T0,
      });
      otherId = other.id;
    });

    /** A pipeline of `other` on `ref` whose job build-1 ends with `status`; returns the job's id. */
    async function otherBuild(ref: string, status: 'success' | 'failed'): Promise<number> {
      await createPipeline(db.store, {
        repoId: otherId,
        ref,
        isTag: false,
        sha: 'b'.repeat(40),
        beforeSha: null,
        source: 'push',
        compiled: compiled([job('build-1')]),
        defaultTimeoutSeconds: 3600,
        now: T0,
      });
      const claimed = await claimJob(db.store, { agentId: 1, agentTags: ['build-1'], leaseMs: 10_000, now: T0 });
      assert.ok(claimed);
      await completeJob(db.store, {
        jobId: claimed.job.id,
        agentId: 1,
        fencingToken: claimed.fencingToken,
        status,
        exitCode: status === 'success' ? 0 : 1,
        now: T0 + 1,
      });
      return claimed.job.id;
    }

    async function ownPipeline(spec: CompiledJob, fork?: boolean): Promise<number> {
      const { pipelineId } = await createPipeline(db.store, {
        repoId: db.repoId,
        ref: fork === undefined ? 'main' : 'refs/merge-requests/1/head',
        isTag: false,
        sha: 'a'.repeat(40),
        beforeSha: null,
        source: fork === undefined ? 'push' : 'merge_request_event',
        mergeRequest: fork === undefined ? undefined : { iid: 1, sourceBranch: 'main', targetBranch: 'main', sourceProject: null, fork },
        compiled: compiled([spec]),
        defaultTimeoutSeconds: 3600,
        now: T0,
      });
      return pipelineId;
    }

    it('the job of the latest successful pipeline on the expanded ref, past a newer failed one', async () => {
      const wanted = await otherBuild('main', 'success');
      await otherBuild('main', 'failed');
      await otherBuild('release', 'success');
      const spec = use('$CI_COMMIT_REF_NAME');
      const deps = (await dependenciesOf(db.store, await ownPipeline(spec), spec)).artifacts;
      assert.deepEqual(
        deps.map((d) => [d.jobId, d.name]),
        [[wanted, 'build-1']],
      );
    });

    it("the other job's dotenv variables are not passed on: its repository may have other members", async () => {
      await saveJobDotenv(db.store, await otherBuild('main', 'success'), { BASH_ENV: '/tmp/evil' });
      const spec = use('main');
      const p = await ownPipeline(spec);
      assert.equal((await dependenciesOf(db.store, p, spec)).artifacts.length, 1);
      assert.deepEqual((await dependenciesOf(db.store, p, spec)).dotenv, {});
    });

    it('artifacts: false hands out nothing and needs no pipeline there', async () => {
      const spec = job('use', { projectNeeds: [{ project: 'group/other', job: 'build-1', ref: 'main', artifacts: false }] });
      assert.deepEqual((await dependenciesOf(db.store, await ownPipeline(spec), spec)).artifacts, []);
    });

    it('no successful job, an unknown repository, or a fork pipeline: the job can not start', async () => {
      const spec = use('main');
      await assert.rejects(dependenciesOf(db.store, await ownPipeline(spec), spec), DependencyUnavailableError);
      await otherBuild('main', 'success');
      const unknown = job('use', { projectNeeds: [{ project: 'group/none', job: 'build-1', ref: 'main', artifacts: true }] });
      await assert.rejects(dependenciesOf(db.store, await ownPipeline(unknown), unknown), /no repository "group\/none"/);
      await assert.rejects(dependenciesOf(db.store, await ownPipeline(spec, true), spec), /a fork's pipeline/);
      // The same repository's own merge request pipeline (not a fork) reaches it.
      assert.equal((await dependenciesOf(db.store, await ownPipeline(spec, false), spec)).artifacts.length, 1);
    });
  });
}
