// Chaos: three `tandem server` replicas on a Patroni cluster (etcd x3, PostgreSQL x3; the replicas
// connect to all three nodes and find the primary themselves) and three `tandem agent` processes,
// all real child processes. First a calm run of pipelines gives the throughput without chaos; then a
// bounded stream of pipelines (API triggers and signed webhook deliveries, some delivered to two
// replicas) runs while a controller SIGKILLs random replicas and agents and starts them again, and
// kills the Patroni leader's PostgreSQL once. Afterwards every pipeline must have succeeded, every
// accepted job log must hold its numbered lines exactly once, every earlier attempt must have been
// failed by the server (never accepted from a stale claim), and every delivery must have made one
// pipeline. The figures (throughput under chaos against the calm run, recovery times) are printed.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { JobJson, PipelineJson } from '../../src/api/index.js';
import { deliver, pushDelivery, type Provider } from '../e2e/helpers.js';
import { git, makeRemote, repoRoot } from '../support/git.js';
import { clusterSkipReason, LocalCluster } from '../support/cluster.js';
import { freePorts } from '../support/ports.js';

// Killed agents are found by their broken presence streams (3 s grace); the lease covers the rest
// (an agent killed together with the replica serving its stream) and must outlast a heartbeat
// delayed by a loaded machine.
const LEASE_SECONDS = 6;
/** The controller stops this long after the last trigger: killing on until the end could starve the last pipelines. */
const CHAOS_AFTER_TRIGGERS_MS = 20_000;
const PIPELINES = 104;
/** Faster than the agents can run them, so both runs measure capacity rather than the trigger rate. */
const TRIGGERS_PER_SECOND = 3.5;
const CALM_PIPELINES = 40;
const SETTLE_MS = 90_000;
const AGENT_CONCURRENCY = 3;
const CLI = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
const FINAL = new Set(['success', 'failed', 'canceled', 'skipped']);

/** One job of a pipeline shape: what it needs and how many numbered lines it prints, how slowly. */
interface JobShape {
  stage: string;
  needs?: string[];
  lines: number;
  /** Seconds between lines; lines × pause is the job's sleeping time (1-3 s for the slow ones). */
  pause: number;
}

/** Each shape lives on its own branch, so webhooks and API triggers can pick one by ref. */
const SHAPES: Record<string, Record<string, JobShape>> = {
  fan: {
    build: { stage: 'build', lines: 5, pause: 0 },
    unit: { stage: 'test', needs: ['build'], lines: 10, pause: 0.1 },
    lint: { stage: 'test', needs: ['build'], lines: 20, pause: 0 },
  },
  diamond: {
    build: { stage: 'build', lines: 4, pause: 0 },
    slow: { stage: 'test', needs: ['build'], lines: 10, pause: 0.2 },
    quick: { stage: 'test', needs: ['build'], lines: 8, pause: 0 },
    ship: { stage: 'final', needs: ['slow', 'quick'], lines: 6, pause: 0.2 },
  },
  wide: {
    one: { stage: 'build', lines: 10, pause: 0.1 },
    two: { stage: 'build', lines: 3, pause: 0 },
    three: { stage: 'test', needs: ['one'], lines: 7, pause: 0 },
    four: { stage: 'test', needs: ['two'], lines: 15, pause: 0.2 },
    five: { stage: 'final', needs: ['three', 'four'], lines: 9, pause: 0 },
  },
  stages: {
    compile: { stage: 'build', lines: 6, pause: 0 },
    pack: { stage: 'build', lines: 10, pause: 0.1 },
    check: { stage: 'test', lines: 12, pause: 0 },
    report: { stage: 'final', lines: 5, pause: 0 },
  },
};

const lineOf = (job: string, i: number, n: number) => `chaos-line ${job} ${i}/${n}`;

