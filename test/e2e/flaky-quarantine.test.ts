// Flaky tests and quarantine on a real server and agent: a job's JUnit report fails a test on the
// first attempt and passes it on the `retry:` attempt of the same commit, so the test is marked
// flaky; with the repository's quarantine on, a job failing only that test is allowed to fail (the
// pipeline passes, the job says which tests were quarantined), and a job failing a real test too
// still fails the pipeline.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FlakyTestsJson, JobJson } from '../../src/api/index.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

/** `racy` fails on a job's first run at a commit (no marker yet) or when MODE says so; `solid` only with MODE=real. */
const PIPELINE = `
unit:
  retry: 1
  script:
    - mkdir -p reports
    - marker="$MARKER_DIR/$CI_COMMIT_SHA-$MODE"
    - if [ -e "$marker" ] && [ "$MODE" = once ]; then racy=pass; else racy=fail; touch "$marker"; fi
    - if [ "$MODE" = real ]; then solid=fail; else solid=pass; fi
    - |
      {
        echo '<testsuite name="pytest">'
        for t in racy:$racy solid:$solid; do
          name=\${t%%:*}; result=\${t#*:}
          if [ "$result" = pass ]; then echo "<testcase classname=\\"tests.test_app\\" name=\\"test_$name\\"/>"
          else echo "<testcase classname=\\"tests.test_app\\" name=\\"test_$name\\"><failure message=\\"$name broke\\"/></testcase>"; fi
        done
        echo '</testsuite>'
      } > reports/junit.xml
    - test "$racy" = pass && test "$solid" = pass
  artifacts:
    reports:
      junit: reports/junit.xml
`;

describe('flaky tests and quarantine, end to end', () => {
  let tandem: TestTandem;
  let markers: string;
  before(async () => {
    tandem = await TestTandem.start({ agents: 1, concurrency: 2 });
    markers = await mkdtemp(path.join(tandem.dataDir, 'markers-'));
  });
  after(async () => {
    await tandem.close();
  });

  test('a retry that passes marks the test flaky; quarantine allows only flaky-only failures', async () => {
    const { name } = await tandem.repo({ '.gitlab-ci.yml': PIPELINE });
    const run = async (mode: string) =>
      tandem.waitForPipeline(await tandem.trigger(name, { variables: { MARKER_DIR: markers, MODE: mode } }), undefined, 60_000);

    const first = await run('once');
    assert.equal(first.status, 'success', 'the retry passed');
    assert.deepEqual(
      first.jobs.map((j) => [j.attempt, j.status]).sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [1, 'failed'],
        [2, 'success'],
      ],
    );
    const flaky = await tandem.api<FlakyTestsJson>('GET', `/api/v1/repos/${name}/tests/flaky`);
    assert.deepEqual(
      flaky.body.tests.map((t) => [t.name, t.flips, t.lastPipelineId]),
      [['test_racy', 1, first.id]],
    );

    // Quarantine off: a failure of the flaky test alone fails the pipeline.
    const off = await run('always');
    assert.equal(off.status, 'failed');

    assert.equal((await tandem.api('PATCH', `/api/v1/repos/${name}`, { quarantineFlakyTests: true })).status, 200);
    const on = await run('always');
    assert.equal(on.status, 'success', 'only known-flaky tests failed: allowed to fail');
    const job = jobNamed(on, 'unit');
    const shown = await tandem.api<JobJson>('GET', `/api/v1/jobs/${job.id}`);
    assert.deepEqual(
      [shown.body.status, shown.body.allowFailure, shown.body.quarantinedTests],
      ['failed', true, ['tests.test_app.test_racy']],
    );

    const real = await run('real');
    assert.equal(real.status, 'failed', 'a real failure beside the flaky one is not quarantined');
    const realJob = await tandem.api<JobJson>('GET', `/api/v1/jobs/${jobNamed(real, 'unit').id}`);
    assert.deepEqual([realJob.body.allowFailure, realJob.body.quarantinedTests], [false, null]);
  });
});
