// The web UI's shell in a real browser: served by the server at every UI path, signs in with a
// password, shows what the user may see, signs out; assets are compressed and cached, unknown API
// paths stay JSON errors.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { TestTandem } from '../support/tandem.js';

describe('web UI shell', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;

  before(async () => {
    tandem = await TestTandem.start({ agents: 1 });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
  });

  it('serves the app at / and at any UI path, with a strict CSP, and its assets compressed and cached', async () => {
    for (const at of ['/', '/pipelines/12', '/repos/some/settings']) {
      const res = await fetch(tandem.url + at);
      assert.equal(res.status, 200, at);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      const html = await res.text();
      assert.match(html, /<div id="root">/);
    }
    const html = await (await fetch(tandem.url + '/')).text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, 'index.html names its script');
    const gz = await fetch(tandem.url + script, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers.get('content-encoding'), 'gzip');
    assert.match(gz.headers.get('cache-control') ?? '', /immutable/);
    const missing = await fetch(tandem.url + '/assets/nope.js');
    assert.equal(missing.status, 404);
    const traversal = await fetch(tandem.url + '/assets/..%2f..%2fpackage.json');
    assert.equal(traversal.status, 404);
  });

  it('keeps unknown API paths as JSON errors, not the app', async () => {
    const res = await fetch(tandem.url + '/api/v1/nothing-here');
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type') ?? '', /json/);
  });

  it('signs in with a password, shows only the pipelines the user may see, and signs out', async () => {
    const seen = await tandem.repo({ '.tandem.yml': 'build:\n  script: [echo hi]\n' }, { name: 'seen' });
    await tandem.repo({ '.tandem.yml': 'build:\n  script: [echo hi]\n' }, { name: 'hidden' });
    const seenId = await tandem.trigger(seen.name);
    const hiddenId = await tandem.trigger('hidden');
    await tandem.waitForPipeline(seenId);
    const user = await createUser(tandem, 'dana', { roles: { seen: 'developer' } });

    const { context, page, pageErrors } = await newContext(browser);
    try {
      await page.goto(tandem.url + '/');
      await page.getByLabel('Username').fill('dana');
      await page.getByLabel('Password').fill('wrong password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').waitFor();
      assert.match(await page.getByRole('alert').innerText(), /password|credentials|invalid/i);

      await signIn(page, tandem.url, user);
      const row = page.getByRole('link', { name: `#${seenId}` });
      await row.waitFor();
      assert.equal(await page.getByRole('link', { name: `#${hiddenId}` }).count(), 0, 'a pipeline of a repository dana is not a member of');
      assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0, 'no admin pages for a non-admin');
      await screenshot(page, 'dashboard');

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      const me = await page.request.get(tandem.url + '/api/v1/session');
      assert.equal(me.status(), 401, 'the session is gone on the server too');
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  it('follows the system colour scheme and a chosen theme', async () => {
    const user = await createUser(tandem, 'theo', { admin: true });
    const context = await browser.newContext({ colorScheme: 'dark' });
    const page = await context.newPage();
    try {
      await signIn(page, tandem.url, user);
      const background = () => page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
      const dark = await background();
      await page.getByLabel('Theme').selectOption('light');
      const light = await background();
      assert.notEqual(dark, light);
      assert.equal(light, 'rgb(255, 255, 255)');
      await page.reload();
      await page.getByText('Signed in as theo').waitFor();
      assert.equal(await background(), light, 'the choice is remembered');
    } finally {
      await context.close();
    }
  });

  it('folds the sidebar into a Menu button on a narrow screen, and is usable from the keyboard', async () => {
    const user = await createUser(tandem, 'nia', { admin: true });
    const context = await browser.newContext({ viewport: { width: 390, height: 800 } });
    const page = await context.newPage();
    try {
      await signIn(page, tandem.url, user);
      const reposLink = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Repositories' });
      assert.equal(await reposLink.isVisible(), false, 'the menu starts folded');
      const menu = page.getByRole('button', { name: 'Menu' });
      await menu.focus();
      await page.keyboard.press('Enter');
      assert.equal(await menu.getAttribute('aria-expanded'), 'true');
      await reposLink.focus();
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Repositories' }).waitFor();
      assert.equal(new URL(page.url()).pathname, '/repos');
      assert.equal(await reposLink.isVisible(), false, 'choosing a page folds the menu again');
      await screenshot(page, 'narrow-repos');
    } finally {
      await context.close();
    }
  });

  it('keeps the account controls (profile pages, theme, sign out) inside the Menu on a phone', async () => {
    const user = await createUser(tandem, 'pia');
    const context = await browser.newContext({ viewport: { width: 390, height: 800 } });
    const page = await context.newPage();
    try {
      await signIn(page, tandem.url, user);
      const account = page.getByRole('navigation', { name: 'Account' });
      const signOut = page.getByRole('button', { name: 'Sign out' });
      const controls = [signOut, page.getByLabel('Theme'), account.getByRole('link', { name: 'Access tokens' })];
      for (const control of controls) assert.equal(await control.isVisible(), false, 'folded with the menu');
      const main = await page.locator('main').boundingBox();
      assert.ok(main && main.y < 120, `the page starts near the top, not under the account controls (at ${main?.y}px)`);

      await page.getByRole('button', { name: 'Menu' }).click();
      for (const control of controls) assert.equal(await control.isVisible(), true, 'shown with the menu');
      await screenshot(page, 'narrow-menu-open');
      await account.getByRole('link', { name: 'Access tokens' }).click();
      await page.getByRole('heading', { level: 1, name: /tokens/i }).waitFor();
      assert.equal(await signOut.isVisible(), false, 'choosing a page folds the account controls too');
      await page.getByRole('button', { name: 'Menu' }).click();
      await signOut.click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
    } finally {
      await context.close();
    }
  });
});
