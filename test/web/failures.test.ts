// Failures first, in a real browser against a real server and agent (issue 18, item 5): a
// five-stage pipeline whose last stage fails leads with a summary of its failed jobs (reason in
// words, the failing line) inside the first screen at 1366×768 and at 390×844; the failed card is
// marked and brought into view however wide the graph; the failed job's page opens its log at the
// failing command with the earlier sections folded; lists show the commit's title and author.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { browserSkip, createUser, launchBrowser, screenshot, signIn } from '../support/browser.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

const PIPELINE = `stages: [build, test, package, verify, deploy]
compile:
  stage: build
  script: [echo compiling]
unit:
  stage: test
  script: [echo unit-ok]
lint:
  stage: test
  script: [echo lint-ok]
package:
  stage: package
  script: [echo packed]
verify:
  stage: verify
  script: [echo verified]
deploy:
  stage: deploy
  script:
    - echo preparing release
    - for i in $(seq 1 30); do echo "prep line $i"; done
    - for i in $(seq 1 40); do echo "upload $i"; done; echo "fatal could not reach prod.example.invalid"; exit 7
  after_script: [echo cleanup]
`;
const FAILING_COMMAND = '$ for i in $(seq 1 40); do echo "upload $i"; done; echo "fatal could not reach prod.example.invalid"; exit 7';
const TITLE = 'Move deploys to the new cluster';

const VIEWPORTS = [
  { width: 1366, height: 768 },
  { width: 390, height: 844 },
];

/** Whether the element is wholly inside the window, as it stands (no scrolling). */
async function inWindow(page: Page, locator: Locator): Promise<boolean> {
  const box = await locator.boundingBox();
  const size = page.viewportSize()!;
  return box !== null && box.x >= 0 && box.y >= 0 && box.x + box.width <= size.width + 1 && box.y + box.height <= size.height + 1;
}

/** Whether a log line's text starts inside the window and its row is wholly in its height (long lines scroll sideways in the log's box). */
async function lineInWindow(page: Page, locator: Locator): Promise<boolean> {
  const box = await locator.boundingBox();
  const size = page.viewportSize()!;
  return box !== null && box.x >= 0 && box.x < size.width - 40 && box.y >= 0 && box.y + box.height <= size.height + 1;
}

let tandem: TestTandem;

