// The Schedules tab in a real browser: a maintainer adds a schedule (its variable's value never
// shows again), sees it listed, runs it now and gets the link to the pipeline, and switches it
// off; a reporter sees the list without the controls, and a guest gets no Schedules tab.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ScheduleJson } from '../../src/api/index.js';
import { until } from '../e2e/helpers.js';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { makeRemote } from '../support/git.js';
import { TestTandem } from '../support/tandem.js';

const SECRET = 'Schedule-Secret-Value-77';

describe('web UI: pipeline schedules', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;

  before(async () => {
    tandem = await TestTandem.start({ agents: 0 });
    browser = await launchBrowser();
    const remote = await makeRemote(await mkdtemp(path.join(tandem.dataDir, 'shop-')));
    await remote.commit(
      { '.gitlab-ci.yml': 'nightly:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == "schedule"\n  script: [echo hi]\n' },
      'initial',
    );
    await remote.push('main', 'main:feature');
    const added = await tandem.api('POST', '/api/v1/repos', { name: 'shop', url: remote.bare });
    assert.equal(added.status, 201, added.text);
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
  });

  it('a maintainer adds, runs and switches off a schedule; others see what their role allows', { timeout: 60_000 }, async () => {
    const mia = await createUser(tandem, 'mia', { roles: { shop: 'maintainer' } });
    const rita = await createUser(tandem, 'rita', { roles: { shop: 'reporter' } });
    const gus = await createUser(tandem, 'gus', { roles: { shop: 'guest' } });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, mia, '/repos/shop/schedules');
      await page.getByRole('heading', { name: 'Pipeline schedules' }).waitFor();
      await page.getByText('No schedules yet.').waitFor();
      const form = page.locator('form', { has: page.getByRole('button', { name: 'Add schedule' }) });
      await form.getByLabel('Description').fill('nightly build');
      await form.getByLabel(/Cron pattern/).fill('0 2 * * *');
      await form.getByLabel(/Time zone/).fill('Europe/Berlin');
      await form.getByLabel('Branch or tag').fill('feature');
      await form.getByLabel(/Variables/).fill(`TARGET=${SECRET}`);
      await form.getByRole('button', { name: 'Add schedule' }).click();
      const row = page.getByRole('row', { name: /nightly build/ });
      await row.waitFor();
      assert.match(await row.innerText(), /0 2 \* \* \*\s+Europe\/Berlin/);
      assert.match(await row.innerText(), /variables: TARGET/);
      assert.equal(await form.getByLabel(/Variables/).inputValue(), '', 'the value left the page');
      assert.equal(await row.getByRole('button', { name: 'Take ownership' }).count(), 0, 'she owns it already');

      await row.getByRole('button', { name: 'Run now' }).click();
      await page
        .getByRole('status')
        .getByRole('link', { name: /pipeline #\d+/ })
        .waitFor();
      await row.getByRole('link', { name: /#\d+/ }).waitFor();

      // The switch shows the server's state: it turns off once the server has the change.
      await row.getByRole('checkbox').click();
      await until('the switch off', async () => ((await row.getByRole('checkbox').isChecked()) ? undefined : true));
      await until('the schedule switched off', async () => {
        const list = await tandem.api<ScheduleJson[]>('GET', '/api/v1/repos/shop/schedules');
        return list.body[0]?.active === false ? true : undefined;
      });
      await screenshot(page, 'schedules');
      assert.ok(!(await page.content()).includes(SECRET));
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }

    const reporter = await newContext(browser);
    try {
      await signIn(reporter.page, tandem.url, rita, '/repos/shop/schedules');
      await reporter.page.getByRole('row', { name: /nightly build/ }).waitFor();
      assert.equal(await reporter.page.getByRole('button', { name: 'Run now' }).count(), 0);
      assert.equal(await reporter.page.getByRole('button', { name: 'Add schedule' }).count(), 0);
      assert.ok(
        await reporter.page
          .getByRole('row', { name: /nightly build/ })
          .getByRole('checkbox')
          .isDisabled(),
      );
    } finally {
      await reporter.context.close();
    }

    const guest = await newContext(browser);
    try {
      await signIn(guest.page, tandem.url, gus, '/repos/shop');
      await guest.page.getByRole('navigation', { name: 'Repository' }).waitFor();
      assert.equal(await guest.page.getByRole('navigation', { name: 'Repository' }).getByRole('link', { name: 'Schedules' }).count(), 0);
    } finally {
      await guest.context.close();
    }
  });
});
