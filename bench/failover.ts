// Failover: how long a lost agent's job waits before it runs again elsewhere, with the default
// settings (lease 15 s, disconnect grace 3 s). Rounds of agents are lost mid-job while spare agents
// stand by, in two ways: SIGKILL (the process dies, its connections break: the presence stream
// tells the server) and SIGSTOP (frozen, connections open, like a host that vanished or a network
// partition: only the lease can tell). Each sample is loss → the new attempt's start.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { makeRemote, repoRoot } from '../test/support/git.js';
import { fmt, LiveServer, median, sleep, tempDir, type BenchResult } from './common.js';

const ROUNDS = 4;
type Loss = 'SIGKILL' | 'SIGSTOP';
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
  return spawn(
    process.execPath,
    [
      cli,
      'agent',
      '--server',
      server.url,
      '--token',
      server.token,
      '--name',
      name,
      '--work-dir',
      workDir,
      '--concurrency',
      '1',
      '--log-level',
      'error',
    ],
    {
      stdio: 'ignore',
      env: { ...process.env, TANDEM_TOKEN: '' },
    },
  );
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
    const samples: Record<Loss, number[]> = { SIGKILL: [], SIGSTOP: [] };
    for (let r = 0; r < 2 * ROUNDS; r++) {
      const loss: Loss = r < ROUNDS ? 'SIGKILL' : 'SIGSTOP';
      const round = r % ROUNDS;
      const victims = Array.from({ length: PER_ROUND }, (_, i) =>
        agent(server, `victim-${r}-${i}`, path.join(tmp.dir, `victim-${r}-${i}`)),
      );
      children.push(...victims);
      const pipelines: number[] = [];
      for (let i = 0; i < PER_ROUND; i++)
        pipelines.push((await server.api<{ id: number }>('POST', '/api/v1/repos/bench/pipelines', {})).id);
      const jobOf = async (id: number) => (await server.api<{ jobs: JobJson[] }>('GET', `/api/v1/pipelines/${id}`)).jobs;
      for (const deadline = Date.now() + 60_000; ;) {
        const running = await Promise.all(pipelines.map(async (id) => (await jobOf(id)).some((j) => j.status === 'running')));
        if (running.every(Boolean)) break;
        if (Date.now() > deadline) throw new Error('the victims never took the jobs');
        await sleep(100);
      }
      const spares = Array.from({ length: PER_ROUND }, (_, i) => agent(server, `spare-${r}-${i}`, path.join(tmp.dir, `spare-${r}-${i}`)));
      children.push(...spares);
      await sleep(1500);
      const killedAt = Date.now();
      for (const v of victims) v.kill(loss);
      const pending = new Set(pipelines);
      while (pending.size > 0) {
        for (const id of [...pending]) {
          const again = (await jobOf(id)).find((j) => j.attempt === 2 && j.status === 'running' && j.startedAt !== null);
          if (!again) continue;
          samples[loss].push(new Date(again.startedAt!).getTime() - killedAt);
          pending.delete(id);
        }
        if (Date.now() - killedAt > 60_000) throw new Error(`jobs of pipelines ${[...pending].join(', ')} never ran again`);
        await sleep(100);
      }
      for (const id of pipelines) await server.api('POST', `/api/v1/pipelines/${id}/cancel`);
      await stopAll([...victims, ...spares]);
      log(`failover: ${loss} round ${round + 1}/${ROUNDS}, samples so far ${samples[loss].map((s) => (s / 1000).toFixed(1)).join(' ')} s`);
    }
    const stats = (loss: Loss) => {
      const sorted = [...samples[loss]].sort((a, b) => a - b);
      return { p50: median(sorted) / 1000, max: sorted[sorted.length - 1] / 1000, min: sorted[0] / 1000, n: sorted.length };
    };
    const killed = stats('SIGKILL');
    const frozen = stats('SIGSTOP');
    const row = (what: string, s: ReturnType<typeof stats>) => [
      what,
      String(s.n),
      fmt(s.p50, 1),
      fmt(s.max, 1),
      fmt(s.min, 1),
      fmt(s.p50 / 15),
      fmt(s.max / 15),
    ];
    return {
      id: 'failover',
      title: `Failover: a lost agent's job running again elsewhere (${killed.n + frozen.n} losses, default lease 15 s)`,
      header: ['agent lost by', 'losses', 'p50 s', 'max s', 'min s', 'p50 / 15 s', 'max / 15 s'],
      rows: [row('SIGKILL (process dies)', killed), row('SIGSTOP (frozen: host gone, partition)', frozen)],
      notes: [
        `Target: running again within 15 s — ${Math.max(killed.max, frozen.max) <= 15 ? 'met' : 'missed'} (max ${fmt(killed.max, 1)} s for a killed agent, ${fmt(frozen.max, 1)} s for a frozen one).`,
        "A killed agent's presence stream breaks at once; the server records it, and the leader frees the job when the disconnect grace (3 s) has passed, at that moment rather than at its next one-second tick. A frozen agent's connections stay open, so its job waits for the lease: agents heartbeat every third of the lease, at most every 2 s, so the last heartbeat is 0–2 s old when the agent freezes, and the job is freed when the lease runs out. In both cases an idle agent's long-poll takes attempt 2 at once.",
      ],
    };
  } finally {
    await stopAll(children);
    await server.stop().catch(() => undefined);
    await tmp.remove();
  }
}
