// Every page of the web UI checked by axe-core (WCAG 2.1 A and AA: labels, names, contrast,
// landmarks, ARIA) in a real browser, in the light and the dark theme, with real data on it: a
// deployed environment, a finished pipeline and its job, a retried job's attempts, and the admin pages.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserSkip, createUser, launchBrowser, signIn } from '../support/browser.js';
import { stopDeployedDemoServices } from '../support/demo-service.js';
import { demoAppFiles, localDeployTarget, type LocalDeployTarget } from '../support/deploy-pipeline.js';
import { TestTandem } from '../support/tandem.js';

const REPO = 'shop';
const ENV = 'staging';

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** The page's WCAG 2.1 A/AA violations, each as "rule (impact): help at selectors". */
async function audit(page: Page, axeSource: string): Promise<string[]> {
  if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.addScriptTag({ content: axeSource });
  const violations = await page.evaluate<AxeViolation[]>(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`,
  );
  return violations.map(
    (v) =>
      `${v.id} (${v.impact}): ${v.help} at ${v.nodes
        .map((n) => n.target.join(' '))
        .slice(0, 5)
        .join(', ')}`,
  );
}

/** Waits until the page has its heading and nothing is loading any more. */
async function settled(page: Page): Promise<void> {
  await page.locator('h1').first().waitFor();
  await page.waitForFunction(
    `!Array.from(document.querySelectorAll('[role="status"]')).some((e) => /Loading/.test(e.textContent))`,
    undefined,
    { timeout: 15_000 },
  );
}

describe('web UI accessibility (axe-core, WCAG 2.1 AA)', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;
  let target: LocalDeployTarget;
  let axeSource: string;
  let pages: string[];

  before(async () => {
    axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    tandem = await TestTandem.start({ agents: 1 });
    browser = await launchBrowser();
    target = await localDeployTarget(tandem, ENV);
    await tandem.repo({ '.tandem.yml': target.file, ...(await demoAppFiles(tandem, 'v1')) }, { name: REPO });
    const pipeline = await tandem.waitForPipeline(
      await tandem.trigger(REPO, { variables: { TANDEM_RELEASE_VERSION: 'v1' } }),
      undefined,
      30_000,
    );
    assert.equal(pipeline.status, 'success');
    // A failed job retried once: its page lists both attempts, its pipeline offers "Retry failed jobs".
    await tandem.repo({ '.tandem.yml': 'flaky:\n  script: [exit 1]\n' }, { name: 'flaky' });
    const failing = await tandem.waitForPipeline(await tandem.trigger('flaky'));
    const retried = await tandem.api('POST', `/api/v1/jobs/${failing.jobs[0].id}/retry`);
    assert.equal(retried.status, 200, retried.text);
    await tandem.waitForPipeline(failing.id, (p) => p.jobs.length === 2 && p.status === 'failed');
    const schedule = await tandem.api('POST', `/api/v1/repos/${REPO}/schedules`, {
      cron: '0 2 * * *',
      ref: 'main',
      description: 'nightly',
    });
    assert.equal(schedule.status, 201, schedule.text);
    pages = [
      '/',
      '/repos',
      `/repos/${REPO}`,
      `/repos/${REPO}/settings`,
      `/repos/${REPO}/environments`,
      `/repos/${REPO}/environments/${ENV}`,
      `/repos/${REPO}/schedules`,
      `/repos/${REPO}/tests`,
      `/repos/${REPO}/dora`,
      `/pipelines/${pipeline.id}`,
      `/jobs/${pipeline.jobs[0].id}`,
      `/pipelines/${failing.id}`,
      `/jobs/${failing.jobs[0].id}`,
      '/alerts',
      '/slos',
      '/profile/tokens',
      '/profile/notifications',
      '/admin/users',
      '/admin/agents',
      '/admin/audit',
      '/admin/backups',
    ];
  });
  after(async () => {
    await browser?.close();
    if (target) await stopDeployedDemoServices(target.dir);
    await tandem?.close();
  });

  for (const colorScheme of ['light', 'dark'] as const) {
    it(`every page passes in the ${colorScheme} theme, the sign-in page too`, { timeout: 120_000 }, async () => {
      // The audit script is injected into the page, which the app's CSP would refuse.
      const context = await browser.newContext({ colorScheme, bypassCSP: true, viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const found: string[] = [];
      try {
        await page.goto(tandem.url + '/');
        await page.getByRole('button', { name: 'Sign in' }).waitFor();
        found.push(...(await audit(page, axeSource)).map((v) => `sign-in: ${v}`));
        // The audit itself works: an input without a label is found.
        await page.evaluate(`document.querySelector('main').insertAdjacentHTML('beforeend', '<input id="unlabelled">')`);
        assert.ok(
          (await audit(page, axeSource)).some((v) => v.startsWith('label ') && v.includes('#unlabelled')),
          'axe reports an unlabelled input',
        );
        await page.evaluate(`document.getElementById('unlabelled').remove()`);
        await signIn(page, tandem.url, await createUser(tandem, `auditor-${colorScheme}`, { admin: true }));
        for (const at of pages) {
          await page.goto(tandem.url + at);
          await settled(page);
          found.push(...(await audit(page, axeSource)).map((v) => `${at}: ${v}`));
        }
      } finally {
        await context.close();
      }
      assert.deepEqual(found, []);
    });
  }
});
