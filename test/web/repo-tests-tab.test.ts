// The Test history tab in a real browser: a developer sees the repository's flaky test with its flips and
// follows it to its history (failures in the last runs, where the failing streak began); a
// maintainer turns quarantine on in the settings page and the Test history tab says so.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { FsBlobStore } from '../../src/artifacts/index.js';
import { retryJob } from '../../src/scheduler/index.js';
import { historyRunner, sha } from '../reports/history-helpers.js';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { TestTandem } from '../support/tandem.js';

describe('web UI: the Test history tab', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;
  let repo: string;

  before(async () => {
    tandem = await TestTandem.start({ agents: 0 });
    browser = await launchBrowser();
    repo = (await tandem.repo({ '.tandem.yml': 'unit:\n  script: [pytest]\n' }, { name: 'shop' })).name;
    const store = tandem.server.ctx.store;
    const { id } = await store.db.selectFrom('repos').select('id').where('name', '=', repo).executeTakeFirstOrThrow();
    const runner = historyRunner(new FsBlobStore(`${tandem.dataDir}/history-blobs`), { store, repoId: id });
    // The server's clock: its lease reaper would take back jobs claimed long ago.
    const t0 = Date.now();
    await runner.pipeline(sha(1), t0);
    const red = await runner.runUnit({ test_checkout: 'fail', test_cart: 'pass' }, t0);
    await retryJob(store, red.id, t0 + 1000);
    await runner.runUnit({ test_checkout: 'pass', test_cart: 'pass' }, t0 + 1000);
    await runner.pipeline(sha(2), t0 + 2000);
    await runner.runUnit({ test_checkout: 'fail', test_cart: 'pass' }, t0 + 2000);
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
  });

  it('lists the flaky test and shows its history', { timeout: 30_000 }, async () => {
    const dev = await createUser(tandem, 'dev', { roles: { [repo]: 'developer' } });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await page.setViewportSize({ width: 1366, height: 800 });
      await signIn(page, tandem.url, dev, `/repos/${repo}`);
      await page.getByRole('navigation', { name: 'Repository' }).getByRole('link', { name: 'Test history' }).click();
      await page.getByRole('heading', { name: 'Flaky tests' }).waitFor();
      await page.getByText('Quarantine is off').waitFor();
      const row = page.getByRole('row', { name: /tests\.test_app\.test_checkout/ });
      await row.waitFor();
      assert.match((await row.innerText()).replace(/\s+/g, ' '), /test_checkout pytest 1 .*#1 commit 00000000/);
      await row.getByRole('link', { name: 'tests.test_app.test_checkout' }).click();
      const history = page.getByLabel('History of tests.test_app.test_checkout');
      await history.getByText('Failed 1 of the last 2 runs').waitFor();
      await history.getByText(/Failing since pipeline #2/).waitFor();
      assert.match(page.url(), /\/repos\/shop\/tests\?case=[0-9a-f]{64}$/);
      assert.equal(await history.getByRole('row').count(), 3, 'a header and two runs');
      await screenshot(page, 'repo-tests-tab-1366');

      // By name, from the search form.
      await page.getByLabel(/Test name/).fill('test_cart');
      await page.getByRole('button', { name: 'Show history' }).click();
      await page.getByLabel('History of tests.test_app.test_cart').getByText('Failed 0 of the last 2 runs').waitFor();
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  it('a maintainer turns quarantine on in the settings', { timeout: 30_000 }, async () => {
    const maintainer = await createUser(tandem, 'mia', { roles: { [repo]: 'maintainer' } });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, maintainer, `/repos/${repo}/settings`);
      await page.getByLabel(/Quarantine flaky tests/).check();
      await page
        .locator('section', { has: page.getByRole('heading', { name: 'General' }) })
        .getByRole('button', { name: 'Save changes' })
        .click();
      await page.getByText(/Saved/).first().waitFor();
      const shown = await tandem.api<{ quarantineFlakyTests: boolean }>('GET', `/api/v1/repos/${repo}`);
      assert.equal(shown.body.quarantineFlakyTests, true);
      await page.getByRole('navigation', { name: 'Repository' }).getByRole('link', { name: 'Test history' }).click();
      await page.getByText('Quarantine is on').waitFor();
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
