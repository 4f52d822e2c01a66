// Cobertura reports, the coverage trend and the coverage badge on a real server and agent (SQLite):
// jobs write Cobertura files (coverage.py's and Istanbul's, committed by this test) and a coverage
// line; the agent streams the files to the server, which summarizes them; the API shows each job's
// and the pipeline's coverage, the branch's trend, and GitLab's coverage badge, public or private.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CoverageTrendJson, JobCoverageJson, PipelineCoverageJson } from '../../src/api/index.js';
import { jobNamed, TestTandem, type PipelineView } from '../support/tandem.js';
import { COVERAGE_PY, ISTANBUL } from '../reports/cobertura-fixtures.js';

const PIPELINE = `
unit:
  script:
    - mkdir -p coverage && cp fixtures/coverage-py.xml coverage/coverage.xml
    - echo "TOTAL lines covered 78%"
  coverage: '/covered \\d+%/'
  artifacts:
    reports:
      coverage_report:
        coverage_format: cobertura
        path: coverage/coverage.xml
web:
  script:
    - mkdir -p web/coverage && cp fixtures/istanbul.xml web/coverage/cobertura-coverage.xml
  artifacts:
    reports:
      coverage_report: { coverage_format: cobertura, path: "web/coverage/*.xml" }
huge:
  script:
    - "{ echo '<coverage>'; head -c 11000000 /dev/zero | tr '\\\\0' ' '; echo '</coverage>'; } > huge.xml"
  artifacts:
    reports:
      coverage_report: { coverage_format: cobertura, path: huge.xml }
broken:
  script:
    - printf '<coverage>\\n<packages>\\n' > bad.xml
  artifacts:
    reports:
      coverage_report: { coverage_format: cobertura, path: bad.xml }
`;

