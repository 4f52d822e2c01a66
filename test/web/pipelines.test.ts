// The pipelines area in a real browser against a real server and agent: running a pipeline from the
// form, the graph updating live, a job's log followed while it prints (colours, line links, search),
// an artifact downloaded through the page, a 100,000-line log kept to a few hundred rows in the DOM,
// a retry from the page, a pipeline's "Retry failed jobs" and a job's attempts, and a guest who is
// offered nothing to run.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { jobNamed, TestTandem } from '../support/tandem.js';

const APP_PIPELINE = `stages: [build, test]
build:
  stage: build
  script:
    - printf '\\033[31mred-alert\\033[0m plain\\n'
    - printf 'progress 10%%\\rprogress 50%%\\rprogress 100%%\\n'
    - sleep 1
    - for i in 1 2 3 4 5; do echo line-$i; sleep 0.4; done
    - mkdir -p out && head -c 4096 /dev/urandom > out/blob.bin && sha256sum out/blob.bin
  artifacts:
    paths: [out/]
unit:
  stage: test
  needs: [build]
  script: [echo unit-ok]
lint:
  stage: test
  needs: [build]
  script: [echo lint-ok]
`;

async function allowDevelopersOnMain(repo: string): Promise<void> {
  const res = await tandem.api('POST', `/api/v1/repos/${repo}/protected-branches`, { pattern: 'main', allowedRole: 'developer' });
  assert.ok(res.status < 300, `${res.status} ${res.text}`);
}

let tandem: TestTandem;

