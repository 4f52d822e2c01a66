// A real browser for the web UI's tests: Debian's chromium driven by playwright-core. Screenshots
// go to test-output/web (kept as the suite's output, not committed).
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { repoRoot } from './git.js';
import { serviceSkip } from './skip.js';
import type { TestTandem } from './tandem.js';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const SCREENSHOT_DIR = path.join(repoRoot(), 'test-output', 'web');

export const browserSkip = serviceSkip('web UI browser tests', () =>
  existsSync(CHROMIUM) ? null : `no ${CHROMIUM}: bash scripts/services.sh install (Debian package chromium)`,
);

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}

/** A user with a password (and, unless admin, the given role on each named repository). */
export async function createUser(
  tandem: TestTandem,
  username: string,
  opts: { admin?: boolean; roles?: Record<string, string> } = {},
): Promise<{ username: string; password: string }> {
  const password = 'correct-horse-battery-staple-9';
  const res = await tandem.api('POST', '/api/v1/users', { username, password, admin: opts.admin ?? false });
  if (res.status !== 201) throw new Error(`creating user ${username}: ${res.status} ${res.text}`);
  for (const [repo, role] of Object.entries(opts.roles ?? {})) {
    const set = await tandem.api('PUT', `/api/v1/repos/${repo}/members/${username}`, { role });
    if (set.status >= 300) throw new Error(`making ${username} ${role} of ${repo}: ${set.status} ${set.text}`);
  }
  return { username, password };
}

/** Signs in through the UI's own form, as a person would. */
export async function signIn(page: Page, baseUrl: string, user: { username: string; password: string }, at = '/'): Promise<void> {
  await page.goto(baseUrl + at);
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`Signed in as ${user.username}`).waitFor();
}

/** A fresh browser context (its own cookies), failing the test on any uncaught page error. */
export async function newContext(browser: Browser): Promise<{ context: BrowserContext; page: Page; pageErrors: Error[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const pageErrors: Error[] = [];
  page.on('pageerror', (err) => pageErrors.push(err));
  return { context, page, pageErrors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