describe('Cobertura coverage reports end to end', () => {
  let tandem: TestTandem;
  let name: string;
  let p: PipelineView;
  before(async () => {
    tandem = await TestTandem.start({ agents: 1, concurrency: 3 });
    ({ name } = await tandem.repo({
      '.gitlab-ci.yml': PIPELINE,
      'fixtures/coverage-py.xml': COVERAGE_PY,
      'fixtures/istanbul.xml': ISTANBUL,
    }));
    p = await tandem.waitForPipeline(await tandem.trigger(name), undefined, 60_000);
  });
  after(async () => {
    await tandem.close();
  });

  const anonymous = (path: string, headers: Record<string, string> = {}) => fetch(tandem.url + path, { headers });

  test("the regex's value wins, a report alone gives the job its line rate, a bad report leaves the job passed", async () => {
    assert.equal(p.status, 'success', JSON.stringify(p.jobs.map((j) => [j.name, j.status])));
    assert.equal(jobNamed(p, 'unit').coverage, 78);
    assert.equal(jobNamed(p, 'web').coverage, 75);
    assert.equal(jobNamed(p, 'broken').coverage, null);
    assert.equal(p.coverage, 76.5);

    const web = await tandem.api<JobCoverageJson>('GET', `/api/v1/jobs/${jobNamed(p, 'web').id}/coverage`);
    assert.equal(web.status, 200, web.text);
    assert.equal(web.body.reports.length, 1);
    const [report] = web.body.reports;
    assert.equal(report.path, 'web/coverage/cobertura-coverage.xml');
    assert.deepEqual([report.summary?.linesCovered, report.summary?.linesValid, report.summary?.branchRate], [6, 8, 0.5]);
    assert.deepEqual(
      report.summary?.packages.map((pkg) => pkg.name),
      ['src', 'src.util'],
    );
    assert.match(await tandem.log(jobNamed(p, 'web').id), /Coverage report web\/coverage\/cobertura-coverage\.xml: 75% of lines \(6\/8\)/);

    const broken = await tandem.api<JobCoverageJson>('GET', `/api/v1/jobs/${jobNamed(p, 'broken').id}/coverage`);
    assert.equal(broken.body.reports[0].summary, null);
    assert.match(broken.body.reports[0].error ?? '', /^bad\.xml:\d+:\d+: /);
    assert.match(await tandem.log(jobNamed(p, 'broken').id), /WARNING: coverage report bad\.xml:\d+:\d+: /);

    // Past GitLab's 10 MiB: cut off where it passed the limit; the rest of the upload is drained, so
    // the agent reads the answer and the job passes.
    assert.equal(jobNamed(p, 'huge').status, 'success');
    const huge = await tandem.api<JobCoverageJson>('GET', `/api/v1/jobs/${jobNamed(p, 'huge').id}/coverage`);
    assert.match(huge.body.reports[0].error ?? '', /^huge\.xml:\d+:\d+: larger than 10485760 bytes$/);
    assert.match(await tandem.log(jobNamed(p, 'huge').id), /WARNING: coverage report huge\.xml:\d+:\d+: larger than 10485760 bytes/);

    const all = await tandem.api<PipelineCoverageJson>('GET', `/api/v1/pipelines/${p.id}/coverage`);
    assert.equal(all.body.coverage, 76.5);
    assert.deepEqual(all.body.jobs.map((j) => [j.name, j.coverage, j.reports.length]).sort(), [
      ['broken', null, 1],
      ['huge', null, 1],
      ['unit', 78, 1],
      ['web', 75, 1],
    ]);
    assert.equal((await tandem.api('GET', '/api/v1/jobs/999999/coverage')).status, 404);
  });

  test("the default branch's trend, and a limit that names itself when wrong", async () => {
    const second = await tandem.waitForPipeline(await tandem.trigger(name), undefined, 60_000);
    const trend = await tandem.api<CoverageTrendJson>('GET', `/api/v1/repos/${name}/coverage`);
    assert.equal(trend.status, 200, trend.text);
    assert.equal(trend.body.ref, 'main');
    assert.deepEqual(
      trend.body.points.map((pt) => [pt.pipelineId, pt.coverage]),
      [
        [p.id, 76.5],
        [second.id, 76.5],
      ],
    );
    const one = await tandem.api<CoverageTrendJson>('GET', `/api/v1/repos/${name}/coverage?limit=1`);
    assert.deepEqual(
      one.body.points.map((pt) => pt.pipelineId),
      [second.id],
    );
    assert.equal((await tandem.api<CoverageTrendJson>('GET', `/api/v1/repos/${name}/coverage?ref=feature`)).body.points.length, 0);
    const bad = await tandem.api('GET', `/api/v1/repos/${name}/coverage?limit=0`);
    assert.equal(bad.status, 400);
    assert.match(bad.text, /limit/);
    assert.equal((await anonymous(`/api/v1/repos/${name}/coverage`)).status, 401);
  });

  test('the coverage badge: private to readers, then public and cacheable; per job; unknown without a value', async () => {
    const path = `/api/v1/repos/${name}/badges/coverage.svg`;
    assert.equal((await anonymous(path)).status, 404, 'a private repository is unknown to strangers');
    const reader = await tandem.api('GET', path);
    assert.equal(reader.status, 200);
    assert.equal(reader.headers.get('cache-control'), 'private, no-store');
    assert.match(reader.text, /<title>coverage of main: 76\.50%<\/title>/);
    assert.match(reader.text, /fill="#dfb317"/, 'medium (75 to 90 %) is yellow');

    assert.equal((await tandem.api('PATCH', `/api/v1/repos/${name}`, { visibility: 'public' })).status, 200);
    const open = await anonymous(path);
    assert.equal(open.status, 200);
    assert.match(open.headers.get('content-type') ?? '', /^image\/svg\+xml/);
    assert.equal(open.headers.get('cache-control'), 'public, max-age=30');
    const etag = open.headers.get('etag')!;
    assert.equal((await anonymous(path, { 'if-none-match': etag })).status, 304);

    const web = await (await anonymous(`${path}?job=web`)).text();
    assert.match(web, /<title>coverage of web on main: 75\.00%<\/title>/);
    const none = await anonymous(`${path}?ref=feature`, { 'if-none-match': etag });
    assert.equal(none.status, 200, 'another value, another ETag');
    const text = await none.text();
    assert.match(text, /<title>coverage of feature: unknown<\/title>/);
    assert.match(text, /fill="#9f9f9f"/);
  });
});
