// Failover: how long a dead agent's job waits before it runs again elsewhere, with the default
// lease (15 s) and heartbeat. Rounds of agents are SIGKILLed mid-job while spare agents stand by;
// each sample is kill → the new attempt's start, by the server's clock (same machine).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { makeRemote, repoRoot } from '../test/support/git.js';
import { fmt, LiveServer, median, sleep, tempDir, type BenchResult } from './common.js';

const ROUNDS = 4;
const PER_ROUND = 5;

interface JobJson {
  id: number;
  status: string;
  attempt: number;
  startedAt: string | null;
  agentId: number | null;
}

function agent(server: LiveServer, name: string, workDir: string): ChildProcess {
  const cli = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  return spawn(process.execPath, [cli, 'agent', '--server', server.url, '--token', server.token, '--name', name, '--work-dir', workDir, '--concurrency', '1', '--log-level', 'error'], {
    stdio: 'ignore',
    env: { ...process.env, TANDEM_TOKEN: '' },
  });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
}

export async function failover(log: (line: string) => void): Promise<BenchResult> {
  const tmp = await tempDir('failover');
  const server = await LiveServer.start('server', path.join(tmp.dir, 'data'));
  const children: ChildProcess[] = [];
  try {
    const remote = await makeRemote(tmp.dir);
    await remote.commit({ '.gitlab-ci.yml': 'hold:\n  script:\n    - sleep 120\n' }, 'initial');
    await remote.push('main');
    await server.api('POST', '/api/v1/repos', { name: 'bench', url: remote.bare });
    const samples: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const victims = Array.from({ length: PER_ROUND }, (_, i) => agent(server, `victim-${round}-${i}`, path.join(tmp.dir, `victim-${round}-${i}`)));
      children.push(...victims);
      const pipelines: number[] = [];
      for (let i = 0; i < PER_ROUND; i++) pipelines.push((await server.api<{ id: number }>('POST', '/api/v1/repos/bench/pipelines', {})).id);
      const jobOf = async (id: number) => (await server.api<{ jobs: JobJson[] }>('GET', `/api/v1/pipelines/${id}`)).jobs;
      for (const deadline = Date.now() + 60_000; ; ) {
        const running = await Promise.all(pipelines.map(async (id) => (await jobOf(id)).some((j) => j.status === 'running')));
        if (running.every(Boolean)) break;
        if (Date.now() > deadline) throw new Error('the victims never took the jobs');
        await sleep(100);
      }
      const spares = Array.from({ length: PER_ROUND }, (_, i) => agent(server, `spare-${round}-${i}`, path.join(tmp.dir, `spare-${round}-${i}`)));
      children.push(...spares);
      await sleep(1500);
      const killedAt = Date.now();
      for (const v of victims) v.kill('SIGKILL');
      const pending = new Set(pipelines);
      while (pending.size > 0) {
        for (const id of [...pending]) {
          const again = (await jobOf(id)).find((j) => j.attempt === 2 && j.status === 'running' && j.startedAt !== null);
          if (!again) continue;
          samples.push(new Date(again.startedAt!).getTime() - killedAt);
          pending.delete(id);
        }
        if (Date.now() - killedAt > 60_000) throw new Error(`jobs of pipelines ${[...pending].join(', ')} never ran again`);
        await sleep(100);
      }
      for (const id of pipelines) await server.api('POST', `/api/v1/pipelines/${id}/cancel`);
      await stopAll([...victims, ...spares]);
      log(`failover: round ${round + 1}/${ROUNDS}, samples so far ${samples.map((s) => (s / 1000).toFixed(1)).join(' ')} s`);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const p50 = median(sorted) / 1000;
    const max = sorted[sorted.length - 1] / 1000;
    return {
      id: 'failover',
      title: `Failover: a SIGKILLed agent's job running again elsewhere (${samples.length} kills, default lease 15 s)`,
      header: ['statistic', 'seconds', 'target s', 'ratio to target'],
      rows: [
        ['p50', fmt(p50, 1), '15', fmt(p50 / 15)],
        ['max', fmt(max, 1), '15', fmt(max / 15)],
        ['min', fmt(sorted[0] / 1000, 1), '-', '-'],
      ],
      notes: [
        `Target: running again within 15 s — ${max <= 15 ? 'met' : 'missed'} (max ${fmt(max, 1)} s). Agents heartbeat every third of the lease, at most every 2 s, so a killed agent's last heartbeat is 0–2 s old; the lease then runs out and the leader's reaper (every second) queues the job as attempt 2, which an idle agent's long-poll takes at once.`,
      ],
    };
  } finally {
    await stopAll(children);
    await server.stop().catch(() => undefined);
    await tmp.remove();
  }
}
