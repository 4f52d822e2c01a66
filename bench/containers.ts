// Containers: the same pipeline of `echo` jobs that name an image, run one job at a time by
// `tandem exec` with the shell executor (no engine: the image is ignored) and with the container
// executor (podman), without and with a service per job. The differences are what a container
// costs per job; `podman run --rm` alone is the engine's own floor.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI } from '../test/cli/helpers.js';
import { busyboxImage, ENGINE_ARGS, podman, RUN_ARGS } from '../test/support/podman.js';
import { fmt, median, run, tempDir, timed, type BenchResult } from './common.js';

const JOBS = 20;
const REPEATS = 3;

function pipelineFile(image: string, withService: boolean): string {
  const lines: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    lines.push(`job${i}:`, `  image: ${image}`, '  script:', `    - echo job ${i}`);
    // The service serves the port its image exposes at once, so the job waits for it only briefly.
    if (withService)
      lines.push('  services:', `    - { name: ${image}, alias: svc, command: [sh, -c, 'httpd -p 80 -h /tmp; exec sleep 600'] }`);
  }
  return lines.join('\n') + '\n';
}

interface Variant {
  runner: string;
  how: string;
  runs: number[];
}

export async function containers(log: (line: string) => void): Promise<BenchResult> {
  const engine = podman;
  if (!engine) throw new Error('containers: podman does not work here (apt-get install -y podman runc busybox-static)');
  const tmp = await tempDir('containers');
  const image = await busyboxImage();
  try {
    const engineFlags = ['--container-engine-args', ENGINE_ARGS.join(' '), '--container-run-args', RUN_ARGS.join(' ')];
    const execVariant = async (name: string, withService: boolean, engine: 'none' | 'podman'): Promise<number[]> => {
      const dir = path.join(tmp.dir, name);
      await run('mkdir', [dir]);
      await writeFile(path.join(dir, '.gitlab-ci.yml'), pipelineFile(image.name, withService));
      const runs: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        const { ms, value } = await timed(() =>
          run(process.execPath, [CLI, 'exec', '--quiet', '--concurrency', '1', '--container-engine', engine, ...engineFlags], {
            cwd: dir,
            maxBuffer: 16 * 1024 * 1024,
          }),
        );
        if (!/pipeline success/.test(value.stdout)) throw new Error(`tandem exec (${name}) did not succeed:\n${value.stdout}`);
        runs.push(ms);
      }
      log(`${name}: ${runs.map((ms) => fmt(ms / 1000)).join(' / ')} s`);
      return runs;
    };
    // Interleaving is not needed for a ratio this large, but every variant runs in this one process and run.
    const shell = await execVariant('shell', false, 'none');
    const container = await execVariant('container', false, 'podman');
    const service = await execVariant('container-service', true, 'podman');
    const floor: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const { ms } = await timed(async () => {
        for (let j = 0; j < JOBS; j++) await engine.check(['run', '--rm', ...RUN_ARGS, image.name, 'true'], 'podman run');
      });
      floor.push(ms);
    }
    log(`podman run floor: ${floor.map((ms) => fmt(ms / 1000)).join(' / ')} s`);

    const base = median(shell) / JOBS;
    const variants: Variant[] = [
      { runner: 'shell executor', how: '`tandem exec --container-engine none` (image ignored)', runs: shell },
      { runner: 'container executor', how: '`tandem exec --container-engine podman`', runs: container },
      {
        runner: 'container executor + 1 service',
        how: 'as above, a busybox httpd service per job (network, sidecar, port wait)',
        runs: service,
      },
      { runner: '`podman run --rm IMAGE true`', how: 'the engine alone, sequential', runs: floor },
    ];
    const rows = variants.map((v) => {
      const perJob = median(v.runs) / JOBS;
      return [v.runner, v.how, fmt(median(v.runs) / 1000), fmt(perJob, 0), v.runs === floor ? '-' : fmt(perJob - base, 0)];
    });
    const overhead = median(container) / JOBS - base;
    const engineFloor = median(floor) / JOBS;
    // Tandem's own steps around the engine (the image check, the label sweep after the job).
    const own = overhead - engineFloor;
    const ownWords =
      Math.abs(own) < engineFloor * 0.1 ? 'are within the run-to-run noise' : `${own > 0 ? 'add' : 'save'} ${fmt(Math.abs(own), 0)} ms`;
    return {
      id: 'containers',
      title: `Containers: ${JOBS} \`echo\` jobs with an image, one at a time`,
      header: ['runner', 'how', 'seconds', 'ms/job', 'ms/job over shell'],
      rows,
      notes: [
        `podman ${ENGINE_ARGS.join(' ')} (Debian 12's podman 4.3, rootful), a busybox image imported from a local root filesystem (no registry, no pulls). Median of ${REPEATS} runs each; every \`tandem exec\` run includes its own start-up.`,
        `A container costs ${fmt(overhead, 0)} ms per job over the shell executor, and a bare \`podman run --rm\` ${fmt(engineFloor, 0)} ms: Tandem's own steps around the engine (the image check, the label sweep after the job) ${ownWords}. A service adds ${fmt(median(service) / JOBS - base - overhead, 0)} ms per job: a network, a second container, the wait for its port and their removal.`,
        `All runs (s): shell ${shell.map((ms) => fmt(ms / 1000)).join(' / ')}; container ${container.map((ms) => fmt(ms / 1000)).join(' / ')}; with a service ${service.map((ms) => fmt(ms / 1000)).join(' / ')}; podman run ${floor.map((ms) => fmt(ms / 1000)).join(' / ')}.`,
      ],
    };
  } finally {
    await image.remove();
    await tmp.remove();
  }
}
