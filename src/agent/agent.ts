// An agent: registers with a server, long-polls for jobs on N slots, and runs each job in a fresh
// workspace checked out from its local mirror cache.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { createExecutors, hostEnvForJobs, type ContainerSettings, type Executors, type ExecutorKind } from '../executor/index.js';
import { credentialSecrets, MirrorCache } from '../source/index.js';
import { HttpError, ServerClient } from './client.js';
import { serverJobBackend, serverOutboxTarget } from './http-backend.js';
import { runJob, type JobOutcome } from './job-runner.js';
import { JobOutbox, type OutboxOptions } from './outbox.js';
import type { AnnounceResponse, JobPayload, RegisterAgentResponse } from '../api/index.js';

export interface AgentOptions {
  servers: string[];
  /** An agent token (tda_...), or an admin/registration token used to register. */
  token: string;
  concurrency: number;
  workDir: string;
  tags: string[];
  executor: ExecutorKind;
  /** Container engine settings; absent, jobs that name an image run on the host with a warning. */
  container?: Omit<ContainerSettings, 'owner' | 'agentName'>;
  name?: string;
  /** Mirror cache; default one in `<workDir>/mirrors`. Agents in a server's process share the server's, saving a fetch per job. */
  mirrors?: MirrorCache;
  /** Paths jobs must not see under the sandbox executor (data dirs, token files). */
  hiddenPaths?: string[];
  log: Logger;
  version: string;
}

const LONG_POLL_MS = 25_000;
/** After a draining server ends the presence stream, the agent reconnects after min + random(spread). */
const PRESENCE_RECONNECT_MIN_MS = 50;
const PRESENCE_RECONNECT_SPREAD_MS = 2000;
/** Servers write on a presence stream every second (older ones every 15 s); silence for longer means a vanished server. */
const PRESENCE_IDLE_MS = 40_000;

export class Agent {
  private readonly client: ServerClient;
  private readonly registrationToken: string;
  private readonly mirrors: MirrorCache;
  private readonly stopping = new AbortController();
  private readonly stopDelivery = new AbortController();
  private readonly running = new Map<number, AbortController>();
  private executors: Executors | null = null;
  /** The configured tags and what this agent can do (its executors). */
  private tags: string[];
  /** Outboxes still delivering; stop() waits for them only as long as the server answers. */
  private readonly deliveries = new Set<Promise<unknown>>();
  private slots: Promise<void>[] = [];
  private presence: Promise<void> = Promise.resolve();
  readonly name: string;
  readonly workDir: string;

  constructor(private readonly opts: AgentOptions) {
    this.workDir = resolve(opts.workDir);
    this.name = opts.name ?? `${hostname()}-${process.pid}`;
    this.registrationToken = opts.token;
    this.client = new ServerClient({ servers: opts.servers, token: opts.token, userAgent: `tandem-agent/${opts.version}` });
    // No credentials of its own: a job's payload brings its repository's for that job's checkout.
    this.mirrors = opts.mirrors ?? new MirrorCache(join(this.workDir, 'mirrors'));
    this.tags = opts.tags;
  }

  get runningJobs(): number[] {
    return [...this.running.keys()];
  }

  private get credentialsFile(): string {
    return join(this.workDir, 'agent.json');
  }

  private get announcement() {
    return { name: this.name, tags: this.tags, concurrency: this.opts.concurrency, version: this.opts.version };
  }

  private async register(): Promise<void> {
    this.client.token = this.registrationToken;
    const res = await this.client.json<RegisterAgentResponse>('POST', '/api/v1/agents', this.announcement);
    if (!res) throw new Error('registration returned no agent token');
    this.client.token = res.token;
    this.adoptServerTags(res.tags);
    // Kept (0600) so a restarted agent is the same agent: its claims and undelivered results stay its own.
    await writeFile(this.credentialsFile, JSON.stringify({ agentId: res.agentId, token: res.token }), { mode: 0o600 });
    this.opts.log.info({ agentId: res.agentId, name: this.name, server: this.client.serverUrl }, 'agent registered');
  }

  /** Uses the given agent token, or the one this work dir was registered with, or registers anew. */
  private async identify(): Promise<void> {
    const stored = this.registrationToken.startsWith('tda_')
      ? this.registrationToken
      : await readFile(this.credentialsFile, 'utf8').then(
          (text) => (JSON.parse(text) as { token?: string }).token ?? null,
          () => null,
        );
    if (stored) {
      this.client.token = stored;
      try {
        // Tells the server this start's name and concurrency; the server keeps the tags.
        const res = await this.client.json<AnnounceResponse>('PUT', '/api/v1/agent/self', this.announcement);
        this.adoptServerTags(res?.tags);
        return;
      } catch (err) {
        if (!(err instanceof HttpError && err.status === 401) || this.registrationToken.startsWith('tda_')) throw err;
        this.opts.log.warn('stored agent token refused: registering again');
      }
    }
    await this.register();
  }

