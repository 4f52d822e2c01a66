// `artifacts:reports:coverage_report` (GitLab's syntax, https://docs.gitlab.com/ci/yaml/artifacts_reports/#artifactsreportscoverage_report):
// a Cobertura path the agent uploads, also when it is the job's only artifact; a format other than
// cobertura, or a missing path, is refused at its position.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileOk, expectError, job } from './helpers.js';

const file = (report: string) => `test:\n  script: [make]\n  artifacts:\n    reports:\n      coverage_report:\n${report}`;

describe('artifacts:reports:coverage_report', () => {
  it('keeps the path, and the report alone makes the job have artifacts', async () => {
    const p = await compileOk(file('        coverage_format: cobertura\n        path: coverage/cobertura-coverage.xml\n'));
    assert.equal(job(p, 'test').artifacts?.coverageReport, 'coverage/cobertura-coverage.xml');
    assert.deepEqual(job(p, 'test').artifacts?.paths, []);
  });

  it('refuses a format Tandem does not read', async () => {
    const e = await expectError(file('        coverage_format: jacoco\n        path: jacoco.xml\n'), 6, 26, 'coverage_format');
    assert.match(e.message, /cobertura/);
  });

  it('refuses a report without its path', async () => {
    await expectError(file('        coverage_format: cobertura\n'), 6, 9, 'path');
  });
});
