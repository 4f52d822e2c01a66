// Job `coverage:` on a real server and agent (SQLite): the agent streams the job's log, the server
// applies the job's regex when the job completes, and the API shows the job's value and the
// pipeline's (the average of its jobs', as GitLab). https://docs.gitlab.com/ci/yaml/#coverage
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { tandem as cli } from '../cli/helpers.js';
import { jobNamed, TestTandem, type JobView } from '../support/tandem.js';

describe('job coverage', () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({ agents: 1, concurrency: 2 });
  });
  after(async () => {
    await tandem.close();
  });

  test('the last match of the log is the job coverage; the pipeline shows the average', async () => {
    const { name } = await tandem.repo({
      '.gitlab-ci.yml': `
unit:
  script:
    - 'echo "Lines: 12%"'
    - 'echo "Lines: 87.5%"'
  coverage: '/Lines: \\d+(?:\\.\\d+)?%/'
integration:
  script: ['echo "Lines: 62.5%"', exit 1]
  allow_failure: true
  coverage: '/Lines: \\d+(?:\\.\\d+)?%/'
plain:
  script: ['echo "Lines: 50%"']
`,
    });
    const p = await tandem.waitForPipeline(await tandem.trigger(name));
    assert.equal(p.status, 'success', p.error ?? JSON.stringify(p.jobs.map((j) => [j.name, j.status])));
    assert.equal(jobNamed(p, 'unit').coverage, 87.5);
    assert.equal(jobNamed(p, 'integration').coverage, 62.5);
    assert.equal(jobNamed(p, 'plain').coverage, null);
    assert.equal(p.coverage, 75);
    const res = await tandem.api<JobView>('GET', `/api/v1/jobs/${jobNamed(p, 'unit').id}`);
    assert.equal(res.body.coverage, 87.5);
    // `tandem run show`: a Coverage line and a coverage column in the jobs table.
    const shown = await cli(['run', 'show', String(p.id), '--server', tandem.url, '--token', tandem.token]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^Coverage 75%$/m);
    assert.match(shown.stdout, /^\d+\s+test\s+unit\s+success\s+1\s+\S+\s+87\.5%/m);
  });
});
