// A burst of system failures the way they happen: jobs running on an agent process that is
// SIGKILLed. With maxSystemAttempts 1 each job fails with runner_system_failure once the agent's
// disconnect grace has passed, and so does its pipeline (Tandem's fault, not the pipeline's).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { until } from '../e2e/helpers.js';
import type { TestTandem } from './tandem.js';

/** A pipeline file whose job records its process group in `pidDir` and sleeps. */
export function burstPipeline(pidDir: string): string {
  return `job:\n  script:\n    - echo "$$" > ${pidDir}/$CI_JOB_ID.pid\n    - sleep 60\n`;
}

export interface Burst {
  /** When the agent was killed (Date.now()). */
  killedAt: number;
  pipelineIds: number[];
  /** The killed agent's job process groups, which nothing else will stop: pass them to stopGroups. */
  jobGroups: number[];
}

/** Runs `jobs` pipelines of `repo` (a burstPipeline) on a new agent process, then SIGKILLs it. */
export async function agentKillBurst(tandem: TestTandem, repo: string, pidDir: string, jobs: number, agentName: string): Promise<Burst> {
  const agent = tandem.spawnAgent(agentName, ['--concurrency', String(jobs)]);
  const pipelineIds: number[] = [];
  for (let i = 0; i < jobs; i++) pipelineIds.push(await tandem.trigger(repo));
  const jobIds = await until(
    `${jobs} jobs running on ${agentName}`,
    async () => {
      const pipelines = await Promise.all(pipelineIds.map((id) => tandem.pipeline(id)));
      const running = pipelines.map((p) => p.jobs.find((j) => j.status === 'running'));
      return running.every((j) => j && existsSync(path.join(pidDir, `${j.id}.pid`))) ? running.map((j) => j!.id) : undefined;
    },
    20_000,
  );
  const jobGroups = await Promise.all(jobIds.map(async (id) => Number((await readFile(path.join(pidDir, `${id}.pid`), 'utf8')).trim())));
  agent.kill('SIGKILL');
  return { killedAt: Date.now(), pipelineIds, jobGroups };
}

export function stopGroups(groups: number[]): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