function pipelineFile(shape: Record<string, JobShape>, ledger: string): string {
  const jobs = Object.entries(shape).map(([name, j]) => {
    const loop = `for i in $(seq 1 ${j.lines}); do echo "chaos-line $CI_JOB_NAME $i/${j.lines}"; ${j.pause > 0 ? `sleep ${j.pause}; ` : ''}done`;
    return [
      `${name}:`,
      `  stage: ${j.stage}`,
      ...(j.needs ? [`  needs: [${j.needs.join(', ')}]`] : []),
      '  script:',
      // $$ is the job's shell: the process group to end should the test stop with the job orphaned.
      `    - echo "$CI_PIPELINE_ID $CI_JOB_NAME $CI_JOB_ID $CI_RUNNER_DESCRIPTION $$" >> ${ledger}`,
      `    - ${loop}`,
    ].join('\n');
  });
  return `stages: [build, test, final]\n\n${jobs.join('\n\n')}\n`;
}

const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)];
const between = (min: number, max: number) => min + Math.random() * (max - min);

/** The children must not pick up a developer's TANDEM_* settings; only the test's own. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TANDEM_')) env[k] = v;
  return {
    ...env,
    TANDEM_LEASE_SECONDS: String(LEASE_SECONDS),
    // Every kill of a replica mid-claim or of an agent mid-job costs the job an attempt; the default
    // of 2 would turn two unlucky kills into a failed pipeline, which is not what is tested here.
    TANDEM_MAX_SYSTEM_ATTEMPTS: '20',
  };
}

/** A `tandem server` or `tandem agent` child process that can be killed and started again alike. */
class Proc {
  child: ChildProcess | null = null;
  /** The last lines it printed, for the failure message. */
  readonly tail: string[] = [];
  starts = 0;

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly ready: RegExp,
  ) {}

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [CLI, ...this.args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    this.child = child;
    this.starts++;
    const keep = (line: string) => {
      this.tail.push(`${this.name}#${this.starts}: ${line}`);
      if (this.tail.length > 40) this.tail.shift();
    };
    createInterface({ input: child.stderr! }).on('line', keep);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} not ready within 30 s:\n${this.tail.join('\n')}`)), 30_000);
      lines.on('line', (line) => {
        keep(line);
        if (this.ready.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code ?? signal}) before it was ready:\n${this.tail.join('\n')}`));
      });
    });
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

interface AgentKill {
  agent: string;
  at: number;
  jobIds: number[];
}