describe('web UI pipelines, jobs and logs', { skip: browserSkip() }, () => {
  let browser: Browser;
  let developer: { username: string; password: string };
  let context: BrowserContext;
  let page: Page;
  let pageErrors: Error[];
  let appPipeline = 0;

  before(async () => {
    tandem = await TestTandem.start({ agents: 1, concurrency: 3 });
    browser = await launchBrowser();
    await tandem.repo({ '.tandem.yml': APP_PIPELINE }, { name: 'app' });
    await tandem.repo({ '.tandem.yml': 'big:\n  script: [seq 1 100000]\n' }, { name: 'big' });
    await tandem.repo({ '.tandem.yml': 'flaky:\n  script: [echo trying, exit 3]\n' }, { name: 'flaky' });
    await tandem.repo(
      {
        '.gitlab-ci.yml': 'kid:\n  trigger:\n    include: child.yml\n    strategy: depend\n',
        'child.yml': 'inner:\n  script: [echo inner]\n',
      },
      { name: 'family' },
    );
    await tandem.repo(
      { '.gitlab-ci.yml': `unit:\n  script: ['echo "Lines: 87.5%"']\n  coverage: '/Lines: \\d+(?:\\.\\d+)?%/'\n` },
      { name: 'covered' },
    );
    developer = await createUser(tandem, 'devi', {
      roles: { app: 'developer', big: 'developer', flaky: 'developer', family: 'developer', covered: 'developer' },
    });
    // main is protected for maintainers by default; the developer's retry runs on it.
    await allowDevelopersOnMain('flaky');
    ({ context, page, pageErrors } = await newContext(browser));
    await signIn(page, tandem.url, developer);
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await tandem?.close();
  });

  it('runs a pipeline from the form, follows its jobs to success live, and streams a running job’s log', async () => {
    await page.goto(`${tandem.url}/repos/app`);
    await page.getByRole('button', { name: 'Run pipeline' }).click();
    assert.equal(await page.getByLabel('Branch or tag').inputValue(), 'main', 'the default branch is offered');
    await page.getByRole('button', { name: 'Add variable' }).click();
    await page.getByLabel('Variable 1 key').fill('GREETING');
    await page.getByLabel('Variable 1 value').fill('hello');
    await page.getByRole('button', { name: 'Start pipeline' }).click();
    const refused = page.getByRole('alert');
    await refused.waitFor();
    assert.match(await refused.innerText(), /protected branch main/, 'the server’s refusal is shown');
    await allowDevelopersOnMain('app');
    await page.getByRole('button', { name: 'Start pipeline' }).click();
    await page.waitForURL(/\/pipelines\/\d+$/);
    appPipeline = Number(/\/pipelines\/(\d+)$/.exec(page.url())?.[1]);
    await page.getByRole('heading', { name: `Pipeline #${appPipeline}` }).waitFor();
    await page.evaluate('window.stillThisPage = true');

    // A second tab on the build job while it runs: lines arrive one by one.
    const build = jobNamed(await tandem.pipeline(appPipeline), 'build');
    const jobTab = await context.newPage();
    await jobTab.goto(`${tandem.url}/jobs/${build.id}`);
    const line = (text: string) => jobTab.locator('.log-text', { hasText: new RegExp(`^${text}$`) });
    await line('line-1').waitFor({ timeout: 15_000 });
    assert.equal(await line('line-5').count(), 0, 'line-1 is shown before the job printed line-5');
    await line('line-5').waitFor({ timeout: 10_000 });
    const red = jobTab.locator('.log-line .ansi-fg-1', { hasText: 'red-alert' });
    assert.equal(await red.count(), 1, 'the ANSI red text is a coloured span');
    assert.equal(await line('red-alert plain').count(), 1, 'the escape sequences are not shown');
    assert.equal(await line('progress 100%').count(), 1, 'a progress line shows its last state');
    assert.equal(await line('progress 10%').count(), 0);
    assert.ok(!(await jobTab.locator('.log-viewport').innerText()).includes('\u001b'), 'no escape character reaches the page');

    // Back on the first tab, without any reload: every job reached success.
    for (const name of ['build', 'unit', 'lint']) {
      const card = page.locator('.job-card', { has: page.getByRole('link', { name, exact: true }) });
      await card.locator('.status-success').waitFor({ timeout: 15_000 });
    }
    await page.locator('.facts .status-success').waitFor({ timeout: 10_000 });
    assert.equal(await page.evaluate<boolean>('window.stillThisPage === true'), true, 'the page was never reloaded');
    assert.equal(await page.locator('.needs-edges > path').count(), 2, 'unit and lint each draw their need of build');
    assert.ok((await page.getByRole('button', { name: 'Retry build' }).count()) === 1, 'a developer may retry a finished job');
    const created = await tandem.pipeline(appPipeline);
    assert.equal(created.source, 'web', 'Run pipeline in the web UI records source web, as GitLab does');
    await screenshot(page, 'pipeline');
    await jobTab.locator('.facts .status-success').waitFor();
    await screenshot(jobTab, 'job');
    await jobTab.close();
  });

  it('shows the commit, links a parent pipeline to its child and the child back to its parent', async () => {
    // https://docs.gitlab.com/ee/ci/pipelines/downstream_pipelines.html#view-a-downstream-pipeline
    const parent = await tandem.waitForPipeline(await tandem.trigger('family'));
    assert.equal(parent.status, 'success');
    const childId = parent.downstream[0].id;
    await page.goto(`${tandem.url}/pipelines/${parent.id}`);
    await page.getByRole('heading', { name: 'Downstream pipelines' }).waitFor();
    const facts = await page.locator('.facts').innerText();
    assert.match(facts, /initial/, 'the commit title is shown');
    assert.match(facts, /Author\s+Tandem Test <test@tandem.invalid>/, 'the commit author is shown');
    await page.getByRole('link', { name: `Pipeline #${childId}` }).click();
    await page.getByRole('heading', { name: `Pipeline #${childId}` }).waitFor();
    assert.match(await page.locator('.facts').innerText(), /Triggered by\s+Pipeline #\d+ of family \(job kid\)/);
    await page.getByRole('link', { name: `Pipeline #${parent.id}` }).click();
    await page.getByRole('heading', { name: `Pipeline #${parent.id}` }).waitFor();
    assert.deepEqual(pageErrors, []);
  });

  it('shows the coverage of a job and of its pipeline', async () => {
    // https://docs.gitlab.com/ci/yaml/#coverage
    const p = await tandem.waitForPipeline(await tandem.trigger('covered'));
    assert.equal(p.status, 'success');
    await page.goto(`${tandem.url}/pipelines/${p.id}`);
    await page.getByRole('heading', { name: `Pipeline #${p.id}` }).waitFor();
    assert.match(await page.locator('.facts').innerText(), /Coverage\s+87\.5%/);
    await page.goto(`${tandem.url}/jobs/${jobNamed(p, 'unit').id}`);
    await page.locator('.facts', { hasText: 'Exit code' }).waitFor();
    assert.match(await page.locator('.facts').innerText(), /Coverage\s+87\.5%/);
    assert.deepEqual(pageErrors, []);
  });

  it('links, highlights and searches log lines, and downloads an artifact through the page', async () => {
    const build = jobNamed(await tandem.pipeline(appPipeline), 'build');
    await page.goto(`${tandem.url}/jobs/${build.id}#L3`);
    const target = page.locator('.log-line.target');
    await target.waitFor();
    assert.equal(await target.getAttribute('data-line'), '3');
    await page.getByRole('link', { name: 'Line 2', exact: true }).click();
    assert.match(page.url(), /#L2$/);
    assert.equal(await page.locator('.log-line.target').getAttribute('data-line'), '2');

    await page.getByLabel('Search the log').fill('LINE-4');
    await page.getByText('1 of 1').waitFor();
    assert.equal(await page.locator('mark.current').innerText(), 'line-4');
    // Five printed lines and the echoed command that printed them.
    await page.getByLabel('Search the log').fill('line-');
    await page.getByText('1 of 6').waitFor();
    await page.getByLabel('Search the log').press('Enter');
    await page.getByText('2 of 6').waitFor();
    assert.equal(await page.locator('mark.current').innerText(), 'line-', 'the selected match is marked');
    assert.equal(
      await page
        .locator('.log-line', { has: page.locator('mark.current') })
        .locator('.log-text')
        .innerText(),
      'line-1',
    );
    await page.getByLabel('Search the log').press('Shift+Enter');
    await page.getByText('1 of 6').waitFor();

    const log = await tandem.log(build.id);
    const digest = /([0-9a-f]{64}) {2}out\/blob\.bin/.exec(log)?.[1];
    assert.ok(digest, 'the job printed its file’s digest');
    const downloading = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download out/blob.bin' }).click();
    const download = await downloading;
    const bytes = await readFile((await download.path()) ?? '');
    assert.equal(bytes.length, 4096);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), digest, 'the downloaded bytes are the file the job wrote');
    assert.equal(await page.getByRole('link', { name: /Download all/ }).getAttribute('href'), `/api/v1/jobs/${build.id}/artifacts`);
  });

  it('keeps a 100,000-line log to a few hundred rows in the DOM and scrolls to its end', async () => {
    const id = await tandem.trigger('big');
    const done = await tandem.waitForPipeline(id, undefined, 30_000);
    assert.equal(done.status, 'success');
    await page.goto(`${tandem.url}/jobs/${jobNamed(done, 'big').id}`);
    const viewport = page.getByRole('region', { name: /Log of job/ });
    await page.locator('.log-text', { hasText: /^1$/ }).waitFor({ timeout: 15_000 });
    const rows = await page.locator('.log-line').count();
    assert.ok(rows > 10 && rows < 300, `${rows} rows in the DOM`);
    await viewport.evaluate((el) => {
      const box = el as unknown as { scrollTop: number; scrollHeight: number };
      box.scrollTop = box.scrollHeight;
    });
    await page.locator('.log-text', { hasText: /^100000$/ }).waitFor({ timeout: 5000 });
    assert.ok((await page.locator('.log-line').count()) < 300);
  });

  it('retries a failed job from its page as attempt 2', async () => {
    const id = await tandem.trigger('flaky');
    const failed = jobNamed(await tandem.waitForPipeline(id), 'flaky');
    assert.equal(failed.status, 'failed');
    await page.goto(`${tandem.url}/jobs/${failed.id}`);
    await page.getByText('The script exited with code 3.').waitFor();
    await page.getByRole('button', { name: 'Retry flaky' }).click();
    await page.waitForURL((url) => url.pathname !== `/jobs/${failed.id}`);
    const after = await tandem.pipeline(id);
    const retry = jobNamed(after, 'flaky');
    assert.equal(retry.attempt, 2);
    assert.equal(page.url(), `${tandem.url}/jobs/${retry.id}`);
    assert.ok(
      after.jobs.some((j) => j.id === failed.id && j.retried),
      'the first attempt is kept as retried',
    );
    await page.goto(`${tandem.url}/pipelines/${id}`);
    await page.getByText('1 earlier attempt of a retried job is not shown').waitFor();
    assert.deepEqual(pageErrors, []);
  });

  it('retries the failed jobs of a pipeline from its page, and opens each attempt of a job with its own log', async () => {
    const id = await tandem.trigger('flaky');
    const first = jobNamed(await tandem.waitForPipeline(id), 'flaky');
    await page.goto(`${tandem.url}/pipelines/${id}`);
    await page.getByRole('button', { name: 'Retry failed jobs' }).click();
    const second = jobNamed(await tandem.waitForPipeline(id, (p) => jobNamed(p, 'flaky').attempt === 2 && p.status === 'failed'), 'flaky');
    await page.getByText('1 earlier attempt of a retried job is not shown').waitFor();

    await page.goto(`${tandem.url}/jobs/${second.id}`);
    const attempts = page.getByRole('region', { name: 'Attempts' });
    await attempts.getByText('Attempt 2').waitFor();
    assert.equal(await attempts.locator('[aria-current="page"]').innerText(), 'Attempt 2', 'the attempt shown is marked');
    await attempts.getByRole('link', { name: 'Attempt 1' }).click();
    await page.waitForURL(`${tandem.url}/jobs/${first.id}`);
    await page
      .locator('.log-text', { hasText: /^trying$/ })
      .first()
      .waitFor();
    assert.equal(await page.getByRole('region', { name: 'Attempts' }).locator('[aria-current="page"]').innerText(), 'Attempt 1');
    assert.deepEqual(pageErrors, []);
  });

  it('offers a guest neither Run nor Retry, nor the log', async () => {
    const guest = await createUser(tandem, 'gus', { roles: { app: 'guest' } });
    const { context: guestContext, page: guestPage, pageErrors: guestErrors } = await newContext(browser);
    try {
      await signIn(guestPage, tandem.url, guest, '/repos/app');
      await guestPage.getByRole('link', { name: `#${appPipeline}` }).waitFor();
      assert.equal(await guestPage.getByRole('button', { name: 'Run pipeline' }).count(), 0);
      await guestPage.goto(`${tandem.url}/pipelines/${appPipeline}`);
      await guestPage.locator('.job-card').first().waitFor();
      assert.equal(await guestPage.locator('.job-card').count(), 3);
      assert.equal(await guestPage.getByRole('button', { name: /^(Retry|Cancel|Play)/ }).count(), 0);
      const build = jobNamed(await tandem.pipeline(appPipeline), 'build');
      await guestPage.goto(`${tandem.url}/jobs/${build.id}`);
      await guestPage.getByText('does not include reading job logs').waitFor();
      assert.equal(await guestPage.locator('.log-viewport').count(), 0);
      assert.equal(await guestPage.getByRole('button', { name: /^Retry/ }).count(), 0);
      assert.deepEqual(guestErrors, []);
    } finally {
      await guestContext.close();
    }
  });
});
