// Overhead: one pipeline of 200 trivial jobs run by `tandem exec`, by `tandem up` (server, two
// agents, everything persisted), by gitlab-ci-local and by a plain shell loop. The jobs do nothing,
// so the times are what each tool costs per job.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { CLI } from '../test/cli/helpers.js';
import { git, makeRemote } from '../test/support/git.js';
import { fmt, LiveServer, median, run, tempDir, timed, type BenchResult } from './common.js';

const JOBS = 200;
const STAGES = ['build', 'test', 'package', 'deploy'];
export const GCL_VERSION = '4.60.1';
const REPEATS = 3;

function pipelineFile(): string {
  const lines = [`stages: [${STAGES.join(', ')}]`];
  for (let i = 0; i < JOBS; i++) lines.push(`job${i}:`, `  stage: ${STAGES[i % STAGES.length]}`, '  script:', `    - echo job ${i}`);
  return lines.join('\n') + '\n';
}

/** gitlab-ci-local is a benchmark peer, not a dependency: installed once into a cache outside the repository. */
async function gitlabCiLocal(log: (line: string) => void): Promise<string> {
  const prefix = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'tandem-bench', `gitlab-ci-local-${GCL_VERSION}`);
  const bin = path.join(prefix, 'node_modules', '.bin', 'gitlab-ci-local');
  if (!existsSync(bin)) {
    log(`installing gitlab-ci-local@${GCL_VERSION} into ${prefix} (once)`);
    await run('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', `gitlab-ci-local@${GCL_VERSION}`], { maxBuffer: 16 * 1024 * 1024 });
  }
  return bin;
}

async function hasCommand(name: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${name}`]).then(
    () => true,
    () => false,
  );
}

export async function overhead(log: (line: string) => void): Promise<BenchResult> {
  const tmp = await tempDir('overhead');
  try {
    const remote = await makeRemote(tmp.dir);
    await remote.commit({ '.gitlab-ci.yml': pipelineFile() }, `${JOBS} jobs`);
    await remote.push('main');
    const clone = async (name: string) => {
      const dir = path.join(tmp.dir, name);
      await git(tmp.dir, 'clone', '--quiet', remote.bare, dir);
      return dir;
    };

    // (d) the floor: one shell per job, as every runner spawns at least that.
    const shell: number[] = [];
    for (let i = 0; i < REPEATS; i++) shell.push((await timed(() => run('sh', ['-c', `for i in $(seq 1 ${JOBS}); do sh -c "echo job $i"; done`]))).ms);
    log(`shell loop: ${shell.map((ms) => fmt(ms / 1000)).join(', ')} s`);

    // (a) tandem exec: a whole process per run, parsing and all.
    const execDir = await clone('exec');
    const exec: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const { ms, value } = await timed(() => run(process.execPath, [CLI, 'exec', '--quiet'], { cwd: execDir, maxBuffer: 16 * 1024 * 1024 }));
      if (!/pipeline success/.test(value.stdout)) throw new Error(`tandem exec did not succeed:\n${value.stdout}`);
      exec.push(ms);
    }
    log(`tandem exec: ${exec.map((ms) => fmt(ms / 1000)).join(', ')} s`);

    // (b) tandem up: from the trigger request to the pipeline's recorded finish, server already running.
    const data = await tempDir('overhead-up');
    const server = await LiveServer.start('up', data.dir);
    const up: number[] = [];
    try {
      await server.api('POST', '/api/v1/repos', { name: 'bench', url: remote.bare });
      for (let i = 0; i < REPEATS; i++) {
        const t0 = Date.now();
        const { id } = await server.api<{ id: number }>('POST', '/api/v1/repos/bench/pipelines', {});
        const p = await server.waitForPipeline(id, 120_000);
        if (p.status !== 'success' || !p.finishedAt) throw new Error(`pipeline ${id} ended ${p.status}`);
        up.push(Date.parse(p.finishedAt) - t0);
      }
    } finally {
      await server.stop();
      await data.remove();
    }
    log(`tandem up: ${up.map((ms) => fmt(ms / 1000)).join(', ')} s`);

    // (c) gitlab-ci-local, the tool `tandem exec` replaces; one run, it is by far the slowest.
    let gcl: number | null = null;
    let gclNote = '';
    if (!(await hasCommand('rsync'))) {
      gclNote = 'gitlab-ci-local was not run: it needs `rsync` (apt-get install rsync).';
    } else {
      const bin = await gitlabCiLocal(log);
      const gclDir = await clone('gcl');
      const { ms, value } = await timed(() => run(bin, ['--shell-executor-no-image', '--concurrency', '2'], { cwd: gclDir, maxBuffer: 64 * 1024 * 1024, timeout: 600_000 }));
      if (!/pipeline finished/.test(value.stdout + value.stderr)) throw new Error(`gitlab-ci-local did not finish:\n${value.stdout.slice(-2000)}`);
      gcl = ms;
      log(`gitlab-ci-local: ${fmt(ms / 1000)} s`);
    }

    const ref = gcl ?? median(exec);
    const refName = gcl === null ? 'tandem exec' : 'gitlab-ci-local';
    const row = (name: string, how: string, ms: number): string[] => [name, how, fmt(ms / 1000), fmt(ms / ref), fmt(ms / JOBS, 1)];
    const rows = [
      row('tandem exec', `CLI process, --concurrency 2, median of ${REPEATS}`, median(exec)),
      row('tandem up', `trigger → pipeline success, 2 agents × 2 slots, median of ${REPEATS}`, median(up)),
      ...(gcl === null ? [] : [row('gitlab-ci-local', `${GCL_VERSION}, --shell-executor-no-image --concurrency 2, 1 run`, gcl)]),
      row('shell loop', `\`sh -c "echo"\` per job, sequential, median of ${REPEATS}`, median(shell)),
    ];
    const notes = [gclNote].filter(Boolean);
    if (gcl !== null) {
      const serverOk = median(up) <= gcl;
      const execOk = median(exec) <= gcl / 2;
      notes.push(
        `Targets: server mode no slower than gitlab-ci-local — ${serverOk ? 'met' : 'missed'} (${fmt(median(up) / gcl)}×); ` +
          `exec at most half of gitlab-ci-local — ${execOk ? 'met' : 'missed'} (${fmt(median(exec) / gcl)}×).`,
      );
    }
    notes.push(`All runs: exec ${exec.map((ms) => fmt(ms / 1000)).join(' / ')} s; up ${up.map((ms) => fmt(ms / 1000)).join(' / ')} s; shell ${shell.map((ms) => fmt(ms / 1000)).join(' / ')} s.`);
    return {
      id: 'overhead',
      title: `Overhead: ${JOBS} \`echo\` jobs in ${STAGES.length} stages`,
      header: ['runner', 'how', 'seconds', `× ${refName}`, 'ms/job'],
      rows,
      notes,
    };
  } finally {
    await tmp.remove();
  }
}
