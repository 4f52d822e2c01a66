// The pipeline page's Images table in a real browser (issue 20, item 1): a job declares an image
// pushed to a real registry (docker-registry, TLS, basic auth); its agent pins it, and the page
// lists the image with its digest, the ref as pushed, the job and a link to the registry.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { pushBusybox, registrySkip, startRegistry, type PushedImage, type TestRegistry } from '../support/registry.js';
import { stopChild } from '../support/stop-child.js';
import { TestTandem, type PipelineView } from '../support/tandem.js';

describe('web UI: images a pipeline pushed', { skip: browserSkip() || registrySkip() }, () => {
  let tandem: TestTandem;
  let registry: TestRegistry;
  let browser: Browser;
  let image: PushedImage;
  let pipeline: PipelineView;

  before(async () => {
    [tandem, registry, browser] = await Promise.all([TestTandem.start({ agents: 0 }), startRegistry(), launchBrowser()]);
    image = await pushBusybox(registry, 'web/app', 'v1');
    tandem.spawnAgent('pinner', [], undefined, { NODE_EXTRA_CA_CERTS: registry.caFile });
    const { name } = await tandem.repo({
      '.gitlab-ci.yml': `release:\n  script: [echo built]\n  artifacts:\n    images: [${image.ref}]\n`,
    });
    const registrySettings = { host: registry.host, username: registry.username, password: registry.password };
    assert.equal((await tandem.api('PATCH', `/api/v1/repos/${name}`, { registry: registrySettings })).status, 200);
    pipeline = await tandem.waitForPipeline(await tandem.trigger(name), undefined, 45_000);
  });
  after(async () => {
    await browser?.close();
    for (const agent of tandem?.agentProcesses ?? []) {
      await stopChild(agent);
    }
    await tandem?.close();
    await registry?.stop();
  });

  it('lists the pinned image with its digest, the ref pushed and the job', { timeout: 60_000 }, async () => {
    assert.equal(pipeline.status, 'success');
    const admin = await createUser(tandem, 'ada', { admin: true });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, admin, `/pipelines/${pipeline.id}`);
      const section = page.getByRole('region', { name: 'Images' });
      await section.waitFor();
      const link = section.getByRole('link', { name: `${registry.host}/web/app` });
      assert.equal(await link.getAttribute('href'), `https://${registry.host}/v2/web/app/manifests/${image.digest}`);
      assert.equal(await section.locator('code[title]').getAttribute('title'), image.pinned);
      const text = (await section.textContent()) ?? '';
      assert.ok(text.includes(image.digest.slice(0, 19)), text);
      assert.ok(text.includes(image.ref), text);
      await section.getByRole('link', { name: 'release' }).waitFor();
      await screenshot(page, 'pipeline-images');
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
