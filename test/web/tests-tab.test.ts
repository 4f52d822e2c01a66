// The Tests tab of a pipeline and a job's test failures in a real browser, against a real server and
// agent: a job writes a 2,000-test Surefire-shaped report and pytest's, the tab lists the failures
// first with their messages (traces expand), counts per status, pages the rest, and a job's page
// shows its failures above its log; at 1366 px and at a phone's 390 px.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { largeReport, PYTEST } from '../reports/junit-fixtures.js';

describe('web UI test reports', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let pageErrors: Error[];
  let pipelineId = 0;
  let unitJobId = 0;

  before(async () => {
    tandem = await TestTandem.start({ agents: 1, concurrency: 2 });
    browser = await launchBrowser();
    await tandem.repo(
      {
        'reports/big.xml': [...largeReport(2000, 400)].join(''),
        'reports/pytest.xml': PYTEST,
        '.gitlab-ci.yml': `
stages: [build, test]
compile:
  stage: build
  script: [echo compiled]
unit:
  stage: test
  script: [mkdir -p out, cp reports/big.xml out/TEST-big.xml, exit 1]
  artifacts:
    reports:
      junit: out/*.xml
py:
  stage: test
  script: [cp reports/pytest.xml pytest-report.xml]
  artifacts:
    reports:
      junit: pytest-report.xml
`,
      },
      { name: 'shop' },
    );
    const p = await tandem.waitForPipeline(await tandem.trigger('shop'));
    assert.equal(p.status, 'failed');
    pipelineId = p.id;
    unitJobId = jobNamed(p, 'unit').id;
    const reporter = await createUser(tandem, 'rita', { roles: { shop: 'reporter' } });
    ({ context, page, pageErrors } = await newContext(browser));
    await page.setViewportSize({ width: 1366, height: 800 });
    await signIn(page, tandem.url, reporter);
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await tandem?.close();
  });

  it('lists failures first with their message, counts per status, expands a trace and pages the rest', async () => {
    await page.goto(`${tandem.url}/pipelines/${pipelineId}`);
    const tab = page.getByRole('link', { name: /^Tests/ });
    await tab.getByText('202 failing').waitFor();
    // How fast it renders is measured by the web benchmark (bench/web.ts), not here.
    await tab.click();
    const failures = page.getByRole('list', { name: 'Failing tests' });
    await failures.locator('li').first().waitFor();
    assert.match(page.url(), /\?tab=tests$/, 'the tab has a link of its own');

    const counts = await page.getByLabel('Tests per status').innerText();
    assert.match(counts, /2005 tests\s+✖ failed\s+201\s+• error\s+1\s+» skipped\s+1\s+✔ passed\s+1802/);
    const items = failures.locator('li.test-case');
    assert.equal(await items.count(), 100, 'one page of failures');
    // Jobs of a stage by name: py's failure, then unit's.
    assert.match(await items.first().innerText(), /failed\s+test_div\[0-1\]\s+pytest › tests\.test_math · py · 2 ms/);
    const unit = items.nth(1);
    assert.match(await unit.innerText(), /failed\s+test0\s+com\.example\.Suite0 · unit · 1 ms/);
    assert.equal(await unit.locator('.test-message').innerText(), 'expected: <0> but was: <1>');
    assert.equal(await unit.locator('.test-trace').isVisible(), false, 'the trace is folded');
    await unit.getByText('Trace').click();
    assert.match(await unit.locator('.test-trace').innerText(), /at com\.example\.Suite0\.test0\(Suite0\.java:0\)/);
    // Every failed case comes before the one error; no passing test is listed.
    await page.getByRole('button', { name: 'Show 100 more of 102' }).click();
    await items.nth(199).waitFor();
    await page.getByRole('button', { name: 'Show 2 more of 2' }).click();
    await items.nth(201).waitFor();
    const statuses = await items.locator('.badge').allInnerTexts();
    assert.deepEqual([...new Set(statuses.map((s) => s.replace(/^\W+\s*/, '')))], ['failed', 'error']);
    assert.match(await items.last().innerText(), /test_query/);
    assert.equal(await page.getByRole('button', { name: /more of/ }).count(), 0);
    await screenshot(page, 'tests-tab');

    // The Jobs tab is one click back.
    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.locator('.job-card').first().waitFor();
    assert.deepEqual(pageErrors, []);
  });

  it('shows a job’s failing tests above its log, and fits a phone', async () => {
    await page.goto(`${tandem.url}/jobs/${unitJobId}`);
    const tests = page.getByRole('region', { name: 'Tests' });
    await tests.getByRole('list', { name: 'Failing tests' }).locator('li').first().waitFor();
    assert.match(await tests.getByLabel('Tests per status').innerText(), /2000 tests\s+✖ failed\s+200\s+• error\s+0/);
    const testsBox = await tests.boundingBox();
    const logBox = await page.locator('.log-viewport').boundingBox();
    assert.ok(testsBox && logBox && testsBox.y < logBox.y, 'the failures come before the log');

    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${tandem.url}/pipelines/${pipelineId}?tab=tests`);
    await page.getByRole('list', { name: 'Failing tests' }).locator('li').first().waitFor();
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    assert.ok(overflow <= 0, `no sideways scrolling at 390 px (${overflow} px too wide)`);
    await screenshot(page, 'tests-tab-phone');
    assert.deepEqual(pageErrors, []);
  });
});
