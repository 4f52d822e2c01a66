// Coverage in a real browser (issue 18, item 3): two pipelines whose jobs write a Cobertura report
// (coverage.py's, committed by this test) and a coverage line run on a real agent; the repository's
// Coverage tab charts and lists their coverage, the pipeline page lists its jobs' coverage, the job
// page summarizes the report by package, and the settings page gives the coverage badge's Markdown.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { COVERAGE_PY } from '../reports/cobertura-fixtures.js';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { TestTandem, type PipelineView } from '../support/tandem.js';

const PIPELINE = `
unit:
  script:
    - mkdir -p out && cp fixtures/coverage.xml out/coverage.xml
    - echo "Lines covered 81.25%"
  coverage: '/covered \\d+(?:\\.\\d+)?%/'
  artifacts:
    reports:
      coverage_report: { coverage_format: cobertura, path: out/coverage.xml }
`;

describe('web UI: coverage', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;
  let name: string;
  const pipelines: PipelineView[] = [];

  before(async () => {
    tandem = await TestTandem.start({ agents: 1 });
    browser = await launchBrowser();
    ({ name } = await tandem.repo({ '.gitlab-ci.yml': PIPELINE, 'fixtures/coverage.xml': COVERAGE_PY }));
    for (let i = 0; i < 2; i++) pipelines.push(await tandem.waitForPipeline(await tandem.trigger(name), undefined, 60_000));
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
  });

  it('the Coverage tab charts the default branch; pipeline and job pages show the report', { timeout: 60_000 }, async () => {
    assert.deepEqual(
      pipelines.map((p) => [p.status, p.coverage]),
      [
        ['success', 81.25],
        ['success', 81.25],
      ],
    );
    const admin = await createUser(tandem, 'ada', { admin: true });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, admin, `/repos/${name}`);
      await page.getByRole('navigation', { name: 'Repository' }).getByRole('link', { name: 'Coverage' }).click();
      await page.getByRole('heading', { name: 'Coverage', level: 1 }).waitFor();
      const chart = page.getByRole('img', { name: /^Coverage of main: 2 points/ });
      await chart.waitFor();
      assert.match((await chart.getAttribute('aria-label')) ?? '', /latest 81\.25%/);
      const rows = page
        .getByRole('table')
        .filter({ has: page.getByRole('columnheader', { name: 'Pipeline' }) })
        .getByRole('row');
      assert.equal(await rows.count(), 3, 'a header and one row per pipeline');
      assert.match((await rows.nth(1).textContent()) ?? '', new RegExp(`#${pipelines[1].id}.*81\\.25%`));
      await screenshot(page, 'coverage-trend');

      // Another branch without pipelines says how to get a coverage.
      await page.getByLabel('Branch').fill('feature');
      await page.getByRole('button', { name: 'Show' }).click();
      await page.getByText(/No finished pipeline of feature has a coverage yet/).waitFor();

      await page.goto(`${tandem.url}/pipelines/${pipelines[1].id}`);
      const section = page.getByRole('region', { name: 'Coverage' });
      await section.waitFor();
      assert.match((await section.textContent()) ?? '', /unit.*81\.25%.*out\/coverage\.xml: 77\.78% of lines \(7 \/ 9\)/);

      await section.getByRole('link', { name: 'unit' }).click();
      const reports = page.getByRole('region', { name: 'Coverage reports' });
      await reports.waitFor();
      const packages = reports.getByRole('table').first();
      await packages.getByRole('cell', { name: 'calc', exact: true }).waitFor();
      assert.match((await reports.textContent()) ?? '', /Lines77\.78% \(7 \/ 9\)Branches50% \(2 \/ 4\)/);
      await screenshot(page, 'coverage-job-report');

      await page.goto(`${tandem.url}/repos/${name}/settings`);
      await page.getByText(`![coverage](${tandem.url}/api/v1/repos/${name}/badges/coverage.svg?ref=main)`).waitFor();
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
