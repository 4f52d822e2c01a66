// artifacts:reports:dotenv between jobs: a job's report reaches the jobs that take its artifacts
// (stage order by default, `dependencies`, `needs` unless `artifacts: false`), as GitLab's
// dependency variables do. https://docs.gitlab.com/ee/ci/yaml/artifacts_reports.html#artifactsreportsdotenv
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { claim, dependenciesOf, job, jobId, newPipeline, run, freshTestDb, T0 } from './helpers.js';
import { saveJobDotenv } from '../../src/scheduler/index.js';
import { backends } from '../store/helpers.js';

for (const backend of backends()) {
  describe(`dotenv variables (${backend.name})`, { skip: backend.skip }, () => {
    const db = freshTestDb(backend);

    /** Runs each job to success with its dotenv report; then gives what a job claimed receives. */
    async function reportedThen(
      pipelineId: number,
      reports: [string, Record<string, string>][],
    ): Promise<(name: string) => Promise<Record<string, string>>> {
      for (const [name, variables] of reports) {
        await saveJobDotenv(db.store, await jobId(db, pipelineId, name), variables);
        await run(db, name, 'success');
      }
      return async (name) => {
        const claimed = await claim(db, name, T0 + 5000);
        return (await dependenciesOf(db.store, pipelineId, claimed.spec)).dotenv;
      };
    }

    it('go to later stages, named dependencies and needs with artifacts; a later dependency wins', async () => {
      const pipelineId = await newPipeline(db, [
        job('one'),
        job('two'),
        job('by-stage', { stage: 'test' }),
        job('by-dependency', { stage: 'test', dependencies: ['two'] }),
        job('by-needs', { stage: 'test', needs: [{ job: 'one', artifacts: true, optional: false }] }),
        job('no-artifacts', { stage: 'test', needs: [{ job: 'one', artifacts: false, optional: false }] }),
        job('none', { stage: 'test', dependencies: [] }),
      ]);
      const variablesOf = await reportedThen(pipelineId, [
        ['one', { SHARED: 'one', ONE: '1' }],
        ['two', { SHARED: 'two', TWO: '2' }],
      ]);
      assert.deepEqual(await variablesOf('by-stage'), { SHARED: 'two', ONE: '1', TWO: '2' });
      assert.deepEqual(await variablesOf('by-dependency'), { SHARED: 'two', TWO: '2' });
      assert.deepEqual(await variablesOf('by-needs'), { SHARED: 'one', ONE: '1' });
      assert.deepEqual(await variablesOf('no-artifacts'), {});
      assert.deepEqual(await variablesOf('none'), {});
    });

    it('come from no sibling of a stage by default, but from a named one, a matrix base name, and a needed one', async () => {
      const pipelineId = await newPipeline(db, [
        job('lint 1/2', { baseName: 'lint' }),
        job('lint 2/2', { baseName: 'lint' }),
        job('sibling'),
        job('by-stage'),
        job('by-base-name', { dependencies: ['lint'] }),
        job('by-needs-and-dependencies', {
          needs: [
            { job: 'sibling', artifacts: true, optional: false },
            { job: 'lint 1/2', artifacts: true, optional: false },
          ],
          dependencies: ['sibling'],
        }),
      ]);
      const variablesOf = await reportedThen(pipelineId, [
        ['lint 1/2', { LINT: '1' }],
        ['lint 2/2', { LINT: '2', SECOND: 'yes' }],
        ['sibling', { SIBLING: 'yes' }],
      ]);
      assert.deepEqual(await variablesOf('by-stage'), {});
      assert.deepEqual(await variablesOf('by-base-name'), { LINT: '2', SECOND: 'yes' });
      assert.deepEqual(await variablesOf('by-needs-and-dependencies'), { SIBLING: 'yes' });
    });
  });
}
