// A real Tandem for end-to-end tests: a server on a free loopback port with its own data dir and
// SQLite file, in-process agents (or agent child processes for kill tests), and helpers to drive
// it over its public HTTP API.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import type { ExecutorKind } from '../../src/executor/index.js';
import { loadConfig, type TandemConfig } from '../../src/config/index.js';
import { secretPathsOf } from '../../src/cli/secret-paths.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import type { JobJson, PipelineJson } from '../../src/api/index.js';
import { makeRemote, repoRoot, type TestRemote } from './git.js';

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export type JobView = JobJson;
export type PipelineView = PipelineJson;

const FINAL = new Set(['success', 'failed', 'canceled', 'skipped']);

export class TestTandem {
  readonly agents: Agent[] = [];
  readonly agentProcesses: ChildProcess[] = [];
  private remotes = 0;

  private constructor(
    public server: RunningServer,
    readonly dataDir: string,
    readonly token: string,
    private readonly config: TandemConfig,
  ) {}

  get url(): string {
    return this.server.url;
  }

  /** Stops the server only (agents keep running): a control-plane outage until `startServerAgain`. */
  async stopServer(): Promise<void> {
    await this.server.close();
  }

  /** Starts the server again on the same port and data dir, as an operator restarting it would. */
  async startServerAgain(): Promise<void> {
    const port = Number(new URL(this.server.url).port);
    this.server = await startServer({ ...this.config, port }, pino({ level: process.env.TANDEM_TEST_LOG ?? 'silent' }));
  }

  /** `dataDir`: start on an existing data dir (a restored one) instead of a fresh one; it is removed by `close` too. */
  static async start(
    opts: { agents?: number; concurrency?: number; settings?: Record<string, unknown>; dataDir?: string } = {},
  ): Promise<TestTandem> {
    const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'tandem-e2e-')));
    const config: TandemConfig = loadConfig({ dataDir, port: 0, listen: '127.0.0.1', logLevel: 'silent', ...opts.settings }, {});
    const server = await startServer(config, pino({ level: process.env.TANDEM_TEST_LOG ?? 'silent' }));
    const token = server.newAdminToken ?? (opts.dataDir ? (await readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim() : null);
    if (!token) throw new Error('a fresh data dir must create an admin token');
    const tandem = new TestTandem(server, dataDir, token, config);
    try {
      for (let i = 0; i < (opts.agents ?? 1); i++) await tandem.addAgent({ concurrency: opts.concurrency ?? 2 });
    } catch (err) {
      await tandem.close();
      throw err;
    }
    return tandem;
  }

  /** `hiddenPaths`: what sandboxed jobs must not see; default every secret path of the server's configuration, as `tandem up` hides. */
  async addAgent(
    opts: {
      concurrency?: number;
      tags?: string[];
      name?: string;
      executor?: ExecutorKind;
      container?: AgentOptions['container'];
      hiddenPaths?: string[];
    } = {},
  ): Promise<Agent> {
    const name = opts.name ?? `agent-${this.agents.length + 1}`;
    const agent = new Agent({
      servers: [this.url],
      token: this.token,
      concurrency: opts.concurrency ?? 2,
      workDir: path.join(this.dataDir, name),
      tags: opts.tags ?? [],
      executor: opts.executor ?? 'shell',
      container: opts.container,
      name,
      hiddenPaths: opts.hiddenPaths ?? secretPathsOf(this.config, {}, {}),
      log: pino({ level: process.env.TANDEM_TEST_LOG ?? 'silent' }),
      version: 'test',
    });
    await agent.start();
    this.agents.push(agent);
    return agent;
  }

  /**
   * An agent in its own process (`tandem agent`), so a test can SIGKILL or SIGSTOP it; the shell
   * executor unless extraArgs name one, so its jobs can leave files in the host's /tmp. `server`:
   * another URL to reach this server by (a load balancer). `env`: added to this process's, such as
   * NODE_EXTRA_CA_CERTS for a registry's CA.
   */
  spawnAgent(name: string, extraArgs: string[] = [], server = this.url, env: NodeJS.ProcessEnv = {}): ChildProcess {
    const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
    const child = spawn(
      process.execPath,
      [
        cli,
        'agent',
        '--server',
        server,
        '--token',
        this.token,
        '--name',
        name,
        '--work-dir',
        path.join(this.dataDir, name),
        '--concurrency',
        '1',
        '--log-level',
        process.env.TANDEM_TEST_AGENT_LOG ?? 'warn',
        ...(extraArgs.includes('--executor') ? [] : ['--executor', 'shell']),
        ...extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env, TANDEM_TOKEN: '' } },
    );
    this.agentProcesses.push(child);
    return child;
  }

  async api<T = unknown>(method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const res = await fetch(this.url + urlPath, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? (body as string) : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
    return { status: res.status, body: parsed as T, text, headers: res.headers };
  }

  /** A bare repository with the given files committed and pushed to main, registered under `name`. */
  async repo(
    files: Record<string, string>,
    opts: { name?: string; webhookSecret?: string; pollInterval?: number } = {},
  ): Promise<{ name: string; remote: TestRemote; sha: string }> {
    const name = opts.name ?? `repo${++this.remotes}`;
    const remote = await makeRemote(await mkdtemp(path.join(this.dataDir, `${name}-`)));
    const sha = await remote.commit(files, 'initial');
    await remote.push('main');
    const res = await this.api('POST', '/api/v1/repos', {
      name,
      url: remote.bare,
      webhookSecret: opts.webhookSecret,
      pollInterval: opts.pollInterval,
    });
    if (res.status !== 201) throw new Error(`registering ${name}: ${res.status} ${res.text}`);
    return { name, remote, sha };
  }

  async trigger(repo: string, body: Record<string, unknown> = {}): Promise<number> {
    const res = await this.api<{ id: number }>('POST', `/api/v1/repos/${repo}/pipelines`, body);
    if (res.status !== 201) throw new Error(`trigger ${repo}: ${res.status} ${res.text}`);
    return res.body.id;
  }

  async pipeline(id: number): Promise<PipelineView> {
    const res = await this.api<PipelineView>('GET', `/api/v1/pipelines/${id}`);
    if (res.status !== 200) throw new Error(`pipeline ${id}: ${res.status} ${res.text}`);
    return res.body;
  }

  /** Polls until `done` holds (default: the pipeline reached a final status); bounded by timeoutMs. */
  async waitForPipeline(
    id: number,
    done: (p: PipelineView) => boolean = (p) => FINAL.has(p.status),
    timeoutMs = 20_000,
  ): Promise<PipelineView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = await this.pipeline(id);
      if (done(p)) return p;
      if (Date.now() > deadline)
        throw new Error(
          `pipeline ${id} did not get there within ${timeoutMs} ms: ${JSON.stringify({ status: p.status, jobs: p.jobs.map((j) => [j.name, j.status]) })}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async log(jobId: number): Promise<string> {
    return (await this.api('GET', `/api/v1/jobs/${jobId}/log`)).text;
  }

  async close(): Promise<void> {
    for (const child of this.agentProcesses) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(this.agents.map((a) => a.stop({ cancelRunning: true })));
    await this.server.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** The job of that name in its latest attempt. */
export function jobNamed(p: PipelineView, name: string): JobView {
  const job = p.jobs.find((j) => j.name === name && !j.retried);
  if (!job) throw new Error(`no job ${name} in pipeline ${p.id}: ${p.jobs.map((j) => j.name).join(', ')}`);
  return job;
}