describe('web UI failures first', { skip: browserSkip() }, () => {
  let browser: Browser;
  let user: { username: string; password: string };
  let pipelineId = 0;
  let deployId = 0;

  before(async () => {
    tandem = await TestTandem.start({ agents: 1, concurrency: 3 });
    browser = await launchBrowser();
    const { remote } = await tandem.repo({ 'README.md': 'shop\n' }, { name: 'shop' });
    await remote.commit({ '.tandem.yml': PIPELINE }, `${TITLE}\n\nThe old hosts go away next week.`);
    await remote.push('main');
    const done = await tandem.waitForPipeline(await tandem.trigger('shop'), undefined, 30_000);
    assert.equal(done.status, 'failed');
    pipelineId = done.id;
    deployId = jobNamed(done, 'deploy').id;
    user = await createUser(tandem, 'rita', { roles: { shop: 'reporter' } });
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
  });

  async function open(viewport: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page; errors: Error[] }> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const errors: Error[] = [];
    page.on('pageerror', (err) => errors.push(err));
    await signIn(page, tandem.url, user);
    return { context, page, errors };
  }

  for (const viewport of VIEWPORTS) {
    const size = `${viewport.width}×${viewport.height}`;

    it(`leads the pipeline page with the failed job, its reason and failing line, and reveals its card (${size})`, async () => {
      const { context, page, errors } = await open(viewport);
      try {
        await page.goto(`${tandem.url}/pipelines/${pipelineId}`);
        const summary = page.getByRole('region', { name: '1 failed job' });
        await summary.waitFor();
        const item = summary.locator('.failed-job');
        assert.equal(await item.count(), 1);
        const text = await item.innerText();
        assert.match(text, /deploy/);
        assert.match(text, /stage deploy/);
        assert.match(text, /The script exited with code 7\./, 'the reason in words, with the exit code');
        assert.equal(await item.locator('.failure-line code').innerText(), FAILING_COMMAND, 'the failing line');
        assert.ok(await inWindow(page, item), 'the failed job’s summary is in the first screen');

        const card = page.locator(`#job-card-${deployId}`);
        assert.match((await card.getAttribute('class')) ?? '', /\bfailed\b/, 'the card is marked failed');
        assert.match(await page.getByRole('region', { name: 'Stage deploy' }).locator('h3').innerText(), /1 failed/);
        // The graph (5 columns, wider than either window) opened scrolled to the failed stage.
        const box = (await card.boundingBox())!;
        assert.ok(box.x >= 0 && box.x + box.width <= viewport.width, `the card is within the window’s width: ${JSON.stringify(box)}`);
        await page.getByRole('button', { name: 'Show in graph: deploy' }).click();
        assert.ok(await inWindow(page, card), 'Show in graph brings the card into the window');
        assert.equal(await page.evaluate<string | null>('document.activeElement?.textContent'), 'deploy', 'and focuses its link');

        const facts = await page.locator('.facts').innerText();
        assert.match(facts, new RegExp(TITLE), 'the commit title');
        assert.match(facts, /Author\s+Tandem Test/, 'the commit author');
        await screenshot(page, `failures-pipeline-${viewport.width}`);
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });

    it(`opens the failed job’s log at the failing command, earlier sections folded (${size})`, async () => {
      const { context, page, errors } = await open(viewport);
      try {
        await page.goto(`${tandem.url}/jobs/${deployId}`);
        const failing = page.locator('.log-line.failing');
        await failing.waitFor();
        assert.equal(await failing.locator('.log-text').innerText(), FAILING_COMMAND);
        assert.match(await page.locator('.job-failure').innerText(), /The script exited with code 7\. Failed at line \d+/);
        const last = page.locator('.log-text', { hasText: /^fatal could not reach prod\.example\.invalid$/ });
        const before = page.locator('.log-text', { hasText: /^upload 40$/ });
        for (const [what, locator] of [
          ['the failing command', failing],
          ['its last output lines', before],
          ['the error it printed', last],
        ] as const)
          assert.ok(await lineInWindow(page, locator), `${what} is in the window without scrolling`);
        assert.equal(await page.locator('.log-text', { hasText: /^prep line 12$/ }).count(), 0, 'an earlier section is folded');
        assert.equal(await page.locator('.log-text', { hasText: /^upload 3$/ }).count(), 0, 'the middle of the failing output is folded');
        assert.ok((await page.locator('.log-fold-toggle').count()) >= 2);
        await screenshot(page, `failures-job-${viewport.width}`);

        await page.getByRole('button', { name: 'Expand all' }).click();
        await page.locator('.log-text', { hasText: /^prep line 30$/ }).waitFor();
        assert.equal(await page.locator('.log-fold-toggle').count(), 0, 'every line is shown');
        assert.ok(await lineInWindow(page, failing), 'the failing command stays where it was');
        assert.deepEqual(errors, []);
      } finally {
        await context.close();
      }
    });
  }

  it('opens the folds for a link to a folded line and for a search that finds one', async () => {
    const { context, page, errors } = await open({ width: 1366, height: 768 });
    try {
      // Line 20 is "prep line 15": inside the section folded before the failing command.
      await page.goto(`${tandem.url}/jobs/${deployId}#L20`);
      const target = page.locator('.log-line.target');
      await target.waitFor();
      assert.equal(await target.locator('.log-text').innerText(), 'prep line 15');
      assert.equal(await page.locator('.log-fold-toggle').count(), 0);

      await page.goto(`${tandem.url}/jobs/${deployId}`);
      await page.locator('.log-line.failing').waitFor();
      assert.equal(await page.locator('.log-text', { hasText: /^prep line 7$/ }).count(), 0);
      await page.getByLabel('Search the log').fill('prep line 7');
      await page.getByText('1 of 1').waitFor();
      await page.getByLabel('Search the log').press('Enter');
      await page.locator('mark.current', { hasText: 'prep line 7' }).waitFor();
      assert.equal(await page.locator('.log-line', { has: page.locator('mark.current') }).getAttribute('data-line'), '12');
      // One deep in the folded middle of the failing output: scrolled to once every line is there.
      await page.goto(`${tandem.url}/jobs/${deployId}`);
      await page.locator('.log-line.failing').waitFor();
      await page.getByLabel('Search the log').fill('upload 5');
      await page.getByText('1 of 1').waitFor();
      await page.getByLabel('Search the log').press('Enter');
      const found = page.locator('.log-line', { has: page.locator('mark.current', { hasText: 'upload 5' }) });
      await found.waitFor();
      assert.equal(await found.getAttribute('data-line'), '41');
      assert.ok(await lineInWindow(page, found), 'the match is scrolled into view');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('shows the commit title and author on the repository’s pipelines and the dashboard', async () => {
    const { context, page, errors } = await open({ width: 1366, height: 768 });
    try {
      await page.goto(`${tandem.url}/repos/shop`);
      const row = page.locator('tr', { has: page.getByRole('link', { name: `#${pipelineId}`, exact: true }) });
      await row.waitFor();
      assert.match(await row.innerText(), new RegExp(`${TITLE}[\\s\\S]*Tandem Test`));
      await page.goto(`${tandem.url}/`);
      const recent = page.locator('tr', { has: page.getByRole('link', { name: `#${pipelineId}`, exact: true }) });
      await recent.waitFor();
      assert.match(await recent.innerText(), new RegExp(`${TITLE}[\\s\\S]*Tandem Test`));
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