  /** The server decides an agent's tags (set at registration or by an admin): jobs see those. */
  private adoptServerTags(tags: string[] | undefined): void {
    if (!tags) return;
    const asked = [...this.tags].sort().join(',');
    if ([...tags].sort().join(',') !== asked) {
      this.opts.log.warn(
        { serverTags: tags, configuredTags: this.tags },
        "the server keeps this agent's tags from its registration: an admin changes them (PATCH /api/v1/agents/:id)",
      );
    }
    this.tags = tags;
  }

  private get outboxDir(): string {
    return join(this.workDir, 'outbox');
  }

  private outboxOptions(log: Logger, onStale?: () => void): OutboxOptions {
    let warned = false;
    return {
      signal: this.stopDelivery.signal,
      onStale,
      onError: (err) => {
        // Once per job: the outbox retries quietly until a server answers.
        if (!warned) log.warn({ err: err.message }, 'server unreachable: keeping the job log and result on disk until it answers');
        warned = true;
      },
    };
  }

  async start(): Promise<void> {
    await mkdir(join(this.workDir, 'builds'), { recursive: true });
    this.executors = await createExecutors(this.opts.executor, {
      // The work dir holds the agent's credentials, undelivered logs and the other jobs' workspaces.
      hiddenPaths: [...(this.opts.hiddenPaths ?? []), this.workDir],
      // The work dir names the owner of the agent's containers: a restart finds what a crash left.
      container: this.opts.container && { ...this.opts.container, owner: this.workDir, agentName: this.name },
    });
    this.tags = [...new Set([...this.opts.tags, ...this.executors.tags])];
    for (const warning of this.executors.warnings) this.opts.log.warn(warning);
    // Not fatal: the jobs that need the engine will say what is wrong with it in their logs.
    const left = await this.executors.container
      ?.removeLeftovers()
      .catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'could not remove the containers a previous run left'));
    if (left && left.containers + left.networks > 0)
      this.opts.log.warn(left, 'removed containers and networks a previous run of this agent left');
    await this.identify();
    // Results and logs a previous run of this agent could not deliver.
    for (const outbox of await JobOutbox.recover(this.outboxDir, serverOutboxTarget(this.client), this.outboxOptions(this.opts.log))) {
      this.opts.log.info({ jobId: outbox.jobId }, 'delivering what a previous run of this agent left');
      this.deliveries.add(outbox.done());
    }
    this.slots = Array.from({ length: this.opts.concurrency }, (_, i) => this.slot(i));
    this.presence = this.keepPresence();
  }

  /**
   * Holds a presence stream open to a server and reopens it at once when it ends. When this process
   * dies its connection breaks, and the server frees its jobs after a short grace instead of a whole
   * lease. It closes last, after every result was delivered.
   */
  private async keepPresence(): Promise<void> {
    const signal = this.stopDelivery.signal;
    while (!signal.aborted) {
      const silent = new AbortController();
      try {
        const res = await this.client.request('GET', '/api/v1/agent/presence', undefined, {
          signal: AbortSignal.any([signal, silent.signal]),
          timeoutMs: null,
        });
        if (!res.ok || !res.body) {
          await res.body?.cancel();
          throw new HttpError(res.status, `presence stream refused: ${res.status}`);
        }
        const watchdog = setTimeout(() => silent.abort(), PRESENCE_IDLE_MS);
        try {
          for await (const chunk of res.body) if (chunk) watchdog.refresh();
        } finally {
          clearTimeout(watchdog);
        }
      } catch (err) {
        if (signal.aborted) return;
        // The job slots report a refused token or an unreachable server; this only tries again.
        this.opts.log.debug({ err: (err as Error).message }, 'presence stream ended');
        await sleep(1000, undefined, { signal }).catch(() => undefined);
        continue;
      }
      // Ended by the server (it is draining): reconnect soon, spread over seconds so that thousands
      // of agents do not all arrive at the next replica in the same instant. Its jobs are safe
      // meanwhile: a stream the server ended frees nothing.
      await sleep(PRESENCE_RECONNECT_MIN_MS + Math.random() * PRESENCE_RECONNECT_SPREAD_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Stops taking jobs; running jobs finish unless `cancelRunning`. */
  /**
   * Stops taking jobs; running jobs finish unless `cancelRunning`. Results still being delivered
   * get `deliveryGraceMs`; what is left then stays on disk and is delivered at the next start.
   */
  async stop(opts: { cancelRunning?: boolean; deliveryGraceMs?: number } = {}): Promise<void> {
    this.stopping.abort();
    if (opts.cancelRunning) for (const c of this.running.values()) c.abort();
    await Promise.allSettled(this.slots);
    const grace = sleep(opts.deliveryGraceMs ?? 10_000, undefined, { ref: false });
    await Promise.race([Promise.allSettled([...this.deliveries]), grace]);
    this.stopDelivery.abort();
    await Promise.allSettled([...this.deliveries, this.presence]);
    // A cache given by the server's process is the server's to close.
    if (!this.opts.mirrors) await this.mirrors.close();
  }

  private async slot(index: number): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      let payload: JobPayload | null;
      try {
        payload = await this.client.json<JobPayload>(
          'POST',
          '/api/v1/agent/jobs/request',
          { waitMs: LONG_POLL_MS },
          { signal, timeoutMs: LONG_POLL_MS + 10_000 },
        );
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof HttpError && err.status === 401 && !this.registrationToken.startsWith('tda_')) {
          this.opts.log.warn('agent token refused: registering again');
          await this.register().catch((e: unknown) => this.opts.log.error({ err: (e as Error).message }, 'registration failed'));
        } else {
          this.opts.log.warn({ slot: index, err: (err as Error).message }, 'job request failed');
        }
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
        continue;
      }
      if (payload) await this.execute(payload);
    }
  }

  private async execute(payload: JobPayload): Promise<void> {
    const log = this.opts.log.child({ jobId: payload.jobId, job: payload.job.name, attempt: payload.attempt });
    const workspace = join(this.workDir, 'builds', String(payload.jobId));
    const scratchDir = join(this.workDir, 'tmp', String(payload.jobId));
    const abort = new AbortController();
    // A refusal of the claim (409) while delivering the log means another agent owns the job now.
    const outbox = await JobOutbox.create(
      this.outboxDir,
      payload.jobId,
      payload.fencingToken,
      serverOutboxTarget(this.client),
      this.outboxOptions(log, () => abort.abort()),
    );
    const backend = serverJobBackend(this.client, payload.jobId, payload.fencingToken, outbox);
    // The repository's credentials serve this job's checkout only: taken out of the payload here,
    // dropped once the workspace is checked out, never written to disk but for the length of one
    // git process (a deploy key: src/source/git.ts), and masked in the job's log.
    let credentials = payload.repo.sshKey ?? payload.repo.credentials ?? null;
    payload.repo = { name: payload.repo.name, url: payload.repo.url };
    this.running.set(payload.jobId, abort);
    log.info('job started');
    let outcome: JobOutcome;
    let removed: Promise<unknown> = Promise.resolve();
    try {
      outcome = await runJob({
        jobId: payload.jobId,
        job: payload.job,
        variables: [
          ...payload.variables,
          { key: 'CI_PROJECT_DIR', value: workspace, masked: false, file: false },
          { key: 'CI_BUILDS_DIR', value: join(this.workDir, 'builds'), masked: false, file: false },
          { key: 'CI_RUNNER_DESCRIPTION', value: this.name, masked: false, file: false },
          { key: 'CI_RUNNER_TAGS', value: JSON.stringify(this.tags), masked: false, file: false },
        ],
        dependencies: payload.dependencies,
        secrets: credentialSecrets(credentials),
        timeoutSeconds: payload.timeoutSeconds,
        // A third of the lease keeps the claim; at most 2 s so a cancel reaches the job quickly.
        heartbeatMs: Math.max(200, Math.min(2000, Math.floor(payload.leaseMs / 3))),
        workspace,
        sha: payload.sha,
        prepareWorkspace: async () => {
          await rm(workspace, { recursive: true, force: true });
          try {
            await this.mirrors.checkout(payload.repo.url, payload.sha, workspace, { ref: pushedRef(payload), credentials });
          } finally {
            credentials = null;
          }
        },
        scratchDir,
        executor: this.executors!.host,
        container: this.executors!.container,
        backend,
        baseEnv: hostEnvForJobs(),
        signal: abort.signal,
        agentName: this.name,
        deployStateDir: join(this.workDir, 'deploy'),
      });
    } catch (err) {
      // runJob reports its own failures in the job log; this is a bug or a lost server, not a job failure.
      log.error({ err: (err as Error).message }, 'job could not run');
      outcome = { status: 'failed', exitCode: null, failureReason: 'runner_system_failure' };
    } finally {
      this.running.delete(payload.jobId);
      // Removed while the result is recorded: the job's last log chunks wait for the result.
      removed = rm(workspace, { recursive: true, force: true }).catch(() => undefined);
    }
    if (outcome.failureReason === 'stale_claim' || outbox.isStale) {
      await Promise.all([outbox.close(), removed]);
      log.warn('claim went stale: another agent owns this job now');
      return;
    }
    await Promise.all([outbox.finish({ fencingToken: payload.fencingToken, ...outcome }), removed]);
    // The slot takes the next job at once; the result reaches the server when it can.
    const delivery = outbox.done().then((result) => {
      if (result === 'delivered') log.info({ status: outcome.status }, 'job finished');
      else if (result === 'stale') log.warn('result refused: the claim is stale');
      else log.warn('agent stopping: the job result stays on disk and is delivered at the next start');
    });
    this.deliveries.add(delivery);
    void delivery.finally(() => this.deliveries.delete(delivery));
  }
}

/** The full ref the job's commit was pushed to: an agent missing the commit fetches that ref alone. */
function pushedRef(payload: JobPayload): string {
  if (payload.ref.startsWith('refs/')) return payload.ref;
  return `refs/${payload.variables.some((v) => v.key === 'CI_COMMIT_TAG') ? 'tags' : 'heads'}/${payload.ref}`;
}
