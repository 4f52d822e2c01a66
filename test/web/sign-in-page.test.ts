// The server's own sign-in page (/login, the page `tandem login --web` and single sign-on return
// through) looks like the app's: the same colour tokens, dark with the system or with the theme the
// user chose in the app, the error in the app's red box, and it still signs in.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkip, createUser, launchBrowser, screenshot } from '../support/browser.js';
import { repoRoot } from '../support/git.js';
import { TestTandem } from '../support/tandem.js';

/** `--name: value` pairs of a CSS block. */
function tokens(block: string): Map<string, string> {
  return new Map([...block.matchAll(/(--[\w-]+)\s*:\s*([^;}]+)/g)].map((m) => [m[1], m[2].trim()]));
}

// No browser needed: this runs wherever the suite does, so a drift shows up without Chromium too.
describe('server sign-in page colours', () => {
  let tandem: TestTandem;

  before(async () => {
    tandem = await TestTandem.start();
  });
  after(async () => {
    await tandem?.close();
  });

  it("uses the app's colour tokens, light and dark", async () => {
    const css = await readFile(path.join(repoRoot(), 'web/src/styles.css'), 'utf8');
    const appLight = tokens(/:root \{([^}]*)\}/.exec(css)?.[1] ?? '');
    const appDark = tokens(/:root\[data-theme='dark'\] \{([^}]*)\}/.exec(css)?.[1] ?? '');
    const html = await (await fetch(tandem.url + '/login')).text();
    const pageLight = tokens(/:root\{([^}]*)\}/.exec(html)?.[1] ?? '');
    const pageDark = tokens(/:root\[data-theme='dark'\]\{([^}]*)\}/.exec(html)?.[1] ?? '');
    assert.ok(pageLight.size >= 10 && pageDark.size >= 10, 'the page defines the tokens it uses');
    for (const [name, value] of pageLight) assert.equal(value, appLight.get(name), `light ${name}`);
    for (const [name, value] of pageDark) assert.equal(value, appDark.get(name), `dark ${name}`);
  });
});

describe('server sign-in page', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;

  before(async () => {
    tandem = await TestTandem.start();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
  });

  it("follows the system's scheme and the theme chosen in the app, shows errors in the app's box, and signs in", async () => {
    const user = await createUser(tandem, 'lena');
    const background = (page: import('playwright-core').Page) => page.evaluate<string>('getComputedStyle(document.body).backgroundColor');

    const dark = await browser.newContext({ colorScheme: 'dark', viewport: { width: 390, height: 800 } });
    try {
      const page = await dark.newPage();
      await page.goto(tandem.url + '/login?return=/repos');
      assert.equal(await background(page), 'rgb(22, 24, 28)', 'dark like the app under a dark system scheme');
      await page.getByLabel('Username').fill('lena');
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.match(await alert.innerText(), /Not signed in/);
      assert.equal(
        await page.evaluate<string>("getComputedStyle(document.querySelector('[role=alert]')).backgroundColor"),
        'rgb(69, 32, 29)',
        "the app's dark danger box",
      );
      assert.equal(await page.getByLabel('Username').inputValue(), 'lena', 'the username is kept');
      await screenshot(page, 'login-page-dark-error');

      // The app remembers a chosen theme in a cookie these script-free pages read.
      await page.getByLabel('Password').fill(user.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/repos$/);
      await page.getByText('Signed in as lena').waitFor();
      await page.getByRole('button', { name: 'Menu' }).click();
      await page.getByLabel('Theme').selectOption('light');
      await page.goto(tandem.url + '/login');
      assert.equal(await background(page), 'rgb(255, 255, 255)', 'light as chosen, although the system is dark');
      assert.equal(await page.locator('html').getAttribute('data-theme'), 'light');
    } finally {
      await dark.close();
    }
  });
});
