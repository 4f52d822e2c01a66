// artifacts:reports:junit on a real server and agent: the job writes reports (pytest's, Surefire's,
// one malformed), the agent uploads the files, the server reads them and the API and `tandem run
// tests` show the failures first; a malformed report is shown with its position and does not change
// the job's result; no matching file is a warning in the log, as in GitLab.
// https://docs.gitlab.com/ci/testing/unit_test_reports/
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestReportJson } from '../../src/api/index.js';
import { tandem as cli } from '../cli/helpers.js';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { PYTEST, SUREFIRE } from '../reports/junit-fixtures.js';

describe('artifacts:reports:junit', () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({ agents: 1, concurrency: 2 });
  });
  after(async () => {
    await tandem.close();
  });

  test('the server reads the reports a job writes; API and CLI show failures first', async () => {
    const { name } = await tandem.repo({
      'fixtures/pytest.xml': PYTEST,
      'fixtures/surefire.xml': SUREFIRE,
      '.gitlab-ci.yml': `
stages: [build, test]
python:
  stage: test
  script:
    - mkdir -p reports
    - cp fixtures/pytest.xml reports/pytest.xml
    - 'printf "<testsuite>\\n  <testcase name=\\"x\\">\\n</testsuite>\\n" > reports/broken.xml'
    - exit 1
  artifacts:
    reports:
      junit: reports/*.xml
java:
  stage: test
  script: [mkdir -p target/surefire-reports, cp fixtures/surefire.xml target/surefire-reports/TEST-Calc.xml]
  artifacts:
    reports:
      junit: [target/surefire-reports/TEST-*.xml, ../outside.xml]
none:
  stage: build
  script: [echo no tests here]
  artifacts:
    reports:
      junit: missing/*.xml
`,
    });
    const p = await tandem.waitForPipeline(await tandem.trigger(name));
    assert.equal(jobNamed(p, 'python').status, 'failed', 'the script failed: reports are still uploaded');
    assert.equal(jobNamed(p, 'java').status, 'success', 'a failing test in a report does not change the job');
    assert.equal(jobNamed(p, 'none').status, 'success');

    const res = await tandem.api<TestReportJson>('GET', `/api/v1/pipelines/${p.id}/tests`);
    assert.equal(res.status, 200, res.text);
    const report = res.body;
    assert.deepEqual(report.summary, { total: 10, passed: 4, failed: 2, skipped: 2, errors: 2, durationSeconds: 1200.045 });
    assert.deepEqual(
      report.jobs.map((j) => [j.jobName, j.summary.total, j.files.map((f) => [f.path, f.error === null])]),
      [
        ['java', 5, [['target/surefire-reports/TEST-Calc.xml', true]]],
        [
          'python',
          5,
          [
            ['reports/broken.xml', false],
            ['reports/pytest.xml', true],
          ],
        ],
      ],
    );
    assert.match(report.jobs[1]!.files[0]!.error!, /^reports\/broken\.xml:3:\d+: unexpected close tag/);
    assert.deepEqual(
      report.cases.slice(0, 4).map((c) => [c.status, c.jobName, c.name]),
      [
        ['failed', 'java', 'multiplies'],
        ['failed', 'python', 'test_div[0-1]'],
        ['error', 'java', 'dividesByZero'],
        ['error', 'python', 'test_query'],
      ],
    );
    assert.equal(report.cases[0]!.message, 'expected: <6> but was: <5>');

    const failing = await tandem.api<TestReportJson>('GET', `/api/v1/jobs/${jobNamed(p, 'java').id}/tests?status=failed,error`);
    assert.deepEqual(
      failing.body.cases.map((c) => c.name),
      ['multiplies', 'dividesByZero'],
    );
    const bad = await tandem.api('GET', `/api/v1/pipelines/${p.id}/tests?status=broken`);
    assert.equal(bad.status, 422);
    assert.equal(
      (JSON.parse(bad.text) as { message: string }).message,
      'query parameter status: "broken" is not one of failed, error, skipped, passed',
    );
    assert.equal((await tandem.api('GET', '/api/v1/pipelines/99999/tests')).status, 404);

    const pythonLog = await tandem.log(jobNamed(p, 'python').id);
    assert.match(pythonLog, /WARNING: JUnit report not read: reports\/broken\.xml:3:\d+: unexpected close tag/);
    assert.match(pythonLog, /Test report: 5 tests, 1 failed, 1 errors \(2 files\)/);
    assert.match(await tandem.log(jobNamed(p, 'java').id), /\.\.\/outside\.xml: artifact path is not inside the project directory/);
    assert.match(await tandem.log(jobNamed(p, 'none').id), /missing\/\*\.xml: no matching files/);

    const args = ['--server', tandem.url, '--token', tandem.token];
    const shown = await cli(['run', 'tests', String(p.id), ...args]);
    assert.equal(shown.code, 0, shown.stderr);
    const lines = shown.stdout.split('\n');
    assert.equal(lines[0], '10 tests: 4 passed, 2 failed, 2 errors, 2 skipped in 1200.05 s');
    assert.match(shown.stdout, /^python\s+test\s+5\s+2\s+1\s+1\s+1\s+0\.01 s$/m);
    assert.match(shown.stdout, /^Report not read \(python\): reports\/broken\.xml:3:\d+: unexpected close tag/m);
    assert.match(
      shown.stdout,
      /^FAILED {2}python {2}pytest › tests\.test_math › test_div\[0-1\]\n {4}ZeroDivisionError: division by zero$/m,
    );
    assert.match(shown.stdout, /^ERROR {2}java {2}com\.example\.CalculatorTest › dividesByZero\n {4}\/ by zero$/m);

    const onlyJava = await cli(['run', 'tests', String(p.id), '--job', 'java', '--failed', ...args]);
    assert.equal(onlyJava.code, 0, onlyJava.stderr);
    assert.deepEqual(onlyJava.stdout.trim().split('\n'), [
      'FAILED  java  com.example.CalculatorTest › multiplies',
      '    expected: <6> but was: <5>',
      'ERROR  java  com.example.CalculatorTest › dividesByZero',
      '    / by zero',
    ]);
    const json = await cli(['run', 'tests', String(p.id), '--json', ...args]);
    const parsed = JSON.parse(json.stdout) as TestReportJson;
    assert.equal(parsed.cases.length, 4);
    assert.equal(parsed.summary.total, 10);
  });
});
