// Issue 17, item 4: a private repository over ssh with a deploy key, end to end on a real sshd on
// loopback. The server registers it (ls-remote with the key), compiles its pipelines, polls it and
// serves include:project from it through its mirror; an agent (in-process, and `tandem agent` in
// its own process) gets the key in the job's payload for that checkout only and keeps nothing of
// it. The key shows in no API response, no job log, not in tandem.db nor in an agent's files.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { makeRemote, type TestRemote } from '../support/git.js';
import { startSshd, sshdSkipReason, type SshdHosts } from '../support/sshd.js';
import { jobNamed, TestTandem } from '../support/tandem.js';
import { callAs, memberToken } from './source-support.js';

const execFileP = promisify(execFile);

interface RepoBody {
  url: string;
  credentials:
    | null
    | { type: 'token' }
    | { type: 'ssh'; publicKey: string; keyFingerprint: string; knownHosts: { hosts: string; fingerprint: string }[] };
}

describe('a private repository over ssh with a deploy key', { skip: sshdSkipReason() }, () => {
  let tandem: TestTandem;
  let sshd: SshdHosts;
  let remote: TestRemote;
  let url: string;
  let privateKey: string;
  let knownHosts: string;
  let keyLines: string[];
  let scratch: string;

  before(async () => {
    [tandem, sshd] = await Promise.all([TestTandem.start({ agents: 1 }), startSshd(2)]);
    privateKey = await readFile(sshd.identityFile, 'utf8');
    keyLines = privateKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    knownHosts = `${sshd.servers[0].knownHostsLine}\n`;
    // Under the data dir, which close() removes.
    scratch = await mkdtemp(path.join(tandem.dataDir, 'ssh-private-'));
    remote = await makeRemote(scratch);
    await remote.commit(
      {
        'README.md': 'the private readme\n',
        // The job prints a line of the key (as a careless script could): the log masks it.
        '.gitlab-ci.yml': `job:\n  script:\n    - cat README.md\n    - 'echo "key: ${keyLines[1]}"'\n    - env | grep -c 'OPENSSH PRIVATE' || true\n`,
        'ci/template.yml': 'from-private:\n  script: echo "included from the private repository"\n',
      },
      'initial',
    );
    await remote.push('main');
    url = `ssh://${sshd.user}@127.0.0.1:${sshd.servers[0].port}${remote.bare}`;
  });
  after(async () => {
    await tandem?.close();
    await sshd?.stop();
  });

  /** `except`: lines of the key the test wrote elsewhere itself (the pipeline file quotes one). */
  function assertNoKey(text: string, where: string, except: string[] = []): void {
    assert.ok(!text.includes('OPENSSH PRIVATE KEY'), `${where} holds a private key`);
    for (const line of keyLines) if (!except.includes(line)) assert.ok(!text.includes(line), `${where} holds a line of the private key`);
  }

  async function databaseBytes(): Promise<string> {
    const files = (await readdir(tandem.dataDir)).filter((f) => f.startsWith('tandem.db'));
    return (await Promise.all(files.map((f) => readFile(path.join(tandem.dataDir, f))))).map((b) => b.toString('latin1')).join('');
  }

  it('refuses a host key that is not the known one, with a clear error', async () => {
    const mitm = sshd.servers[1].knownHostsLine.replace(/^\S+/, `[127.0.0.1]:${sshd.servers[0].port}`);
    const res = await tandem.api<{ message: string }>('POST', '/api/v1/repos', {
      name: 'mitm',
      url,
      credentials: { type: 'ssh', privateKey, knownHosts: mitm },
    });
    assert.equal(res.status, 422, res.text);
    assert.match(res.body.message, /^url: repository unreachable: .*not one of the repository's known hosts \(credentials\.knownHosts\)/);
    assertNoKey(res.text, 'the refusal');
    const notNamed = await tandem.api<{ message: string }>('POST', '/api/v1/repos', {
      name: 'mitm',
      url,
      credentials: { type: 'ssh', privateKey, knownHosts: sshd.servers[0].knownHostsLine.replace(/^\S+/, 'github.com') },
    });
    assert.equal(notNamed.status, 422);
    assert.match(
      notNamed.body.message,
      new RegExp(`credentials\\.knownHosts: no line names \\[127\\.0\\.0\\.1\\]:${sshd.servers[0].port}`),
    );
  });

  it('registers, runs, polls and includes from it, showing only fingerprints', async () => {
    const created = await tandem.api<RepoBody>('POST', '/api/v1/repos', {
      name: 'private',
      path: 'team/private',
      url,
      credentials: { type: 'ssh', privateKey, knownHosts },
    });
    assert.equal(created.status, 201, created.text);
    assertNoKey(created.text, 'the response');
    const [fingerprint] = (await execFileP('ssh-keygen', ['-l', '-f', `${sshd.identityFile}.pub`])).stdout.split(' ').slice(1);
    const shown = created.body.credentials;
    assert.ok(shown?.type === 'ssh');
    assert.equal(shown.keyFingerprint, fingerprint);
    assert.equal(shown.publicKey, (await readFile(`${sshd.identityFile}.pub`, 'utf8')).split(' ').slice(0, 2).join(' '));
    assert.equal(shown.knownHosts[0].hosts, `[127.0.0.1]:${sshd.servers[0].port}`);
    const hostKey = path.join(scratch, 'known_hosts');
    await writeFile(hostKey, knownHosts);
    assert.equal(shown.knownHosts[0].fingerprint, (await execFileP('ssh-keygen', ['-l', '-f', hostKey])).stdout.split(' ')[1]);

    const p = await tandem.waitForPipeline(await tandem.trigger('private'), undefined, 30_000);
    assert.equal(p.status, 'success', p.error ?? JSON.stringify(p.jobs));
    const log = await tandem.log(jobNamed(p, 'job').id);
    assert.match(log, /the private readme/);
    assert.match(log, /key: \[MASKED\]/);
    assertNoKey(log, 'the job log');

    // include:project of the private repository, from a repository that needs no credential.
    const { name } = await tandem.repo({ '.gitlab-ci.yml': 'include:\n  project: team/private\n  file: /ci/template.yml\n' });
    const included = await tandem.waitForPipeline(await tandem.trigger(name), undefined, 30_000);
    assert.equal(included.status, 'success', included.error ?? JSON.stringify(included.jobs));
    assert.match(await tandem.log(jobNamed(included, 'from-private').id), /included from the private repository/);

    // Polling lists its refs with the key: a push it did not hear of by webhook starts a pipeline.
    const polled = await tandem.api('PATCH', '/api/v1/repos/private', { pollInterval: 1 });
    assert.equal(polled.status, 200, polled.text);
    const deadline = Date.now() + 15_000;
    while ((await tandem.api<{ lastPolledAt: string | null }>('GET', '/api/v1/repos/private')).body.lastPolledAt === null) {
      assert.ok(Date.now() < deadline, 'the repository was never polled');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1500));
    const pushed = await remote.commit({ 'README.md': 'pushed later\n' }, 'second');
    await remote.push('main');
    for (;;) {
      const runs = await tandem.api<{ sha: string; id: number }[]>('GET', '/api/v1/repos/private/pipelines');
      const run = runs.body.find((r) => r.sha === pushed);
      if (run) {
        assert.equal((await tandem.waitForPipeline(run.id, undefined, 30_000)).status, 'success');
        break;
      }
      assert.ok(Date.now() < deadline + 15_000, 'no pipeline for the pushed commit');
      await new Promise((r) => setTimeout(r, 200));
    }
    await tandem.api('PATCH', '/api/v1/repos/private', { pollInterval: 0 });

    const audit = await tandem.api<{ details: Record<string, unknown> | null; action: string }[]>(
      'GET',
      '/api/v1/audit?action=repo.create',
    );
    assertNoKey(audit.text, 'the audit log');
    assert.ok(
      audit.body.some((e) => e.details?.credentials === 'ssh' && e.details.keyFingerprint === fingerprint),
      audit.text,
    );
    // The pipeline file, stored with its pipelines, quotes one line.
    assertNoKey(await databaseBytes(), 'tandem.db', [keyLines[1]]);
  });

  it('an agent in its own process checks out with the key from the payload and keeps none of it', async () => {
    const agent = tandem.spawnAgent('remote-host', ['--tags', 'private-host']);
    const deadline = Date.now() + 20_000;
    let agentId: number | undefined;
    while (agentId === undefined) {
      assert.ok(Date.now() < deadline, 'the agent never registered');
      const agents = await tandem.api<{ id: number; name: string; online: boolean }[]>('GET', '/api/v1/agents');
      agentId = agents.body.find((a) => a.name === 'remote-host' && a.online)?.id;
      if (agentId === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    // A commit only that agent can build (its tag), so the checkout is the spawned agent's own.
    const sha = await remote.commit(
      { '.gitlab-ci.yml': 'remote:\n  tags: [private-host]\n  script:\n    - cat README.md\n    - git log -1 --format=%H\n' },
      'for the tagged agent',
    );
    await remote.push('main');
    const p = await tandem.waitForPipeline(await tandem.trigger('private'), undefined, 30_000);
    assert.equal(p.status, 'success', p.error ?? JSON.stringify(p.jobs));
    const job = jobNamed(p, 'remote');
    assert.equal(job.agentId, agentId);
    assert.match(await tandem.log(job.id), new RegExp(sha));

    // Nothing the agent keeps holds the key: not its work dir (mirrors, agent.json, outbox), not a
    // key file in the temporary directory it used.
    const files: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile()) files.push(full);
      }
    };
    await walk(path.join(tandem.dataDir, 'remote-host'));
    assert.ok(
      files.some((f) => f.includes(`${path.sep}mirrors${path.sep}`)),
      'the agent has a mirror of its own',
    );
    for (const file of files) assertNoKey((await readFile(file)).toString('latin1'), file, [keyLines[1]]);
    const leftovers = (await readdir(tmpdir())).filter((n) => n.startsWith(`tandem-ssh-${agent.pid}-`));
    assert.deepEqual(leftovers, []);
  });

  it('removes the key, refuses a token for an ssh URL, and keeps others from sharing its mirror', async () => {
    const wrongKind = await tandem.api<{ message: string }>('PATCH', '/api/v1/repos/private', {
      credentials: { type: 'token', token: 'glpat-abcdefgh' },
    });
    assert.equal(wrongKind.status, 422);
    assert.match(wrongKind.body.message, /^credentials: a token is for an https:\/\/ URL/);
    const unknownField = await tandem.api<{ message: string }>('PATCH', '/api/v1/repos/private', {
      credentials: { type: 'ssh', privateKey, knownHosts, passphrase: 'x' },
    });
    assert.equal(unknownField.status, 422);
    assert.match(unknownField.body.message, /credentials/);
    assertNoKey(unknownField.text, 'a refused body');

    // Another repository at the same URL would read what the key fetched: only its maintainers may.
    const twin = await tandem.api('POST', '/api/v1/repos', { name: 'twin', url, defaultBranch: 'main' });
    assert.equal(twin.status, 201, twin.text);
    const maintainer = await memberToken(tandem, 'twin', 'mara', 'maintainer');
    const refused = await callAs(tandem, maintainer, 'PATCH', '/api/v1/repos/twin', {
      credentials: { type: 'ssh', privateKey, knownHosts },
    });
    assert.equal(refused.status, 403, refused.text);
    assert.match(refused.text, /private, which shares this URL and its mirror/);

    const removed = await tandem.api<RepoBody>('PATCH', '/api/v1/repos/private', { credentials: null });
    assert.equal(removed.status, 200, removed.text);
    assert.equal(removed.body.credentials, null);
    const row = await tandem.server.ctx.store.db.selectFrom('repos').selectAll().where('name', '=', 'private').executeTakeFirstOrThrow();
    assert.deepEqual([row.ssh_key, row.ssh_public_key, row.ssh_known_hosts, row.url_credentials], [null, null, null, null]);
  });
});
