// The admin pages and access tokens in a real browser against a real server: an admin creates a
// user who can then sign in; a user creates a token (shown once, copied, working as a Bearer token)
// and revokes it (401 from then on); the audit log page lists those changes and filters them; the
// agents and backups pages show what the API has; a non-admin gets "Administrators only" and a 403.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { TestTandem } from '../support/tandem.js';

const PASSWORD = 'another-correct-horse-42';

describe('web UI: users, tokens, audit log, agents, backups', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;
  let admin: { username: string; password: string };
  let user: { username: string; password: string };

  before(async () => {
    tandem = await TestTandem.start({ agents: 1 });
    browser = await launchBrowser();
    admin = await createUser(tandem, 'root', { admin: true });
    user = await createUser(tandem, 'cal');
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
  });

  /** Runs `use` on a signed-in page of `who` at `at`, failing on any uncaught page error. */
  async function as(
    who: { username: string; password: string },
    at: string,
    use: (page: Page, context: BrowserContext) => Promise<void>,
  ): Promise<void> {
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, who, at);
      await use(page, context);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  }

  it('an admin creates a user from the UI, who can then sign in', async () => {
    await as(admin, '/admin/users', async (page) => {
      const form = page.getByRole('form', { name: 'New user' });
      await form.getByLabel('Username').fill('bea');
      await form.getByLabel('Password').fill(PASSWORD);
      await form.getByRole('button', { name: 'Create user' }).click();
      await page.getByText('User bea created.').waitFor();
      await page
        .getByRole('row')
        .filter({ has: page.getByRole('rowheader', { name: 'bea' }) })
        .waitFor();
      await screenshot(page, 'admin-users');
    });
    await as({ username: 'bea', password: PASSWORD }, '/', async (page) => {
      await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    });
  });

  it('a user creates a token in the UI, shown once, that works until revoked in the UI', async () => {
    await as(user, '/profile/tokens', async (page, context) => {
      await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: tandem.url });
      const form = page.getByRole('form', { name: 'New token' });
      await form.getByLabel('Name').fill('laptop');
      assert.equal(await form.getByLabel(/register_agent/).count(), 0, 'agent registration is for admins');
      await form.getByRole('button', { name: 'Create token' }).click();
      const secret = page.getByLabel('Token secret');
      await secret.waitFor();
      const token = await secret.innerText();
      assert.match(token, /^td/);
      await page.getByRole('button', { name: 'Copy' }).click();
      await page.getByText('Copied.').waitFor();
      assert.equal(await page.evaluate<string>('navigator.clipboard.readText()'), token);
      await screenshot(page, 'tokens-created');

      const bearer = () => fetch(tandem.url + '/api/v1/session', { headers: { authorization: `Bearer ${token}` } });
      const me = await bearer();
      assert.equal(me.status, 200);
      assert.equal(((await me.json()) as { user: { username: string } }).user.username, 'cal');

      await page.getByRole('button', { name: 'Done' }).click();
      await page.reload();
      const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'laptop' }) });
      await row.waitFor();
      assert.equal(await page.getByText(token).count(), 0, 'the secret is shown once');

      await row.getByRole('button', { name: 'Revoke laptop' }).click();
      await page.getByRole('dialog', { name: 'Revoke laptop?' }).getByRole('button', { name: 'Revoke token' }).click();
      await page.getByText('No tokens yet.').waitFor();
      assert.equal((await bearer()).status, 401);
    });
  });

  it('the audit log page lists those changes and filters them by action', async () => {
    await as(admin, '/admin/audit', async (page) => {
      const rows = page.getByRole('row');
      await rows.filter({ hasText: 'user.create' }).filter({ hasText: 'username=bea' }).waitFor();
      await rows.filter({ hasText: 'token.create' }).filter({ hasText: 'name=laptop' }).waitFor();
      await rows.filter({ hasText: 'token.revoke' }).filter({ hasText: 'cal' }).waitFor();
      await page.getByLabel(/^Action/).fill('token.revoke');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.getByRole('row').filter({ hasText: 'user.create' }).waitFor({ state: 'detached' });
      // The filtered page replaces the table (a loading state in between): wait for its row.
      await rows.filter({ hasText: 'token.revoke' }).waitFor();
      assert.equal(await rows.count(), 2, 'the header and the one revocation');
      await screenshot(page, 'audit');
    });
  });

  it('the agents and backups pages show what the API has', async () => {
    await as(admin, '/admin/agents', async (page) => {
      await page
        .getByRole('row')
        .filter({ has: page.getByRole('rowheader', { name: /agent-1/ }) })
        .getByText('online')
        .waitFor();
      await page.goto(tandem.url + '/admin/backups');
      await page.getByText('No backups yet', { exact: false }).waitFor();
      await page.getByText('No drills yet', { exact: false }).waitFor();
    });
  });

  it('a non-admin gets "Administrators only" for admin pages, and the API refuses them', async () => {
    await as(user, '/admin/users', async (page) => {
      await page.getByRole('heading', { level: 1, name: 'Administrators only' }).waitFor();
      assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0);
      const refused = await page.request.get(tandem.url + '/api/v1/users');
      assert.equal(refused.status(), 403);
    });
  });
});
