// GitLab's report types Tandem stores without reading: compiled into the job's artifacts spec (no
// "ignored" warning), and matched back to their files when a job's artifacts are listed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reportTypeMatcher } from '../../src/artifacts/index.js';
import { compileOk } from './helpers.js';

describe('stored reports', () => {
  it('compile into artifacts.storedReports without a warning, even in a job with no paths', async () => {
    const pipeline = await compileOk(
      'scan:\n  script: [echo]\n  artifacts:\n    reports:\n      sast: gl-sast-report.json\n      terraform: [plan/*.json, extra.json]\n',
    );
    const job = pipeline.jobs.find((j) => j.name === 'scan')!;
    assert.deepEqual(job.artifacts?.storedReports, { sast: ['gl-sast-report.json'], terraform: ['plan/*.json', 'extra.json'] });
    assert.deepEqual(job.artifacts?.paths, []);
    assert.deepEqual(
      pipeline.warnings.filter((d) => d.message.includes('ignored')),
      [],
    );
  });

  it('an unknown report type is still accepted with a warning', async () => {
    const pipeline = await compileOk('a:\n  script: [echo]\n  artifacts:\n    reports:\n      nonsense: x.json\n');
    assert.ok(pipeline.warnings.some((d) => d.message.includes('`a.artifacts.reports.nonsense` is accepted but ignored')));
  });

  it('a listed file gets the type of the report whose glob or directory names it', () => {
    const typeOf = reportTypeMatcher({ terraform: ['plan/*.json'], codequality: ['./gl-code-quality.json'], dast: ['dast-out'] });
    assert.equal(typeOf('plan/main.json'), 'terraform');
    assert.equal(typeOf('gl-code-quality.json'), 'codequality');
    assert.equal(typeOf('dast-out/a/b.html'), 'dast');
    assert.equal(typeOf('plan/sub/deep.json'), null, '* does not cross /');
    assert.equal(typeOf('out/app.txt'), null);
    assert.equal(reportTypeMatcher(undefined)('x'), null);
    assert.equal(reportTypeMatcher({ sast: ['../escape.json'] })('escape.json'), null, 'a refused pattern matches nothing');
  });
});
