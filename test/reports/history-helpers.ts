// Pipelines of one `unit` job whose JUnit report the test chooses, run as an agent runs them: claim,
// hand in the report while holding the job, complete. Shared by the store and the API tests of
// test history.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FsBlobStore } from '../../src/artifacts/index.js';
import { saveJunitReports, testCaseKey } from '../../src/reports/index.js';
import { completeJob, createPipeline, registerAgent } from '../../src/scheduler/index.js';
import type { Store } from '../../src/store/index.js';
import { claim, compiled, job, type TestDb } from '../scheduler/helpers.js';

export type Plan = Record<string, 'pass' | 'fail'>;

/** A pytest-style report: each case passes, or fails with a message naming it. */
export function report(cases: Plan, suite = 'pytest'): string {
  const body = Object.entries(cases)
    .map(([name, r]) =>
      r === 'pass'
        ? `<testcase classname="tests.test_app" name="${name}" time="0.01"/>`
        : `<testcase classname="tests.test_app" name="${name}" time="0.01"><failure message="${name} broke">trace</failure></testcase>`,
    )
    .join('');
  return `<testsuites><testsuite name="${suite}">${body}</testsuite></testsuites>`;
}

export const caseKey = (name: string) => testCaseKey({ suite: 'pytest', classname: 'tests.test_app', name });
export const sha = (n: number) => n.toString(16).padStart(40, '0');

export function historyRunner(blobs: FsBlobStore, target: { store: Store; repoId: number }) {
  const db = target as TestDb;
  // Claims go only to an agent that exists; the server's own store (test-history.test.ts) has none.
  let agentId: number | undefined;
  return {
    async pipeline(commit: string, now: number, ref = 'main'): Promise<number> {
      const { pipelineId } = await createPipeline(target.store, {
        repoId: target.repoId,
        ref,
        isTag: false,
        sha: commit,
        beforeSha: null,
        source: 'push',
        // Agents hand in only the reports a job declares, and the server reads them only then.
        compiled: compiled([
          job('unit', {
            artifacts: { paths: [], exclude: [], untracked: false, when: 'always', expireInSeconds: null, junit: ['report.xml'] },
          }),
        ]),
        defaultTimeoutSeconds: 3600,
        now,
      });
      return pipelineId;
    },
    /** Claims the pending `unit` job, hands in its report (`xml`, else made from `cases`), completes it. */
    async runUnit(cases: Plan, now: number, opts: { xml?: string; exitCode?: number } = {}) {
      agentId ??= await registerAgent(target.store.db, {
        name: 'history-runner',
        tokenHash: `history-runner-${randomUUID()}`,
        tags: ['unit'],
        concurrency: 1,
        version: 'test',
        now,
      });
      const claimed = await claim(db, 'unit', now, agentId);
      const info = await blobs.put(Readable.from([Buffer.from(opts.xml ?? report(cases))]));
      await saveJunitReports(target.store, {
        jobId: claimed.job.id,
        files: [{ path: 'report.xml', digest: info.digest, size: info.size }],
        open: (d) => blobs.get(d),
        now,
      });
      const exitCode = opts.exitCode ?? (Object.values(cases).includes('fail') ? 1 : 0);
      const done = await completeJob(target.store, {
        jobId: claimed.job.id,
        agentId: claimed.job.agent_id!,
        fencingToken: claimed.fencingToken,
        status: exitCode === 0 ? 'success' : 'failed',
        exitCode,
        now: now + 1000,
      });
      return done.job;
    },
  };
}
