// Notifications in a real browser: a repository's maintainer adds a signed webhook in the settings
// (its secret never comes back; an address inside the server's network is refused, and the
// refusal shows next to the form), and a user adds their own email notification on "My
// notifications", to their own address by default, then deletes it after confirming.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { NotificationJson } from '../../src/api/index.js';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { TestTandem } from '../support/tandem.js';

const SECRET = 'a-signing-secret-nobody-sees-again';

describe('web UI: pipeline notifications', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;
  let repo: string;

  before(async () => {
    tandem = await TestTandem.start({ agents: 0 });
    browser = await launchBrowser();
    ({ name: repo } = await tandem.repo({ '.gitlab-ci.yml': 'build:\n  script: [echo hi]\n' }, { name: 'notified' }));
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
  });

  it("a maintainer adds a signed webhook in the repository's settings", { timeout: 30_000 }, async () => {
    const maintainer = await createUser(tandem, 'maya', { roles: { [repo]: 'maintainer' } });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, maintainer, `/repos/${repo}/settings`);
      const section = page.getByRole('region', { name: 'Notifications' });
      await section.getByText('No notifications yet.').waitFor();
      await section.getByLabel('Send to').selectOption('webhook');
      await section.getByLabel('Webhook URL').fill('http://127.0.0.1:9/inside');
      await section.getByRole('button', { name: 'Add notification' }).click();
      await section.getByRole('alert').waitFor();
      assert.match(await section.getByRole('alert').innerText(), /inside the server's network/);

      await section.getByLabel('Webhook URL').fill('https://203.0.113.10/ci-hook');
      await section.getByRole('checkbox', { name: /^Succeeded/ }).check();
      await section.getByLabel(/Signing secret/).fill(SECRET);
      await section.getByRole('button', { name: 'Add notification' }).click();
      await section
        .getByRole('status')
        .filter({ hasText: /Notification #\d+ added/ })
        .waitFor();
      const row = section.getByRole('row', { name: /203\.0\.113\.10/ });
      await row.waitFor();
      assert.match(await row.innerText(), /webhook[\s\S]*signed[\s\S]*failed, fixed, success/);
      assert.ok(!(await page.content()).includes(SECRET), 'the secret is nowhere on the page');
      await screenshot(page, 'repo-settings-notifications');

      const listed = await tandem.api<NotificationJson[]>('GET', `/api/v1/repos/${repo}/notifications`);
      assert.deepEqual(
        listed.body.map((n) => [n.type, n.target, n.events, n.signed, n.createdBy]),
        [['webhook', 'https://203.0.113.10/ci-hook', ['failed', 'fixed', 'success'], true, 'maya']],
      );
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  it('a user adds their own email notification, to their own address, and deletes it', { timeout: 30_000 }, async () => {
    const dev = { username: 'devi', password: 'correct-horse-battery-staple-9' };
    assert.equal((await tandem.api('POST', '/api/v1/users', { ...dev, email: 'devi@ci.example' })).status, 201);
    assert.equal((await tandem.api('PUT', `/api/v1/repos/${repo}/members/devi`, { role: 'developer' })).status, 200);
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, dev, '/profile/notifications');
      await page.getByRole('heading', { name: 'My notifications', level: 1 }).waitFor();
      const section = page.getByRole('region', { name: 'Notifications' });
      await section.getByText('No notifications yet.').waitFor();
      await section.getByRole('button', { name: 'Add notification' }).click();
      const shown = section.getByRole('row', { name: /devi@ci\.example/ });
      await shown.waitFor();
      assert.match(await shown.innerText(), /every repository you can read[\s\S]*email[\s\S]*failed, fixed/);
      await screenshot(page, 'my-notifications');

      const row = await tandem.server.ctx.store.db
        .selectFrom('notification_subscriptions')
        .selectAll()
        .where('created_by', '=', 'devi')
        .executeTakeFirstOrThrow();
      assert.deepEqual(
        [row.repo_id, row.type, row.target, JSON.parse(row.events)],
        [null, 'email', 'devi@ci.example', ['failed', 'fixed']],
      );
      await section.getByRole('button', { name: /Delete notification \d+/ }).click();
      await page
        .getByRole('dialog', { name: /Delete notification #\d+\?/ })
        .getByRole('button', { name: 'Delete' })
        .click();
      await section.getByText('No notifications yet.').waitFor();
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
