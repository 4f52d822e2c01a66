// The environment pages in a real browser: v1 then v2 deployed to a local target by pipelines, a
// developer sees v2 live and both releases, rolls back with one confirmed click and watches v1 go
// live again (the target serves v1); a reporter sees the environment without a rollback button; a
// guest is refused; and a forged rollback (no CSRF token, as JSON or as a cross-site form would send
// it) is refused and leaves the timeline as it was; a maintainer protects the environment and
// approves (confirmed, with a comment) the deploy that then waits for it: the timeline and the audit
// log name the approver.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { AuditEntryJson as AuditEntry, EnvironmentJson as Environment, ReleaseJson as Release } from '../../src/api/index.js';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { stopDeployedDemoServices } from '../support/demo-service.js';
import { demoAppFiles, localDeployTarget, servingVersion, type LocalDeployTarget } from '../support/deploy-pipeline.js';
import type { TestRemote } from '../support/git.js';
import { TestTandem } from '../support/tandem.js';

const REPO = 'shop';
const ENV = 'staging';
const ENV_PAGE = `/repos/${REPO}/environments/${ENV}`;
/** A pipeline whose release is named `version` (else it is named by its commit). */
const versioned = (version: string) => ({ variables: { TANDEM_RELEASE_VERSION: version } });

