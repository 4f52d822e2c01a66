// Agents as real child processes (`tandem agent`), so tests can SIGKILL or SIGSTOP them, and the
// jobs they leave behind: a killed agent's job keeps running until the test stops its process group.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JobView, PipelineView, TestTandem } from '../support/tandem.js';
import { until } from './helpers.js';

export class AgentProcesses {
  readonly byName = new Map<string, { child: ChildProcess; output: string[] }>();
  /** Process groups of jobs whose agent a test killed or froze: nothing else would ever stop them. */
  private readonly orphanGroups: number[] = [];

  private constructor(
    private readonly tandem: TestTandem,
    readonly pidDir: string,
    private readonly server: string,
  ) {}

  /** `server`: the URL the agents reach the server by (default the server's own; a load balancer's). */
  static async start(tandem: TestTandem, names: string[], server = tandem.url): Promise<AgentProcesses> {
    const pidDir = path.join(tandem.dataDir, 'pids');
    await mkdir(pidDir, { recursive: true });
    const agents = new AgentProcesses(tandem, pidDir, server);
    for (const name of names) agents.spawn(name);
    await agents.waitOnline(names);
    return agents;
  }

  spawn(name: string): void {
    const child = this.tandem.spawnAgent(name, [], this.server);
    const output: string[] = [];
    child.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
    child.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
    this.byName.set(name, { child, output });
  }

  async waitOnline(names: string[]): Promise<void> {
    await until(
      `agents ${names.join(', ')} online`,
      async () => {
        const list = (await this.tandem.api<{ name: string; online: boolean }[]>('GET', '/api/v1/agents')).body;
        return names.every((n) => list.some((a) => a.name === n && a.online)) ? true : undefined;
      },
      15_000,
    );
  }

  async nameOf(agentId: number): Promise<string> {
    const list = (await this.tandem.api<{ id: number; name: string }[]>('GET', '/api/v1/agents')).body;
    const found = list.find((a) => a.id === agentId);
    assert.ok(found, `agent ${agentId} is listed`);
    return found.name;
  }

  /** A job script that records its shell's pid (its process group), sleeps, then names its agent. */
  script(prefix: string, seconds: number): string {
    return `
job:
  script:
    - echo "$$" > ${this.pidDir}/${prefix}-$CI_RUNNER_DESCRIPTION.pid
    - sleep ${seconds}
    - echo "done-by-$CI_RUNNER_DESCRIPTION"
`;
  }

  /** The job's attempt once it runs on an agent and its script has started (its pid file exists). */
  async runningAttempt(pipelineId: number, jobName: string, pidPrefix: string): Promise<{ job: JobView; holder: string; jobPid: number }> {
    const p = await this.tandem.waitForPipeline(
      pipelineId,
      (x) => x.jobs.some((j) => j.name === jobName && j.status === 'running' && j.agentId !== null),
      15_000,
    );
    const job = p.jobs.find((j) => j.name === jobName && j.status === 'running')!;
    const holder = await this.nameOf(job.agentId!);
    const pidFile = path.join(this.pidDir, `${pidPrefix}-${holder}.pid`);
    await until(`pid file ${pidFile}`, () => (existsSync(pidFile) ? true : undefined));
    const jobPid = Number((await readFile(pidFile, 'utf8')).trim());
    this.orphanGroups.push(jobPid);
    return { job, holder, jobPid };
  }

  signal(name: string, signal: NodeJS.Signals): void {
    this.byName.get(name)!.child.kill(signal);
  }

  output(name: string): string {
    return this.byName.get(name)!.output.join('');
  }

  /** Stops the job processes the tests left behind (already gone is fine). */
  stopOrphans(): void {
    for (const pgid of this.orphanGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // Already gone: the job finished on its own.
      }
    }
  }
}

export const attemptsOf = (p: PipelineView, name: string): JobView[] =>
  p.jobs.filter((j) => j.name === name).sort((a, b) => a.attempt - b.attempt);
