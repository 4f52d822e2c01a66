// Repository pages in a real browser: an administrator registers a repository from the list page
// (and sees the server's refusal of a duplicate next to the form); a maintainer adds a masked
// variable whose value never comes back (neither on the page nor in any API answer), sets a member's
// role, sees the server's 403 when granting owner, deletes the variable after confirming, and makes
// a webhook secret; a maintainer makes the repository public (its badge then reads without a
// token); a developer has no Settings tab.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Browser, Response } from 'playwright-core';
import { until } from '../e2e/helpers.js';
import { browserSkip, createUser, launchBrowser, newContext, screenshot, signIn } from '../support/browser.js';
import { makeRemote } from '../support/git.js';
import { TestTandem } from '../support/tandem.js';

const execFileP = promisify(execFile);
const REPO = 'webshop';
const SECRET_VALUE = 'Very-S3cret-Deploy-Token-42';

describe('web UI: repositories and their settings', { skip: browserSkip() }, () => {
  let tandem: TestTandem;
  let browser: Browser;

  before(async () => {
    tandem = await TestTandem.start({ agents: 0 });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await tandem?.close();
  });

  it('an administrator registers a repository from the list', { timeout: 30_000 }, async () => {
    const remote = await makeRemote(await mkdtemp(path.join(tandem.dataDir, 'webshop-')));
    await remote.commit({ '.tandem.yml': 'build:\n  script: [echo hi]\n' }, 'initial');
    await remote.push('main');
    const admin = await createUser(tandem, 'ada', { admin: true });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, admin, '/repos');
      await page.getByRole('heading', { name: 'Repositories', level: 1 }).waitFor();
      const form = page.locator('form', { has: page.getByRole('button', { name: 'Register repository' }) });
      await form.getByLabel('Name').fill(REPO);
      await form.getByLabel('Git URL').fill(remote.bare);
      await form.getByLabel(/Poll interval/).fill('60');
      await form.getByRole('button', { name: 'Register repository' }).click();
      await page.getByRole('status').getByRole('link', { name: REPO }).waitFor();
      await page.getByRole('table').getByRole('link', { name: REPO }).waitFor();
      const created = await tandem.api<{ defaultBranch: string; pollInterval: number }>('GET', `/api/v1/repos/${REPO}`);
      assert.equal(created.status, 200);
      assert.deepEqual([created.body.defaultBranch, created.body.pollInterval], ['main', 60], 'the default branch is read from the remote');

      // The same name again: the server's 409 shows next to the form.
      await form.getByLabel('Name').fill(REPO);
      await form.getByLabel('Git URL').fill(remote.bare);
      await form.getByRole('button', { name: 'Register repository' }).click();
      await form.getByRole('alert').waitFor();
      assert.match(await form.getByRole('alert').innerText(), /already exists/);
      await screenshot(page, 'repos-list');
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  it('a maintainer adds a masked variable that never comes back, sets roles and a webhook secret', { timeout: 40_000 }, async () => {
    const maintainer = await createUser(tandem, 'maya', { roles: { [REPO]: 'maintainer' } });
    await createUser(tandem, 'gus', { roles: { [REPO]: 'guest' } });
    await createUser(tandem, 'devi', { roles: { [REPO]: 'developer' } });
    const { context, page, pageErrors } = await newContext(browser);
    const bodies: Promise<string>[] = [];
    const record = (res: Response) => {
      if (res.url().includes('/api/')) bodies.push(res.text().catch(() => ''));
    };
    try {
      await signIn(page, tandem.url, maintainer, `/repos/${REPO}/settings`);
      await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
      await page.getByRole('navigation', { name: 'Repository' }).getByRole('link', { name: 'Settings' }).waitFor();

      const variables = page.getByRole('region', { name: 'CI/CD variables' });
      await variables.getByText('No variables yet.').waitFor();
      page.on('response', record);
      await variables.getByLabel('Key', { exact: true }).fill('DEPLOY_TOKEN');
      await variables.getByLabel('Value', { exact: true }).fill(SECRET_VALUE);
      await variables.getByRole('checkbox', { name: /Masked/ }).check();
      await variables.getByRole('button', { name: 'Save variable' }).click();
      const row = variables.getByRole('row', { name: /DEPLOY_TOKEN/ });
      await row.waitFor();
      assert.match(await row.innerText(), /value hidden[\s\S]*masked/);
      assert.equal(await variables.getByLabel('Value', { exact: true }).inputValue(), '', 'the value leaves the form once saved');
      await screenshot(page, 'repo-settings-variables');

      await page.reload();
      await variables.getByRole('row', { name: /DEPLOY_TOKEN/ }).waitFor();
      assert.ok(!(await page.content()).includes(SECRET_VALUE), 'the value is nowhere on the page');
      const answers = await Promise.all(bodies);
      assert.ok(answers.length >= 3, `the page asked the API (${answers.length} answers)`);
      assert.ok(!answers.some((body) => body.includes(SECRET_VALUE)), 'no API answer carries the value');
      for (const url of [`/api/v1/repos/${REPO}/variables`, `/api/v1/repos/${REPO}/variables/DEPLOY_TOKEN`]) {
        const res = await tandem.api('GET', url);
        assert.equal(res.status, 200, res.text);
        assert.ok(!res.text.includes(SECRET_VALUE), url);
      }

      // Roles: gus becomes reporter; making devi owner is for owners only, and the 403 shows.
      const members = page.getByRole('region', { name: 'Members' });
      await members.getByLabel('Role of gus').selectOption('reporter');
      await until('gus to be a reporter', async () => {
        const list = (await tandem.api<{ username: string; role: string }[]>('GET', `/api/v1/repos/${REPO}/members`)).body;
        return list.find((m) => m.username === 'gus' && m.role === 'reporter');
      });
      await members.getByLabel('Role of devi').selectOption('owner');
      await members.getByRole('alert').waitFor();
      assert.match(await members.getByRole('alert').innerText(), /^Not allowed: .*owner/);
      assert.equal(await members.getByLabel('Role of devi').inputValue(), 'developer', 'the role shown is the one the server kept');
      await screenshot(page, 'repo-settings-members');

      // Deleting a variable asks first.
      await variables.getByRole('button', { name: 'Delete DEPLOY_TOKEN' }).click();
      const confirm = page.getByRole('dialog', { name: 'Delete variable DEPLOY_TOKEN?' });
      await confirm.getByRole('button', { name: 'Delete' }).click();
      await variables.getByText('No variables yet.').waitFor();
      assert.equal((await tandem.api('GET', `/api/v1/repos/${REPO}/variables/DEPLOY_TOKEN`)).status, 404);

      // A webhook secret made in the browser, shown once.
      const webhooks = page.getByRole('region', { name: 'Webhooks' });
      assert.match(await webhooks.innerText(), new RegExp(`/api/v1/hooks/github/${REPO}`));
      await webhooks.getByRole('button', { name: 'Generate a secret' }).click();
      const shown = await webhooks.getByRole('status').filter({ hasText: 'The new secret is' }).locator('code').innerText();
      assert.match(shown, /^[0-9a-f]{64}$/);
      await webhooks.getByText('Secret: set').waitFor();
      const repo = await tandem.api<{ hasWebhookSecret: boolean }>('GET', `/api/v1/repos/${REPO}`);
      assert.equal(repo.body.hasWebhookSecret, true);
      assert.deepEqual(pageErrors, []);
    } finally {
      page.off('response', record);
      await context.close();
    }
  });

  it('a maintainer sets an SSH deploy key: the page shows fingerprints, never the key', { timeout: 40_000 }, async () => {
    const dir = await mkdtemp(path.join(tandem.dataDir, 'deploy-key-'));
    const keyFile = path.join(dir, 'key');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'deploy', '-f', keyFile]);
    const privateKey = await readFile(keyFile, 'utf8');
    const keyLine = privateKey.split('\n')[1];
    const [type, hostKey] = (await readFile(`${keyFile}.pub`, 'utf8')).split(' ');
    const fingerprint = (await execFileP('ssh-keygen', ['-l', '-f', `${keyFile}.pub`])).stdout.split(' ')[1];
    // Not fetched while registering (a default branch is given): no ssh server is needed for the form.
    const created = await tandem.api('POST', '/api/v1/repos', {
      name: 'ssh-app',
      url: 'ssh://git@127.0.0.1:2222/team/app.git',
      defaultBranch: 'main',
    });
    assert.equal(created.status, 201, created.text);
    const maintainer = await createUser(tandem, 'mira', { roles: { 'ssh-app': 'maintainer' } });
    const { context, page, pageErrors } = await newContext(browser);
    const bodies: Promise<string>[] = [];
    page.on('response', (res) => {
      if (res.url().includes('/api/')) bodies.push(res.text().catch(() => ''));
    });
    try {
      await signIn(page, tandem.url, maintainer, '/repos/ssh-app/settings');
      const section = page.getByRole('region', { name: 'Credentials' });
      await section.getByText('none').waitFor();
      assert.ok(await section.getByRole('radio', { name: /SSH deploy key/ }).isChecked(), 'an ssh URL suggests a deploy key');
      await section.getByLabel(/Private key/).fill(privateKey);
      // Known hosts for another host: the server names the field at fault.
      await section.getByLabel(/Known hosts/).fill(`github.com ${type} ${hostKey}`);
      await section.getByRole('button', { name: 'Save credential' }).click();
      await section.getByRole('alert').waitFor();
      assert.match(await section.getByRole('alert').innerText(), /credentials\.knownHosts: no line names \[127\.0\.0\.1\]:2222/);

      await section.getByLabel(/Known hosts/).fill(`[127.0.0.1]:2222 ${type} ${hostKey}`);
      await section.getByRole('button', { name: 'Save credential' }).click();
      await section.getByText(fingerprint).first().waitFor();
      assert.equal(await section.getByLabel(/Private key/).inputValue(), '', 'the key leaves the form once saved');
      assert.match(await section.innerText(), /\[127\.0\.0\.1\]:2222/);
      await screenshot(page, 'repo-settings-credentials');
      await page.reload();
      await section.getByText(fingerprint).first().waitFor();
      assert.ok(!(await page.content()).includes(keyLine), 'the key is nowhere on the page');
      assert.ok(!(await Promise.all(bodies)).some((body) => body.includes(keyLine)), 'no API answer carries the key');

      await section.getByRole('button', { name: 'Remove the credential' }).click();
      await page.getByRole('dialog', { name: 'Remove the credential?' }).getByRole('button', { name: 'Remove' }).click();
      await section.getByText('none').waitFor();
      assert.equal((await tandem.api<{ credentials: unknown }>('GET', '/api/v1/repos/ssh-app')).body.credentials, null);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  it("a maintainer makes the repository public: its badge's Markdown is shown and reads without a token", { timeout: 30_000 }, async () => {
    const badgePath = `/api/v1/repos/${REPO}/badges/pipeline.svg`;
    assert.equal((await fetch(tandem.url + badgePath)).status, 404, 'private: unknown to anonymous callers');
    const maintainer = await createUser(tandem, 'vic', { roles: { [REPO]: 'maintainer' } });
    const { context, page, pageErrors } = await newContext(browser);
    try {
      await signIn(page, tandem.url, maintainer, `/repos/${REPO}/settings`);
      const general = page.getByRole('region', { name: 'General' });
      await general.getByText(`${badgePath}?ref=main`).waitFor();
      await general.getByLabel(/Visibility/).selectOption('public');
      await general.getByRole('button', { name: 'Save changes' }).click();
      await until('the repository is public', async () => {
        const repo = await tandem.api<{ visibility: string }>('GET', `/api/v1/repos/${REPO}`);
        return repo.body.visibility === 'public' ? true : undefined;
      });
      const anonymous = await fetch(tandem.url + badgePath);
      assert.equal(anonymous.status, 200);
      assert.match(await anonymous.text(), /<title>pipeline of main: unknown<\/title>/);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  it('a developer has no Settings tab', { timeout: 20_000 }, async () => {
    const developer = await createUser(tandem, 'dev', { roles: { [REPO]: 'developer' } });
    const { context, page } = await newContext(browser);
    try {
      await signIn(page, tandem.url, developer, `/repos/${REPO}/environments`);
      const tabs = page.getByRole('navigation', { name: 'Repository' });
      await tabs.getByRole('link', { name: 'Environments' }).waitFor();
      assert.equal(await tabs.getByRole('link', { name: 'Settings' }).count(), 0);
      await page.getByText(/No environments yet/).waitFor();
    } finally {
      await context.close();
    }
  });
});