describe(
  'chaos: replicas, agents and the database primary killed while pipelines run',
  { skip: clusterSkipReason('the chaos suite') },
  () => {
    let root = '';
    const procs: Proc[] = [];
    let cluster: LocalCluster | null = null;
    let ledger = '';

    after(async () => {
      await Promise.all(procs.map((p) => p.kill()));
      // Jobs of killed agents keep their own process group; end those still running inside our dir.
      const text = ledger ? await readFile(ledger, 'utf8').catch(() => '') : '';
      for (const line of text.split('\n')) {
        const pid = Number(line.split(' ')[4]);
        if (!pid) continue;
        try {
          if (readlinkSync(`/proc/${pid}/cwd`).startsWith(root)) process.kill(-pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      await cluster?.down();
      if (root) await rm(root, { recursive: true, force: true });
    });

    it('loses no pipeline, accepts no stale result and duplicates no log line', { timeout: 420_000 }, async () => {
      root = await mkdtemp(path.join(tmpdir(), 'tandem-chaos-'));
      // Replicas share the master key of secrets at rest, as they share the database.
      await writeFile(path.join(root, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
      ledger = path.join(root, 'ledger.txt');
      await writeFile(ledger, '');
      cluster = await LocalCluster.up({ servers: 0, agents: 0 });
      const databaseUrl = cluster.multiHostUrl();
      /** The test's own bookkeeping reads, through HAProxy to whichever node is primary now. */
      async function query<R extends pg.QueryResultRow>(text: string): Promise<R[]> {
        const client = new pg.Client({ connectionString: cluster!.ports.DATABASE_URL, connectionTimeoutMillis: 3000 });
        client.on('error', () => undefined);
        try {
          await client.connect();
          return (await client.query<R>(text)).rows;
        } finally {
          await client.end().catch(() => undefined);
        }
      }

      // The repository: one branch per shape.
      await mkdir(path.join(root, 'repo'));
      const remote = await makeRemote(path.join(root, 'repo'));
      const shas: Record<string, string> = {};
      for (const [branch, shape] of Object.entries(SHAPES)) {
        await git(remote.work, 'checkout', '--quiet', '-b', branch);
        shas[branch] = await remote.commit({ '.gitlab-ci.yml': pipelineFile(shape, ledger) }, `shape ${branch}`);
        await remote.push(`${branch}:${branch}`);
      }

      const ports = await freePorts(3);
      const replicas = ports.map(
        (port, i) =>
          new Proc(
            `server-${i}`,
            [
              'server',
              '--database-url',
              databaseUrl,
              '--port',
              String(port),
              '--listen',
              '127.0.0.1',
              '--data-dir',
              path.join(root, `server-${i}`),
              '--artifacts-url',
              path.join(root, 'artifacts'),
              '--master-key-file',
              path.join(root, 'master.key'),
              '--log-level',
              'warn',
            ],
            /^Tandem listening on http:/,
          ),
      );
      procs.push(...replicas);
      const urls = ports.map((p) => `http://127.0.0.1:${p}`);
      // The first replica creates the cluster's admin token; the others find it in the database.
      await replicas[0].start();
      await Promise.all(replicas.slice(1).map((r) => r.start()));
      const token = (await readFile(path.join(root, 'server-0', 'admin.token'), 'utf8')).trim();

      const liveUrls = () => urls.filter((_, i) => replicas[i].alive);
      /** A request to some live replica, moving on when one dies under it; for reads and idempotent writes. */
      async function api<T>(method: string, urlPath: string, body?: unknown): Promise<T> {
        for (let tries = 0; ; tries++) {
          const base = pick(liveUrls().length > 0 ? liveUrls() : urls);
          try {
            const res = await fetch(base + urlPath, {
              method,
              headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
              body: body === undefined ? undefined : JSON.stringify(body),
            });
            const text = await res.text();
            if (res.status >= 500 && tries < 100) throw new Error(`${res.status} ${text}`);
            if (!res.ok) throw new Error(`${method} ${urlPath}: ${res.status} ${text}`);
            return (res.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as T) : (text as T);
          } catch (err) {
            if (tries >= 100 || (err as Error).message.startsWith(`${method} ${urlPath}:`)) throw err;
            await sleep(200);
          }
        }
      }

      await api('POST', '/api/v1/repos', { name: 'chaos', url: remote.bare, webhookSecret: 'chaos-secret', defaultBranch: 'fan' });

      const agents = [0, 1, 2].map(
        (i) =>
          new Proc(
            `agent-${i}`,
            // The shell executor: jobs append to a ledger in the host's /tmp and report their PIDs.
            [
              'agent',
              '--server',
              urls.join(','),
              '--token',
              token,
              '--work-dir',
              path.join(root, `agent-${i}`),
              '--name',
              `agent-${i}`,
              '--concurrency',
              String(AGENT_CONCURRENCY),
              '--log-level',
              'warn',
              '--executor',
              'shell',
            ],
            /^Tandem agent /,
          ),
      );
      procs.push(...agents);
      await Promise.all(agents.map((a) => a.start()));

      // ---- The stream of pipelines ----
      const apiPipelines = new Map<number, string>();
      /** API triggers whose response was lost with its replica: a pipeline may or may not exist for them. */
      let unansweredApiTriggers = 0;
      const deliveries: {
        id: string;
        branch: string;
        provider: Provider;
        copies: number;
        responses: { status: number; body: Record<string, unknown> }[];
      }[] = [];
      const triggerErrors: string[] = [];

      /** A connection refused never reached the server; anything else may have been processed. */
      const refused = (err: unknown) => ((err as { cause?: { code?: string } }).cause?.code ?? '') === 'ECONNREFUSED';

      async function apiTrigger(branch: string): Promise<void> {
        let replica = Math.floor(Math.random() * 3);
        for (let tries = 0; tries < 100; tries++, replica = (replica + 1) % 3) {
          try {
            const res = await fetch(`${urls[replica]}/api/v1/repos/chaos/pipelines`, {
              method: 'POST',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ ref: branch }),
            });
            const text = await res.text();
            if (res.status === 201) {
              apiPipelines.set((JSON.parse(text) as { id: number }).id, branch);
              return;
            }
            if (res.status < 500) throw new Error(`trigger ${branch}: ${res.status} ${text}`);
          } catch (err) {
            if ((err as Error).message.startsWith('trigger ')) throw err;
            if (!refused(err)) unansweredApiTriggers++;
          }
          await sleep(200);
        }
        throw new Error(`trigger ${branch}: no replica answered`);
      }

      /** Like a forge: re-sends the delivery until some replica answers 2xx. */
      async function sendUntilAnswered(
        d: (typeof deliveries)[number],
        delivery: ReturnType<typeof pushDelivery>,
        first: number,
      ): Promise<void> {
        let replica = first;
        for (let tries = 0; tries < 100; tries++, replica = (replica + 1) % 3) {
          try {
            const res = await deliver(urls[replica], d.provider, 'chaos', delivery);
            if (res.status < 300) {
              d.responses.push(res);
              return;
            }
            if (res.status < 500) throw new Error(`delivery ${d.id}: ${res.status} ${JSON.stringify(res.body)}`);
          } catch (err) {
            if ((err as Error).message.startsWith('delivery ')) throw err;
          }
          await sleep(200);
        }
        throw new Error(`delivery ${d.id}: no replica answered`);
      }

      async function webhook(n: number, branch: string): Promise<void> {
        const d = {
          id: `chaos-${n}`,
          branch,
          provider: pick<Provider>(['github', 'gitlab', 'gitea']),
          copies: Math.random() < 0.35 ? 2 : 1,
          responses: [],
        };
        deliveries.push(d);
        // Each delivery is a push of its own (a force push from a commit the mirror never saw), so its
        // body differs from every other's as real pushes' do; only its copies share one.
        const delivery = pushDelivery(d.provider, 'chaos-secret', {
          ref: `refs/heads/${branch}`,
          before: randomBytes(20).toString('hex'),
          after: shas[branch],
          deliveryId: d.id,
        });
        const first = Math.floor(Math.random() * 3);
        // A second copy goes to another replica at the same moment (a forge retrying through a load balancer).
        await Promise.all(Array.from({ length: d.copies }, (_, copy) => sendUntilAnswered(d, delivery, (first + copy) % 3)));
      }

      // ---- The controller: kills and restarts, bounded by the trigger window ----
      let chaosOn = true;
      const serverKills: { replica: string; at: number }[] = [];
      const agentKills: AgentKill[] = [];

      async function killServers(): Promise<void> {
        while (chaosOn) {
          await sleep(between(2500, 4500));
          const live = replicas.filter((r) => r.alive);
          if (!chaosOn || live.length < 2) continue;
          const victim = pick(live);
          serverKills.push({ replica: victim.name, at: Date.now() });
          await victim.kill();
          await sleep(between(300, 1500));
          await victim.start();
        }
      }

      async function killAgents(): Promise<void> {
        while (chaosOn) {
          await sleep(between(3000, 5000));
          if (!chaosOn || agents.filter((a) => a.alive).length < 2) continue;
          // While the database fails over there is nothing to read: skip this round.
          const running = await query<{ id: number; name: string }>(
            `select j.id::int as id, a.name from jobs j join agents a on a.id = j.agent_id where j.status = 'running'`,
          ).catch(() => null);
          if (!running) continue;
          const busy = agents.filter((a) => a.alive && running.some((r) => r.name === a.name));
          if (busy.length === 0) continue;
          const victim = pick(busy);
          const kill: AgentKill = {
            agent: victim.name,
            at: Date.now(),
            jobIds: running.filter((r) => r.name === victim.name).map((r) => r.id),
          };
          agentKills.push(kill);
          await victim.kill();
          await sleep(between(300, 1500));
          await victim.start();
        }
      }

      // Set by the controller; `as` keeps TypeScript from narrowing it to null for good.
      let databaseKill = null as { leader: string; killedAt: number; promotedAt: number } | null;
      async function killDatabase(): Promise<void> {
        // Once, while pipelines are still being triggered.
        await sleep(((PIPELINES / TRIGGERS_PER_SECOND) * 1000) / 3);
        if (!chaosOn) return;
        const kill = await cluster!.killPrimaryPostgres();
        databaseKill = { leader: kill.leader, killedAt: kill.killedAt, promotedAt: await kill.promoted };
      }

      type ListedPipeline = { id: number; status: string; ref: string; source: string; finishedAt: string | null };
      /** Waits until every pipeline is final; returns them all. */
      async function settled(): Promise<ListedPipeline[]> {
        const deadline = Date.now() + SETTLE_MS;
        for (;;) {
          const all = await api<ListedPipeline[]>('GET', '/api/v1/repos/chaos/pipelines?limit=500');
          const open = all.filter((p) => !FINAL.has(p.status));
          if (open.length === 0) return all;
          if (Date.now() > deadline) {
            const stuck = await Promise.all(open.slice(0, 5).map((p) => api<PipelineJson>('GET', `/api/v1/pipelines/${p.id}`)));
            const detail = stuck.map(
              (p) => `#${p.id} ${p.status}: ${p.jobs.map((j) => `${j.name}#${j.id}/a${j.attempt}=${j.status}@${j.agentId}`).join(' ')}`,
            );
            assert.fail(
              `${open.length} pipelines not final ${SETTLE_MS / 1000} s after the last trigger:\n${detail.join('\n')}\n${procs.flatMap((p) => p.tail).join('\n')}`,
            );
          }
          await sleep(1000);
        }
      }
      /** Pipelines per minute: from the first trigger to the last pipeline's end, by the server's clock. */
      const perMinute = (pipelines: ListedPipeline[], since: number) =>
        (pipelines.length * 60_000) / (Math.max(...pipelines.map((p) => Date.parse(p.finishedAt ?? '') || Date.now())) - since);

      const branches = Object.keys(SHAPES);
      async function stream(count: number, send: (n: number, branch: string) => Promise<void>): Promise<number> {
        const startedAt = Date.now();
        const triggers: Promise<void>[] = [];
        for (let n = 0; n < count; n++) {
          await sleep(Math.max(0, startedAt + (n * 1000) / TRIGGERS_PER_SECOND - Date.now()));
          triggers.push(send(n, branches[n % branches.length]).catch((err: unknown) => void triggerErrors.push((err as Error).message)));
        }
        await Promise.all(triggers);
        return startedAt;
      }

      // ---- The calm run: the same mix of pipelines, nothing killed ----
      const calmStartedAt = await stream(CALM_PIPELINES, (_, branch) => apiTrigger(branch));
      const calmIds = new Set(apiPipelines.keys());
      const calmPerMinute = perMinute(
        (await settled()).filter((p) => calmIds.has(p.id)),
        calmStartedAt,
      );

      // ---- The chaos run ----
      const chaos = Promise.all([killServers(), killAgents(), killDatabase()]);
      let startedAt = Date.now();
      let triggeredMs = 0;
      let listed: ListedPipeline[];
      try {
        startedAt = await stream(PIPELINES, (n, branch) => (Math.random() < 0.5 ? apiTrigger(branch) : webhook(n, branch)));
        triggeredMs = Date.now() - startedAt;
        assert.deepEqual(triggerErrors, [], 'every trigger and delivery was answered');
        // ---- Every pipeline reaches a final status; the chaos goes on for a while yet ----
        const calmDown = setTimeout(() => (chaosOn = false), CHAOS_AFTER_TRIGGERS_MS);
        try {
          listed = await settled();
        } finally {
          clearTimeout(calmDown);
        }
      } finally {
        chaosOn = false;
        await chaos;
      }
      const chaosMs = Math.min(Date.now(), startedAt + triggeredMs + CHAOS_AFTER_TRIGGERS_MS) - startedAt;
      const finishedMs = Date.now() - startedAt;
      const chaosPerMinute = perMinute(
        listed.filter((p) => !calmIds.has(p.id)),
        startedAt,
      );

      // None lost: every answered trigger is there; extra API pipelines only for unanswered triggers.
      const listedIds = new Set(listed.map((p) => p.id));
      for (const id of apiPipelines.keys()) assert.ok(listedIds.has(id), `API pipeline #${id} exists`);
      const events = await query<{ delivery_id: string; provider: string; pipeline_id: number | null }>(
        'select delivery_id, provider, pipeline_id::int as pipeline_id from events',
      );
      assert.equal(events.length, deliveries.length, 'one event row per delivery');
      for (const d of deliveries) {
        const event = events.find((e) => e.delivery_id === d.id && e.provider === d.provider);
        assert.ok(event, `delivery ${d.id} was recorded`);
        assert.ok(
          event.pipeline_id !== null,
          `delivery ${d.id} (${d.copies} copies, responses ${JSON.stringify(d.responses)}) made a pipeline`,
        );
        assert.ok(listedIds.has(event.pipeline_id), `delivery ${d.id}'s pipeline #${event.pipeline_id} exists`);
        const created = d.responses.filter((r) => r.status === 201);
        assert.ok(created.length <= 1, `delivery ${d.id} was accepted as new at most once: ${JSON.stringify(d.responses)}`);
        for (const r of d.responses)
          if (r.body.pipelineId !== null)
            assert.equal(r.body.pipelineId, event.pipeline_id, `delivery ${d.id}: every answer names its one pipeline`);
      }
      const pushPipelines = listed.filter((p) => p.source === 'push');
      assert.equal(new Set(events.map((e) => e.pipeline_id)).size, events.length, 'no two deliveries share a pipeline');
      assert.equal(pushPipelines.length, deliveries.length, 'exactly one pipeline per delivery');
      const apiListed = listed.filter((p) => p.source === 'api');
      const extra = apiListed.filter((p) => !apiPipelines.has(p.id));
      assert.ok(
        extra.length <= unansweredApiTriggers,
        `${extra.length} unknown API pipelines, but only ${unansweredApiTriggers} triggers went unanswered`,
      );
      assert.ok(listed.length >= PIPELINES, `at least ${PIPELINES} pipelines: ${listed.length}`);

      // ---- Each pipeline succeeded and agrees with its jobs; attempts; logs; the ledger ----
      const ledgerLines = (await readFile(ledger, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' '));
      const ranBy = new Map<number, string[]>();
      for (const [, , jobId, agent] of ledgerLines) ranBy.set(Number(jobId), [...(ranBy.get(Number(jobId)) ?? []), agent]);
      const agentNames = new Map((await api<{ id: number; name: string }[]>('GET', '/api/v1/agents')).map((a) => [a.id, a.name]));
      const problems: string[] = [];
      let jobCount = 0;
      const allJobs: JobJson[] = [];
      for (const p of listed) {
        const full = await api<PipelineJson>('GET', `/api/v1/pipelines/${p.id}`);
        allJobs.push(...full.jobs);
        const shape = SHAPES[full.ref];
        if (full.status !== 'success')
          problems.push(
            `pipeline #${p.id} (${full.ref}) is ${full.status}: ${full.jobs.map((j) => `${j.name}/a${j.attempt}=${j.status}:${j.failureReason}`).join(' ')}`,
          );
        const names = [...new Set(full.jobs.map((j) => j.name))].sort();
        if (JSON.stringify(names) !== JSON.stringify(Object.keys(shape).sort()))
          problems.push(`pipeline #${p.id} has jobs ${names.join(',')}`);
        for (const name of names) {
          jobCount++;
          const attempts = full.jobs.filter((j) => j.name === name).sort((a, b) => a.attempt - b.attempt);
          const latest = attempts[attempts.length - 1];
          if (latest.status !== 'success' || latest.retried)
            problems.push(`#${p.id} ${name}: latest attempt ${latest.attempt} is ${latest.status}${latest.retried ? ' (retried)' : ''}`);
          attempts.slice(0, -1).forEach((a, i) => {
            if (a.attempt !== i + 1 || a.status !== 'failed' || a.failureReason !== 'runner_system_failure' || !a.retried) {
              problems.push(
                `#${p.id} ${name}: earlier attempt ${a.attempt} (job ${a.id}) is ${a.status}/${a.failureReason}${a.retried ? '' : ', not retried'}`,
              );
            }
          });
          // The accepted result came from the agent that ran this attempt, which ran it once.
          const runs = ranBy.get(latest.id) ?? [];
          const holder = latest.agentId === null ? null : agentNames.get(latest.agentId);
          if (runs.length !== 1 || runs[0] !== holder)
            problems.push(`#${p.id} ${name}: job ${latest.id} accepted from ${holder}, but the ledger shows runs by [${runs.join(', ')}]`);
          const log = await api<string>('GET', `/api/v1/jobs/${latest.id}/log`);
          const expected = Array.from({ length: shape[name].lines }, (_, i) => lineOf(name, i + 1, shape[name].lines));
          const seen = log.match(/^chaos-line \S+ \d+\/\d+$/gm) ?? [];
          if (JSON.stringify(seen) !== JSON.stringify(expected))
            problems.push(`#${p.id} ${name}: job ${latest.id}'s log has [${seen.join(' | ')}]`);
        }
      }
      for (const [jobId, runs] of ranBy) if (runs.length > 1) problems.push(`job ${jobId} ran ${runs.length} times: ${runs.join(', ')}`);
      assert.deepEqual(problems, [], `${problems.length} problems`);

      // ---- Figures ----
      const byId = new Map(allJobs.map((j) => [j.id, j]));
      const requeued = allJobs.filter((j) => j.retryOf !== null);
      const recoveries: number[] = [];
      const requeues: number[] = [];
      for (const kill of agentKills) {
        for (const jobId of kill.jobIds) {
          const next = allJobs.find((j) => j.retryOf === jobId);
          if (next?.createdAt) requeues.push(Date.parse(next.createdAt) - kill.at);
          if (next?.startedAt) recoveries.push(Date.parse(next.startedAt) - kill.at);
        }
      }
      recoveries.sort((a, b) => a - b);
      requeues.sort((a, b) => a - b);
      const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
      const spread = (ms: number[]) => (ms.length ? `p50 ${s(ms[Math.floor((ms.length - 1) / 2)])}, max ${s(ms[ms.length - 1])}` : '-');
      const figures = [
        `chaos figures:`,
        `  pipelines: ${listed.length} (${apiListed.length} by API, ${pushPipelines.length} by ${deliveries.length} webhook deliveries, ${deliveries.filter((d) => d.copies === 2).length} of them sent to two replicas)`,
        `  jobs: ${jobCount} (${allJobs.length} attempts), requeued: ${requeued.length} (${requeued.filter((j) => byId.get(j.retryOf!)?.failureReason === 'runner_system_failure').length} after a lost agent or claim)`,
        `  kills: ${serverKills.length} servers, ${agentKills.length} agents (running ${agentKills.reduce((n, k) => n + k.jobIds.length, 0)} jobs); unanswered API triggers: ${unansweredApiTriggers}`,
        `  time: triggered in ${s(triggeredMs)}, all final after ${s(finishedMs)}`,
        `  throughput: ${chaosPerMinute.toFixed(1)} pipelines/min under chaos (killing for ${s(chaosMs)} of the ${s(finishedMs)}), ${calmPerMinute.toFixed(1)} calm (${CALM_PIPELINES} pipelines): ratio ${(chaosPerMinute / calmPerMinute).toFixed(2)}`,
        databaseKill
          ? `  database: Patroni leader ${databaseKill.leader}'s PostgreSQL killed ${s(databaseKill.killedAt - startedAt)} into the run, a standby promoted ${s(databaseKill.promotedAt - databaseKill.killedAt)} later`
          : '  database: not killed',
        `  a killed agent's job queued again: ${spread(requeues)}; running again: ${spread(recoveries)} (${recoveries.length} jobs; the run is capacity-bound, so this includes waiting in the queue)`,
      ];
      console.log(figures.join('\n'));
      assert.ok(
        serverKills.length >= 5 && agentKills.length >= 5,
        `the chaos happened: ${serverKills.length} server and ${agentKills.length} agent kills`,
      );
      assert.ok(databaseKill, 'the Patroni leader was killed once');
    });
  },
);
