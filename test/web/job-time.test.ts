// Durations are job time, wherever the UI shows them: a pipeline whose failed job is retried a
// while later shows the minutes its jobs ran, not the wall time from its start to the retry's end.
// A job says which agent it ran on by name.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { JobDetailJson } from '../../src/api/index.js';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { TestTandem } from '../support/tandem.js';

/** "2.3 s", "1 min 5 s" (web/src/components/common.tsx formatDuration) in seconds. */
function seconds(text: string): number {
  const m = /^(?:(\d+) min )?([\d.]+) s$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: "${text}"`);
  return Number(m[1] ?? 0) * 60 + Number(m[2]);
}

describe('web UI durations as job time', { skip: browserSkip() }, () => {
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

  it('shows a late-retried pipeline by the time its jobs ran, and the agent by name', async () => {
    await tandem.repo({ '.tandem.yml': 'flaky:\n  script: [sleep 1, exit 3]\n' }, { name: 'slowpoke' });
    const id = await tandem.trigger('slowpoke');
    const first = await tandem.waitForPipeline(id);
    assert.equal(first.status, 'failed');
    // Someone comes back to it a while later and retries the job.
    await new Promise((r) => setTimeout(r, 4000));
    const retry = await tandem.api('POST', `/api/v1/jobs/${first.jobs[0].id}/retry`);
    assert.equal(retry.status, 200, retry.text);
    const done = await tandem.waitForPipeline(id, (p) => p.jobs.length === 2 && p.status === 'failed' && p.finishedAt !== first.finishedAt);

    const wall = (Date.parse(done.finishedAt!) - Date.parse(done.startedAt!)) / 1000;
    const jobTime = done.jobs.reduce((sum, j) => sum + (j.duration ?? 0), 0);
    assert.ok(wall > 5, `the wall time spans the wait (${wall} s)`);
    assert.ok(Math.abs(done.duration! - jobTime) < 0.01, `duration ${done.duration} s is the two runs' ${jobTime} s`);
    assert.ok(done.duration! < wall - 3, 'not the wall time');

    const detail = await tandem.api<JobDetailJson>('GET', `/api/v1/jobs/${done.jobs[0].id}`);
    assert.equal(detail.body.agentName, 'agent-1');
    assert.equal(detail.body.agentId, done.jobs[0].agentId);

    const user = await createUser(tandem, 'timo', { roles: { slowpoke: 'developer' } });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, user, '/repos/slowpoke');
      const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: `#${id}` }) });
      await row.waitFor();
      const cells = await row.getByRole('cell').allInnerTexts();
      const shown = cells.map((c) => c.trim()).find((c) => /\d s$/.test(c));
      assert.ok(shown, `a duration in ${JSON.stringify(cells)}`);
      assert.ok(Math.abs(seconds(shown) - done.duration!) <= 1, `the list shows ${shown} for ${done.duration} s`);
      await screenshot(page, 'pipelines-job-time');
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
