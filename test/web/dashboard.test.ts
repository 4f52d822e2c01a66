// The dashboard leads with the user's own work: the pipelines of the repositories they belong to
// (with commit and job-time duration) and what is live in those repositories' environments.
// Platform health (alerts, error budgets, the cluster) is a compact panel for administrators only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { stopDeployedDemoServices } from '../support/demo-service.js';
import { demoAppFiles, localDeployTarget, type LocalDeployTarget } from '../support/deploy-pipeline.js';
import { TestTandem } from '../support/tandem.js';

describe('web UI dashboard', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;
  let target: LocalDeployTarget;
  let deployed = 0;
  let elsewhere = 0;

  before(async () => {
    tandem = await TestTandem.start({ agents: 1 });
    browser = await launchBrowser();
    target = await localDeployTarget(tandem, 'production');
    await tandem.repo({ '.tandem.yml': target.file, ...(await demoAppFiles(tandem, 'v7')) }, { name: 'store' });
    const pipeline = await tandem.waitForPipeline(
      await tandem.trigger('store', { variables: { TANDEM_RELEASE_VERSION: 'v7' } }),
      undefined,
      30_000,
    );
    assert.equal(pipeline.status, 'success');
    deployed = pipeline.id;
    await tandem.repo({ '.tandem.yml': 'build:\n  script: [echo other]\n' }, { name: 'other-team' });
    elsewhere = (await tandem.waitForPipeline(await tandem.trigger('other-team'))).id;
  });
  after(async () => {
    await browser?.close();
    if (target) await stopDeployedDemoServices(target.dir);
    await tandem?.close();
  });

  const headings = (page: Page) => page.getByRole('main').getByRole('heading', { level: 2 }).allInnerTexts();

  it("leads a member with their repositories' pipelines and environments, without the platform panel", async () => {
    const user = await createUser(tandem, 'mia', { roles: { store: 'developer' } });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, user);
      const pipelines = page.getByRole('region', { name: 'Your pipelines' });
      const row = pipelines.getByRole('row').filter({ has: page.getByRole('link', { name: `#${deployed}` }) });
      await row.getByText('success').waitFor();
      assert.match(
        await row.innerText(),
        /store\s+main\s+[0-9a-f]{8}\s+initial\s+Tandem Test\s+✔ success\s+[\d.]+ s/,
        'repository, ref, commit (sha, title, author), status, duration',
      );
      assert.equal(await pipelines.getByRole('link', { name: `#${elsewhere}` }).count(), 0, 'not a repository mia belongs to');

      const envs = page.getByRole('region', { name: 'Your environments' });
      const production = envs.getByRole('row').filter({ has: page.getByRole('link', { name: 'production' }) });
      await production.getByText('v7').waitFor();
      assert.match(await production.innerText(), /store\s+production\s+✔ live\s+v7/);

      const order = await headings(page);
      assert.deepEqual(order.slice(0, 2), ['Your pipelines', 'Your environments'], 'the user’s own work comes first');
      assert.equal(await page.getByRole('region', { name: 'Platform health' }).count(), 0, 'no platform panel for a non-admin');
      await screenshot(page, 'dashboard-member');

      // On a phone the same page leads with the same sections, and nothing pushes it wider than the screen.
      await page.setViewportSize({ width: 390, height: 800 });
      await production.getByText('v7').waitFor();
      const yours = await page.getByRole('heading', { name: 'Your pipelines' }).boundingBox();
      assert.ok(yours && yours.y < 250, `the user's pipelines start near the top (${yours?.y}px)`);
      assert.equal(await page.evaluate<number>('document.documentElement.scrollWidth'), 390, 'no sideways scrolling');
      await screenshot(page, 'dashboard-member-phone');
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  it('shows administrators platform health as a compact panel after their work', async () => {
    const admin = await createUser(tandem, 'ari', { admin: true });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, admin);
      const health = page.getByRole('region', { name: 'Platform health' });
      await health.getByRole('region', { name: 'Firing alerts' }).getByText('Nothing firing.').waitFor();
      await health.getByRole('region', { name: 'Error budgets' }).waitFor();
      await health.getByRole('region', { name: 'Cluster health' }).getByText('1 online').waitFor({ timeout: 15_000 });
      const order = await headings(page);
      assert.ok(order.indexOf('Platform health') > order.indexOf('Your environments'), order.join(' / '));
      const box = await health.boundingBox();
      assert.ok(box && box.height < 700, `compact (${box?.height}px high)`);
      await screenshot(page, 'dashboard-admin');
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
