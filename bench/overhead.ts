// Overhead: a pipeline of trivial jobs (200, and 20 for the fixed costs) run by `tandem exec`, by
// `tandem up` (server, two agents, everything persisted), by gitlab-ci-local and by a plain shell
// loop. The jobs do nothing, so the times are what each tool costs per job.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { CLI } from '../test/cli/helpers.js';
import { git, makeRemote } from '../test/support/git.js';
import { fmt, LiveServer, median, run, tempDir, timed, type BenchResult } from './common.js';

// The pipeline is 200 jobs; a 20-job one shows the fixed costs (process start, parsing).
const SIZES = [200, 20];
const STAGES = ['build', 'test', 'package', 'deploy'];
export const GCL_VERSION = '4.60.1';
const REPEATS = 3;

function pipelineFile(jobs: number): string {
  const lines = [`stages: [${STAGES.join(', ')}]`];
  for (let i = 0; i < jobs; i++) lines.push(`job${i}:`, `  stage: ${STAGES[i % STAGES.length]}`, '  script:', `    - echo job ${i}`);
  return lines.join('\n') + '\n';
}

/** gitlab-ci-local is a benchmark peer, not a dependency: installed once into a cache outside the repository. */
async function gitlabCiLocal(log: (line: string) => void): Promise<string> {
  const prefix = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'tandem-bench', `gitlab-ci-local-${GCL_VERSION}`);
  const bin = path.join(prefix, 'node_modules', '.bin', 'gitlab-ci-local');
  if (!existsSync(bin)) {
    log(`installing gitlab-ci-local@${GCL_VERSION} into ${prefix} (once)`);
    await run('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', `gitlab-ci-local@${GCL_VERSION}`], {
      maxBuffer: 16 * 1024 * 1024,
    });
  }
  return bin;
}

