// The monitoring pages in a real browser against a real server: the dashboard shows an error budget
// being spent, the cluster (its one replica marked leader, the agent online) and a failed pipeline,
// in light and dark; the SLO page charts the budget's burn-down; an admin silences an alert from the
// UI (the API has it) and expires it; a repository's DORA page charts a real deploy.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { SilenceView } from '../../src/api/index.js';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { TestTandem } from '../support/tandem.js';

describe('web UI: dashboard, alerts, SLOs and DORA', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;
  let admin: { username: string; password: string };

  before(async () => {
    tandem = await TestTandem.start({ agents: 1 });
    browser = await launchBrowser();
    admin = await createUser(tandem, 'ada', { admin: true });
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
  });

  /** Runs `use` on a signed-in admin's page, failing on any uncaught page error. */
  async function asAdmin(use: (page: Page) => Promise<void>, at = '/'): Promise<void> {
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, admin, at);
      await use(page);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  }

  it(
    'the dashboard shows the error budget spent, the cluster with its leader, and a failed pipeline, in light and dark',
    { timeout: 45_000 },
    async () => {
      const { name } = await tandem.repo({ '.tandem.yml': 'build:\n  script: [exit 1]\n' }, { name: 'broken' });
      const failed = await tandem.waitForPipeline(await tandem.trigger(name));
      assert.equal(failed.status, 'failed');
      // Half of api-availability's budget (0.1% of requests) spent ten minutes ago: 0.05% errors.
      const minute = Math.floor(Date.now() / 60_000) * 60_000;
      await tandem.server.ctx.store.db
        .insertInto('sli_counts')
        .values({ sli: 'api-availability', bucket: minute - 600_000, errors: 50, total: 100_000 })
        .execute();

      const check = async (page: Page) => {
        const budgets = page.getByRole('region', { name: 'Error budgets' });
        const availability = budgets.getByRole('listitem').filter({ hasText: 'api-availability' });
        await availability.getByText(/^(49|50)\.\d% left$/).waitFor({ timeout: 15_000 });

        const cluster = page.getByRole('region', { name: 'Cluster health' });
        const replicas = cluster.getByRole('list', { name: 'Server replicas' }).getByRole('listitem');
        // The replica is marked once it has written its heartbeat and holds the leader lease.
        await replicas.filter({ hasText: 'leader' }).waitFor({ timeout: 15_000 });
        assert.equal(await replicas.count(), 1);
        await cluster.getByText('1 online').waitFor({ timeout: 15_000 });
        await cluster.getByText('SQLite (embedded, one server)').waitFor();

        await page.getByRole('region', { name: 'Firing alerts' }).getByText('Nothing firing.').waitFor();
        const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: `#${failed.id}` }) });
        await row.getByText('failed').waitFor();
        const dora = page.getByRole('region', { name: /Delivery/ });
        await dora.getByRole('row').filter({ hasText: 'broken' }).getByText('No environments yet').waitFor();
      };

      await asAdmin(async (page) => {
        await check(page);
        await screenshot(page, 'dashboard-light');
      });

      const dark = await browser.newContext({ colorScheme: 'dark', viewport: { width: 1280, height: 800 } });
      try {
        const page = await dark.newPage();
        await signIn(page, tandem.url, admin);
        await check(page);
        const background = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
        assert.notEqual(background, 'rgb(255, 255, 255)', 'the system dark scheme applies');
        await screenshot(page, 'dashboard-dark');
      } finally {
        await dark.close();
      }
    },
  );

  it("the SLO page charts each built-in SLO's error budget burn-down", async () => {
    await asAdmin(async (page) => {
      const chart = page.getByRole('img', { name: /^api-availability: error budget left over the period: 30 points/ });
      await chart.waitFor();
      assert.match((await chart.getAttribute('aria-label')) ?? '', /latest (49|50)% /);
      assert.equal(await page.getByRole('img', { name: /error budget left over the period/ }).count(), 4);
      const windows = page.getByRole('region', { name: 'api-availability' }).getByRole('rowheader', { name: '5m' });
      await windows.waitFor();
      await screenshot(page, 'slos');
    }, '/slos');
  });

  it('an admin adds a silence in the UI, the API has it, and expires it again', async () => {
    await asAdmin(async (page) => {
      await page.getByLabel(/^Matchers/).fill('alertname=TandemReplicaDown\nreplica=~old-.*');
      await page.getByLabel('Duration').fill('3h');
      await page.getByLabel('Comment').fill('replacing the old replicas');
      await page.getByRole('button', { name: 'Add silence' }).click();
      const row = page.getByRole('row').filter({ hasText: 'replacing the old replicas' });
      await row.waitFor();

      const silences = await tandem.api<SilenceView[]>('GET', '/api/v1/silences');
      assert.equal(silences.body.length, 1);
      const [silence] = silences.body;
      assert.deepEqual(
        [silence.match, silence.comment, silence.createdBy, silence.state],
        [['alertname=TandemReplicaDown', 'replica=~old-.*'], 'replacing the old replicas', 'ada', 'active'],
      );
      const hoursLeft = (Date.parse(silence.endsAt) - Date.now()) / 3_600_000;
      assert.ok(hoursLeft > 2.9 && hoursLeft <= 3, `ends in ${hoursLeft} h`);

      await row.getByRole('button', { name: /^Expire silence/ }).click();
      const dialog = page.getByRole('dialog', { name: 'Expire this silence?' });
      await dialog.getByRole('button', { name: 'Expire' }).click();
      await page.getByText('No silences.').waitFor();
      assert.deepEqual((await tandem.api<SilenceView[]>('GET', '/api/v1/silences')).body, [], 'no active silence left');
    }, '/alerts');
  });

  it("a repository's DORA page charts its deploys", { timeout: 45_000 }, async () => {
    const dir = path.join(tandem.dataDir, 'deploy-production');
    await mkdir(dir, { recursive: true });
    const file = `deploy:
  script: [echo deploying]
  environment: { name: production }
  deploy:
    source: app
    target: { local: { dir: "${dir}", keep: 2 } }
`;
    const { name } = await tandem.repo({ '.tandem.yml': file, 'app/VERSION': 'v1\n' }, { name: 'shop' });
    assert.equal((await tandem.waitForPipeline(await tandem.trigger(name), undefined, 30_000)).status, 'success');

    await asAdmin(async (page) => {
      await page.getByRole('heading', { level: 2, name: 'production' }).waitFor();
      await page.getByText('1 live of 1').waitFor();
      const frequency = page.getByRole('img', { name: /^production: deployment frequency: 15 points/ });
      await frequency.waitFor();
      assert.match((await frequency.getAttribute('aria-label')) ?? '', /latest 0\.50\/day/, 'one deploy in the last two-day slot');
      assert.equal(await frequency.locator('rect.series-bar').count(), 15);
      await page.getByRole('img', { name: /^production: change failure rate: .* latest 0%/ }).waitFor();
      await page.getByLabel('Window').selectOption('7');
      await page.getByRole('img', { name: /^production: deployment frequency: 7 points.* latest 1\.0\/day/ }).waitFor();
      await screenshot(page, 'dora');
    }, `/repos/${name}/dora`);
  });
});