describe('web UI: environments and rollback', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;
  let target: LocalDeployTarget;
  let remote: TestRemote;

  const releases = async () => (await tandem.api<Release[]>('GET', `/api/v1/repos/${REPO}/environments/${ENV}/releases`)).body;
  const environment = async () =>
    (await tandem.api<Environment[]>('GET', `/api/v1/repos/${REPO}/environments`)).body.find((e) => e.name === ENV);
  const liveRelease = (page: Page) => page.locator('.current-release');

  before(async () => {
    tandem = await TestTandem.start({ agents: 1 });
    browser = await launchBrowser();
    target = await localDeployTarget(tandem, ENV);
    ({ remote } = await tandem.repo({ '.tandem.yml': target.file, ...(await demoAppFiles(tandem, 'v1')) }, { name: REPO }));
    const first = await tandem.waitForPipeline(await tandem.trigger(REPO, versioned('v1')), undefined, 30_000);
    assert.equal(first.status, 'success', 'v1 deploys');
    await remote.commit(await demoAppFiles(tandem, 'v2'), 'v2');
    await remote.push('main');
    const second = await tandem.waitForPipeline(await tandem.trigger(REPO, versioned('v2')), undefined, 30_000);
    assert.equal(second.status, 'success', 'v2 deploys');
    assert.equal(await servingVersion(target.url), 'v2');
  });
  after(async () => {
    await browser?.close();
    if (target) await stopDeployedDemoServices(target.dir);
    await tandem?.close();
  });

  it('a developer sees v2 live and both releases, rolls back to v1 and sees it go live', { timeout: 60_000 }, async () => {
    const developer = await createUser(tandem, 'devon', { roles: { [REPO]: 'developer' } });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, developer, `/repos/${REPO}/environments`);
      const row = page.getByRole('row', { name: new RegExp(ENV) });
      await row.getByText('v2').waitFor();
      assert.match(await row.innerText(), /free/, 'no deploy holds the environment');
      await screenshot(page, 'environments-list');

      await row.getByRole('link', { name: ENV }).click();
      await page.getByRole('heading', { name: `Environment ${ENV}`, level: 1 }).waitFor();
      await liveRelease(page).getByText('v2', { exact: true }).waitFor();
      // Where it is live: the target of the release's stored deploy block.
      const where = await liveRelease(page).locator('.release-target').innerText();
      assert.ok(where.includes(`Target: local on local:${target.dir}`) && where.includes('(rolling)'), where);
      const timeline = page.getByRole('region', { name: 'Releases' });
      const rows = timeline.getByRole('listitem');
      await rows.nth(1).waitFor();
      assert.equal(await rows.count(), 2, 'the two releases, newest first');
      assert.match(await rows.nth(0).innerText(), /Release #\d+\s+v2[\s\S]*live now[\s\S]*deploy[\s\S]*v2 \w{8}/);
      assert.match(await rows.nth(1).innerText(), /v1[\s\S]*superseded[\s\S]*last good[\s\S]*deploy/);
      assert.match(await rows.nth(1).innerText(), /\d{4}.*\d{1,2}:\d{2}[\s\S]*by pipeline #\d+/, 'its date and who made it');
      assert.ok(
        await timeline
          .getByRole('link', { name: /pipeline #\d+/ })
          .first()
          .isVisible(),
        'commits link to their pipelines',
      );

      // The diff of the two releases: both carry a manifest of app/, and its VERSION differs.
      await page
        .getByLabel(/Compare release #\d+/)
        .nth(0)
        .check();
      await page
        .getByLabel(/Compare release #\d+/)
        .nth(1)
        .check();
      const diff = page.getByRole('region', { name: /Release #\d+ → #\d+/ });
      await diff.getByText('VERSION', { exact: true }).waitFor();
      assert.match(await diff.innerText(), /changed\s+VERSION/);
      await screenshot(page, 'environment-v2-live');

      await page.getByRole('button', { name: 'Rollback' }).click();
      const dialog = page.getByRole('dialog', { name: `Roll ${ENV} back?` });
      await dialog.waitFor();
      const text = await dialog.innerText();
      assert.match(text, /Live now:\s*v2/);
      assert.match(
        await dialog.getByLabel('Roll back to').locator('option:checked').innerText(),
        /^Release #\d+ · v1 · .*\(\w{8}\) · .*\d{4}.* · last good$/,
        'the last good release by default, with its number, commit title and date',
      );
      assert.match(text, /Release\s+#\d+\s+v1\s+last good\s+Commit\s+initial\s+\w{8}\s+Deployed\s+.*\d{4}.* by pipeline #\d+/);
      await screenshot(page, 'environment-rollback-dialog');
      await dialog.getByRole('button', { name: 'Roll back to v1' }).click();

      const status = page.locator('.rollback-status');
      await status.getByRole('link', { name: /pipeline #\d+/ }).waitFor();
      await liveRelease(page).getByText('v1', { exact: true }).waitFor({ timeout: 30_000 });
      await status.getByText('live').waitFor();
      await rows.nth(2).waitFor();
      assert.match(await rows.nth(0).innerText(), /v1[\s\S]*live now[\s\S]*rollback to #\d+[\s\S]*devon/);
      await screenshot(page, 'environment-rolled-back');

      assert.equal(await servingVersion(target.url), 'v1', 'the target serves v1 again');
      const env = await environment();
      assert.deepEqual([env?.current?.version, env?.current?.kind, env?.current?.createdBy], ['v1', 'rollback', 'devon']);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  it('a reporter sees the environment without a rollback button; a guest is refused', { timeout: 30_000 }, async () => {
    const reporter = await createUser(tandem, 'rae', { roles: { [REPO]: 'reporter' } });
    const guest = await createUser(tandem, 'gil', { roles: { [REPO]: 'guest' } });
    const { context, page } = await newContext(browser);
    try {
      await signIn(page, tandem.url, reporter, ENV_PAGE);
      await liveRelease(page).getByText('v1', { exact: true }).waitFor();
      await page.getByRole('region', { name: 'Releases' }).getByRole('listitem').nth(0).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Rollback' }).count(), 0);
      assert.equal(await page.getByRole('button', { name: /^(Protect|Unprotect)$/ }).count(), 0);
      await screenshot(page, 'environment-reporter');

      await page.getByRole('button', { name: 'Sign out' }).click();
      await signIn(page, tandem.url, guest, ENV_PAGE);
      await page.getByRole('alert').waitFor();
      assert.match(await page.getByRole('alert').innerText(), /environment\.read/);
    } finally {
      await context.close();
    }
  });

  it('shows the image a release runs, pinned by digest, its registry link and the hosts running it', { timeout: 45_000 }, async () => {
    const image = `127.0.0.1:25500/shop/web@sha256:${'0123456789abcdef'.repeat(4)}`;
    const file = [
      'deploy-images:',
      '  script: [echo built]',
      '  environment: { name: images }',
      '  deploy:',
      `    image: ${image}`,
      '    target: { script: { deploy: "true" } }',
      '',
    ].join('\n');
    await tandem.repo({ '.tandem.yml': file }, { name: 'images-shop' });
    const done = await tandem.waitForPipeline(await tandem.trigger('images-shop'), undefined, 30_000);
    assert.equal(done.status, 'success');
    const viewer = await createUser(tandem, 'ivy', { roles: { 'images-shop': 'reporter' } });
    const { context, page } = await newContext(browser);
    try {
      await signIn(page, tandem.url, viewer, '/repos/images-shop/environments/images');
      const shown = page.locator('.current-release .image-ref');
      await shown.waitFor();
      assert.equal(await shown.innerText(), '127.0.0.1:25500/shop/web@sha256:0123456789ab');
      assert.equal(await shown.getAttribute('title'), image);
      const link = page.getByRole('link', { name: 'in the registry' });
      assert.equal(await link.getAttribute('href'), `https://127.0.0.1:25500/v2/shop/web/manifests/sha256:${'0123456789abcdef'.repeat(4)}`);
      // The host the release runs on, as the agent reported it.
      const host = page.getByRole('table', { name: 'Hosts' }).getByRole('row').nth(1);
      assert.match(await host.innerText(), /release #\d+[\s\S]*127\.0\.0\.1:25500\/shop\/web@sha256:0123456789ab/);
      await screenshot(page, 'environment-image-hosts');
    } finally {
      await context.close();
    }
  });

  it('refuses a rollback forged without the CSRF token, as JSON or as a form', { timeout: 30_000 }, async () => {
    const developer = await createUser(tandem, 'dana', { roles: { [REPO]: 'developer' } });
    const { context, page } = await newContext(browser);
    try {
      await signIn(page, tandem.url, developer, ENV_PAGE);
      await liveRelease(page).getByText('v1', { exact: true }).waitFor();
      const before = (await releases()).map((r) => r.id);
      const path = `/api/v1/repos/${REPO}/environments/${ENV}/rollback`;
      const forged = await page.evaluate(async (url) => {
        const json = await fetch(url, {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        });
        const form = await fetch(url, {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'to=1',
        });
        return { json: { status: json.status, text: await json.text() }, form: { status: form.status, text: await form.text() } };
      }, path);
      assert.equal(forged.json.status, 403, forged.json.text);
      assert.match(forged.json.text, /CSRF/);
      assert.equal(forged.form.status, 403, forged.form.text);
      assert.deepEqual(
        (await releases()).map((r) => r.id),
        before,
        'no release was made',
      );
      await page.reload();
      await page.getByRole('region', { name: 'Releases' }).getByRole('listitem').nth(0).waitFor();
      assert.equal(
        await page.getByRole('region', { name: 'Releases' }).getByRole('listitem').count(),
        before.length,
        'the timeline shows nothing new',
      );
    } finally {
      await context.close();
    }
  });

  it('a maintainer protects the environment and approves the deploy waiting for it', { timeout: 45_000 }, async () => {
    const maintainer = await createUser(tandem, 'max', { roles: { [REPO]: 'maintainer' } });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, maintainer, ENV_PAGE);
      const live = page.getByRole('region', { name: 'Live now' });
      await live.getByRole('button', { name: 'Protect' }).click();
      await live.getByText('protected').waitFor();
      assert.equal((await environment())?.protected, true);

      await remote.commit(await demoAppFiles(tandem, 'v3'), 'v3');
      await remote.push('main');
      const pipelineId = await tandem.trigger(REPO, versioned('v3'));
      const waiting = page.getByRole('region', { name: 'Waiting for you' });
      await waiting.getByRole('link', { name: `pipeline #${pipelineId}` }).waitFor({ timeout: 20_000 });
      await screenshot(page, 'environment-approval');
      await waiting.getByRole('button', { name: `Approve deploy-${ENV} of pipeline #${pipelineId}` }).click();
      // Approving asks first; cancelling leaves the deploy waiting.
      const confirm = page.getByRole('dialog', { name: `Approve the deploy to ${ENV}?` });
      await confirm.getByRole('button', { name: 'Cancel' }).click();
      await confirm.waitFor({ state: 'hidden' });
      assert.equal((await tandem.pipeline(pipelineId)).jobs.find((j) => j.name === `deploy-${ENV}`)?.status, 'manual');
      await waiting.getByRole('button', { name: `Approve deploy-${ENV} of pipeline #${pipelineId}` }).click();
      await confirm.getByLabel('Comment (optional)').fill('Checked the canary dashboards');
      await screenshot(page, 'environment-approve-dialog');
      await confirm.getByRole('button', { name: 'Approve and deploy' }).click();
      await liveRelease(page).getByText('v3', { exact: true }).waitFor({ timeout: 30_000 });
      // The release timeline says who approved it and why; so does the audit log.
      const newest = page.getByRole('region', { name: 'Releases' }).getByRole('listitem').first();
      await newest.getByText('Approved by max').waitFor();
      assert.match(await newest.innerText(), /v3[\s\S]*Approved by max[\s\S]*Checked the canary dashboards/);
      const [release] = await releases();
      assert.deepEqual([release.version, release.approval?.by, release.approval?.comment], ['v3', 'max', 'Checked the canary dashboards']);
      const audit = await tandem.api<AuditEntry[]>('GET', '/api/v1/audit?actor=max&action=job.play');
      assert.equal(audit.body[0]?.details?.comment, 'Checked the canary dashboards');
      await screenshot(page, 'environment-approved-timeline');
      assert.equal(await servingVersion(target.url), 'v3');
      assert.equal(await waiting.count(), 0, 'nothing waits any more');
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