async function hasCommand(name: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${name}`]).then(
    () => true,
    () => false,
  );
}

interface Timings {
  jobs: number;
  shell: number[];
  exec: number[];
  up: number[];
  gcl: number[];
}

const seconds = (runs: number[]) => runs.map((ms) => fmt(ms / 1000)).join(' / ');

async function repeat(times: number, fn: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < times; i++) out.push(await fn());
  return out;
}

/** Runs one pipeline size through every runner. */
async function measure(
  root: string,
  jobs: number,
  server: LiveServer,
  gclBin: string | null,
  log: (line: string) => void,
): Promise<Timings> {
  const dir = path.join(root, `size-${jobs}`);
  await mkdir(dir);
  const remote = await makeRemote(dir);
  await remote.commit({ '.gitlab-ci.yml': pipelineFile(jobs) }, `${jobs} jobs`);
  await remote.push('main');
  const clone = async (name: string) => {
    await git(dir, 'clone', '--quiet', remote.bare, path.join(dir, name));
    return path.join(dir, name);
  };

  // (d) the floor: one shell per job, as every runner spawns at least that.
  const shell = await repeat(
    REPEATS,
    async () => (await timed(() => run('sh', ['-c', `for i in $(seq 1 ${jobs}); do sh -c "echo job $i"; done`]))).ms,
  );

  // (a) tandem exec: a whole process per run, start-up and parsing included.
  const execDir = await clone('exec');
  const exec = await repeat(REPEATS, async () => {
    const { ms, value } = await timed(() => run(process.execPath, [CLI, 'exec', '--quiet'], { cwd: execDir, maxBuffer: 16 * 1024 * 1024 }));
    if (!/pipeline success/.test(value.stdout)) throw new Error(`tandem exec did not succeed:\n${value.stdout}`);
    return ms;
  });

  // (b) tandem up: from the trigger request to the pipeline's recorded finish, server already running.
  const name = `bench-${jobs}`;
  await server.api('POST', '/api/v1/repos', { name, url: remote.bare });
  const up = await repeat(REPEATS, async () => {
    const t0 = Date.now();
    const { id } = await server.api<{ id: number }>('POST', `/api/v1/repos/${name}/pipelines`, {});
    const p = await server.waitForPipeline(id, 120_000);
    if (p.status !== 'success' || !p.finishedAt) throw new Error(`pipeline ${id} ended ${p.status}`);
    return Date.parse(p.finishedAt) - t0;
  });

  // (c) gitlab-ci-local, the tool `tandem exec` replaces; slow on big pipelines, so one run there.
  let gcl: number[] = [];
  if (gclBin) {
    const gclDir = await clone('gcl');
    gcl = await repeat(jobs > 50 ? 1 : REPEATS, async () => {
      const { ms, value } = await timed(() =>
        run(gclBin, ['--shell-executor-no-image', '--concurrency', '2'], { cwd: gclDir, maxBuffer: 64 * 1024 * 1024, timeout: 600_000 }),
      );
      if (!/pipeline finished/.test(value.stdout + value.stderr))
        throw new Error(`gitlab-ci-local did not finish:\n${value.stdout.slice(-2000)}`);
      return ms;
    });
  }
  log(`${jobs} jobs: shell ${seconds(shell)} s; exec ${seconds(exec)} s; up ${seconds(up)} s; gitlab-ci-local ${seconds(gcl) || '-'} s`);
  return { jobs, shell, exec, up, gcl };
}

export async function overhead(log: (line: string) => void): Promise<BenchResult> {
  const tmp = await tempDir('overhead');
  const server = await LiveServer.start('up', path.join(tmp.dir, 'data'));
  try {
    const rsync = await hasCommand('rsync');
    const gclBin = rsync ? await gitlabCiLocal(log) : null;
    const results: Timings[] = [];
    for (const jobs of SIZES) results.push(await measure(tmp.dir, jobs, server, gclBin, log));

    const rows: string[][] = [];
    const notes: string[] = [];
    if (!rsync) notes.push('gitlab-ci-local was not run: it needs `rsync` (apt-get install rsync).');
    for (const t of results) {
      const ref = t.gcl.length > 0 ? median(t.gcl) : null;
      const row = (runner: string, runs: number[], how: string) => [
        String(t.jobs),
        runner,
        how,
        fmt(median(runs) / 1000),
        ref === null ? '-' : fmt(median(runs) / ref),
        fmt(median(runs) / t.jobs, 1),
      ];
      rows.push(
        row('tandem exec', t.exec, `CLI process, --concurrency 2, median of ${t.exec.length}`),
        row('tandem up', t.up, `trigger → pipeline success, 2 agents × 2 slots, median of ${t.up.length}`),
      );
      if (ref !== null)
        rows.push(row('gitlab-ci-local', t.gcl, `${GCL_VERSION}, --shell-executor-no-image --concurrency 2, median of ${t.gcl.length}`));
      rows.push(row('shell loop', t.shell, `\`sh -c "echo"\` per job, sequential, median of ${t.shell.length}`));
      if (ref !== null) {
        const up = median(t.up) / ref;
        const exec = median(t.exec) / ref;
        notes.push(
          `${t.jobs} jobs — targets: server mode no slower than gitlab-ci-local: ${up <= 1 ? 'met' : 'missed'} (${fmt(up)}×); ` +
            `exec at most half of gitlab-ci-local: ${exec <= 0.5 ? 'met' : 'missed'} (${fmt(exec)}×).`,
        );
      }
      notes.push(
        `${t.jobs} jobs — all runs (s): exec ${seconds(t.exec)}; up ${seconds(t.up)}; gitlab-ci-local ${seconds(t.gcl) || '-'}; shell ${seconds(t.shell)}.`,
      );
    }
    return {
      id: 'overhead',
      title: `Overhead: \`echo\` jobs in ${STAGES.length} stages`,
      header: ['jobs', 'runner', 'how', 'seconds', '× gitlab-ci-local', 'ms/job'],
      rows,
      notes,
    };
  } finally {
    await server.stop();
    await tmp.remove();
  }
}
