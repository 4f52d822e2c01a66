// The repository settings page's commit statuses section in a real browser, against a contract
// server standing in for GitHub: a maintainer sets the forge with a token that GitHub refuses and
// sees the error in the delivery summary, then gives the right token (never shown back) and sees
// the last delivery; the section says where statuses go.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { GitHubContractServer } from '../forges/github-contract.js';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { TestTandem } from '../support/tandem.js';

describe('web UI: commit statuses on the forge', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;
  let gh: GitHubContractServer;

  before(async () => {
    [tandem, gh] = await Promise.all([TestTandem.start({ agents: 1 }), GitHubContractServer.start()]);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
    await gh?.close();
  });

  it('a maintainer connects GitHub, sees a refused token in the summary, then the delivery', { timeout: 60_000 }, async () => {
    const { name, sha } = await tandem.repo({ '.gitlab-ci.yml': 'build:\n  script: [echo hi]\n' });
    const maintainer = await createUser(tandem, 'mia', { roles: { [name]: 'maintainer' } });
    // A contract server on loopback is inside the server's network: an admin points the repository there first.
    const set = await tandem.api('PATCH', `/api/v1/repos/${name}`, {
      forge: { type: 'github', apiUrl: gh.url, project: 'octo/shop', token: 'wrong' },
    });
    assert.equal(set.status, 200, set.text);
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, maintainer, `/repos/${name}/settings`);
      const section = page.getByRole('region', { name: 'Commit statuses' });
      await section.getByText('token set').waitFor();
      assert.match(await section.innerText(), /GitHub\s+octo\/shop at/);

      await tandem.waitForPipeline(await tandem.trigger(name));
      // Not just /401/: the contract server's port may contain those digits.
      const summary = section.getByRole('definition').filter({ hasText: /set commit status: 401/ });
      for (let i = 0; i < 40 && (await summary.count()) === 0; i++) {
        await page.reload();
        await page.waitForTimeout(250);
      }
      assert.match(await section.innerText(), /Last error\s+GitHub: set commit status: 401/);

      // The right token, typed into the write-only field: kept, never shown back.
      await section.getByLabel(/^Token/).fill(gh.token);
      await section.getByRole('button', { name: 'Save forge' }).click();
      await section.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
      assert.equal(await section.getByLabel(/^Token/).inputValue(), '');
      assert.ok(!(await page.content()).includes(gh.token), 'the token is nowhere on the page');

      await tandem.waitForPipeline(await tandem.trigger(name));
      for (let i = 0; i < 40 && gh.statesOf(sha, 'tandem/pipeline').at(-1)?.startsWith('success:') !== true; i++)
        await page.waitForTimeout(250);
      await page.reload();
      const lastDelivery = section.getByRole('definition').nth(2);
      assert.notEqual((await lastDelivery.innerText()).trim(), 'never');
      await screenshot(page, 'repo-settings-forge');
      assert.deepEqual(pageErrors, []);
      assert.deepEqual(gh.violations, []);
    } finally {
      await context.close();
    }
  });
});
