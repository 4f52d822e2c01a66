// Chaos, bounded (one kill, one pipeline): two `tandem server` replicas on PostgreSQL send commit
// statuses to a contract server standing in for GitHub. The contract server applies the final
// status and then holds the request without answering; the test kills the sending replica's
// process (its PID is in the outbox claim) mid-delivery. The survivor takes the message over when
// the claim expires, asks GitHub whether the state is already there, and does not post it again:
// every state arrives exactly once. And a forge set through one replica is used at once by the
// other, which had remembered that the repository has none.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { makeRemote, repoRoot } from '../support/git.js';
import { postgresForFile, postgresSkipReason } from '../support/postgres.js';
import { GitHubContractServer } from './github-contract.js';
import { until } from './until.js';

const CLI = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
/** A dead replica's claim is taken over after this long; a forge request gets an eighth of it. */
const CLAIM_SECONDS = 8;

interface Replica {
  child: ChildProcess;
  url: string;
  dataDir: string;
}

describe('a replica killed while sending a commit status', { skip: postgresSkipReason() }, () => {
  const postgres = postgresForFile(after);
  let root: string;
  const replicas: Replica[] = [];
  let gh: GitHubContractServer;
  let agent: Agent | null = null;

  async function startReplica(databaseUrl: string, name: string): Promise<Replica> {
    const dataDir = path.join(root, name);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TANDEM_')) env[k] = v;
    const child = spawn(
      process.execPath,
      [CLI, 'server', '--data-dir', dataDir, '--database-url', databaseUrl, '--port', '0', '--listen', '127.0.0.1', '--log-level', 'warn'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...env,
          TANDEM_MASTER_KEY_FILE: path.join(root, 'master.key'),
          TANDEM_ARTIFACTS_URL: path.join(root, 'artifacts'),
          TANDEM_OUTBOX_CLAIM_SECONDS: String(CLAIM_SECONDS),
        },
      },
    );
    const lines = createInterface({ input: child.stdout! });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`replica ${name} did not start`)), 30_000);
      lines.on('line', (line) => {
        const m = /Tandem listening on (http:\/\/\S+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', (code) => reject(new Error(`replica ${name} exited (${code})`)));
    });
    const replica = { child, url, dataDir };
    replicas.push(replica);
    return replica;
  }

  /** Calls a replica's API with the admin token. */
  function apiAs(token: string) {
    return async (r: Replica, method: string, urlPath: string, body?: unknown) => {
      const res = await fetch(r.url + urlPath, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
  }

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'tandem-forge-chaos-'));
    await writeFile(path.join(root, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
    gh = await GitHubContractServer.start();
  });

  after(async () => {
    await agent?.stop({ cancelRunning: true, deliveryGraceMs: 500 });
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
    await Promise.all(
      replicas.map((r) =>
        r.child.exitCode === null && r.child.signalCode === null ? new Promise((res) => r.child.once('exit', res)) : null,
      ),
    );
    await gh?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('the survivor takes the message over, asks alreadySet, and the state arrives exactly once', async () => {
    const databaseUrl = await (await postgres()).createDatabase();
    const a = await startReplica(databaseUrl, 'a');
    const token = (await readFile(path.join(a.dataDir, 'admin.token'), 'utf8')).trim();
    const b = await startReplica(databaseUrl, 'b');
    const api = apiAs(token);

    const remote = await makeRemote(await mkdtemp(path.join(root, 'repo-')));
    const sha = await remote.commit({ '.gitlab-ci.yml': 'build:\n  script: [echo built]\n' }, 'initial');
    await remote.push('main');
    const created = await api(a, 'POST', '/api/v1/repos', {
      name: 'shop',
      url: remote.bare,
      forge: { type: 'github', apiUrl: gh.url, project: 'octo/shop', token: gh.token },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));

    agent = new Agent({
      servers: [a.url, b.url],
      token,
      concurrency: 1,
      workDir: path.join(root, 'agent'),
      tags: [],
      executor: 'shell',
      name: 'agent',
      log: pino({ level: 'silent' }),
      version: 'test',
    });
    await agent.start();

    // The final status is applied and then never answered; the replica sending it is killed then.
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    let killed: number | null = null;
    const held = new Promise<void>((resolve) => {
      gh.fault({ kind: 'applyThenHang', count: 1, match: (body) => body.state === 'success', onTaken: resolve });
    });
    const triggered = await api(b, 'POST', '/api/v1/repos/shop/pipelines', {});
    assert.equal(triggered.status, 201);
    const pipelineId = Number(triggered.body.id);
    await held;
    try {
      const claim = await db.query<{ id: string; claimed_by: string }>(
        "select id, claimed_by from outbox where topic = 'forge_status' and status = 'pending' and claimed_by is not null and claimed_until > $1",
        [Date.now() - 5_000],
      );
      assert.equal(claim.rows.length, 1, JSON.stringify(claim.rows));
      // The replica id is `<host>-<pid>-<random>`.
      killed = Number(/-(\d+)-[0-9a-f]+$/.exec(claim.rows[0].claimed_by)![1]);
      const victim = replicas.find((r) => r.child.pid === killed);
      assert.ok(victim, `the claim's replica ${claim.rows[0].claimed_by} is one of ours`);
      process.kill(killed, 'SIGKILL');
      await new Promise((res) => victim.child.once('exit', res));

      const row = await until(
        'the survivor to settle the message',
        async () => {
          const r = await db.query<{ status: string; result: string | null; attempts: number; claimed_by: string }>(
            'select status, result, attempts, claimed_by from outbox where id = $1',
            [claim.rows[0].id],
          );
          return r.rows[0]?.status === 'sent' && r.rows[0];
        },
        CLAIM_SECONDS * 1000 + 20_000,
      );
      assert.equal(row.result, 'already set', 'the survivor asked GitHub first and did not post again');
      assert.notEqual(row.claimed_by, claim.rows[0].claimed_by);
    } finally {
      await db.end();
    }
    const states = gh.statesOf(sha, 'tandem/pipeline');
    assert.equal(states.filter((s) => s === `success:Pipeline #${pipelineId} passed`).length, 1, states.join(' → '));
    states.forEach((s, i) => assert.notEqual(s, states[i - 1], `a state posted twice: ${states.join(' → ')}`));
    assert.ok(
      gh.requests.some((r) => r.operationId === 'repos/list-commit-statuses-for-ref'),
      'alreadySet asked GitHub',
    );
    assert.deepEqual(gh.violations, []);
    gh.releaseHanging();
  });

  it('a forge set through one replica reaches the other at once, not after its 10 s memory', async () => {
    const databaseUrl = await (await postgres()).createDatabase();
    const a = await startReplica(databaseUrl, 'c');
    const token = (await readFile(path.join(a.dataDir, 'admin.token'), 'utf8')).trim();
    const b = await startReplica(databaseUrl, 'd');
    const api = apiAs(token);
    const remote = await makeRemote(await mkdtemp(path.join(root, 'repo-')));
    await remote.commit({ '.gitlab-ci.yml': 'build:\n  script: [echo built]\n' }, 'initial');
    await remote.push('main');
    assert.equal((await api(a, 'POST', '/api/v1/repos', { name: 'late', url: remote.bare })).status, 201);
    // Only replica b runs the pipelines' transactions (the agent talks to it alone).
    const onB = new Agent({
      servers: [b.url],
      token,
      concurrency: 1,
      workDir: path.join(root, 'agent-b'),
      tags: [],
      executor: 'shell',
      name: 'agent-b',
      log: pino({ level: 'silent' }),
      version: 'test',
    });
    await onB.start();
    try {
      const run = async () => {
        const triggered = await api(b, 'POST', '/api/v1/repos/late/pipelines', {});
        assert.equal(triggered.status, 201);
        const id = Number(triggered.body.id);
        await until('the pipeline to end', async () => (await api(b, 'GET', `/api/v1/pipelines/${id}`)).body.status === 'success', 30_000);
        return id;
      };
      // Replica b learns that the repository has no forge, and would remember it for 10 s.
      await run();
      const patched = await api(a, 'PATCH', '/api/v1/repos/late', {
        forge: { type: 'github', apiUrl: gh.url, project: 'octo/late', token: gh.token },
      });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const sha = await remote.commit({ 'counter.txt': '1\n' }, 'second');
      await remote.push('main');
      const id = await run();
      await until(
        'the final status at GitHub',
        async () => gh.statesOf(sha, 'tandem/pipeline').includes(`success:Pipeline #${id} passed`),
        10_000,
      );
    } finally {
      await onB.stop({ cancelRunning: true, deliveryGraceMs: 500 });
    }
  });
});
