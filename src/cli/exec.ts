import { existsSync } from 'node:fs';
import { lazyRequire } from '../lazy-require.js';
import { containerSettingsOf, loadConfig } from '../config/index.js';
import { execPipeline, type Reproduction } from '../exec/index.js';
import { CliError } from './api-client.js';
import type { FromJobFlags } from './from-job.js';
import { includeReader, type IncludeFlags } from './include-sources.js';
import { colourJobStatus, colourStatus, printTable } from './output.js';

// Only a terminal shows the bar: piped and test runs do not load it.
const cliProgress = lazyRequire<typeof import('cli-progress')>('cli-progress');

interface ExecFlags extends IncludeFlags, FromJobFlags {
  fromJob?: string;
  file?: string;
  concurrency: string;
  manual?: string[];
  variable?: string[];
  executor?: string;
  containerEngine?: string;
  containerEngineArgs?: string;
  containerRunArgs?: string;
  defaultImage?: string;
  quiet?: boolean;
}

export async function runExec(jobs: string[], flags: ExecFlags): Promise<void> {
  const variables: Record<string, string> = {};
  for (const kv of flags.variable ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new CliError(`--variable ${kv}: expected KEY=VALUE`);
    variables[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  let file = flags.file ?? (existsSync('.tandem.yml') ? '.tandem.yml' : '.gitlab-ci.yml');
  let reproduce: Reproduction | undefined;
  if (flags.fromJob !== undefined) {
    if (jobs.length > 0 || flags.file !== undefined)
      throw new CliError('--from-job runs that one job from its own commit: no job names, no --file');
    const prepared = await (await import('./from-job.js')).prepareFromJob(flags.fromJob, flags, variables);
    file = prepared.file;
    jobs = [prepared.job];
    reproduce = prepared.reproduce;
    // Secrets the user supplied travel with the job's variables, masked; they are not repeated unmasked.
    for (const v of reproduce.variables) if (v.masked) delete variables[v.key];
    console.error(`Job ${prepared.job} at ${file}`);
    for (const w of prepared.missing)
      console.error(
        `warning: ${w.key} (${w.reason}) is a secret the server does not hand out: pass --variable ${w.key}=... if the job needs it`,
      );
  }
  if (!existsSync(file)) throw new CliError(`${file}: no such file (run in a project with .tandem.yml or .gitlab-ci.yml, or pass --file)`);
  // Executor settings as an agent takes them: flags, else TANDEM_* variables, else the defaults.
  const config = loadConfig({
    // Unlike an agent's, the default stays the shell: your own pipeline, on your machine, as you.
    executor: flags.executor ?? process.env.TANDEM_EXECUTOR ?? 'shell',
    containerEngine: flags.containerEngine,
    containerEngineArgs: flags.containerEngineArgs,
    containerRunArgs: flags.containerRunArgs,
    defaultImage: flags.defaultImage,
  });
  // The bar lives on stderr and only on a terminal, so piped output stays plain logs.
  const bar = process.stderr.isTTY
    ? new (cliProgress().SingleBar)(
        { format: 'jobs {bar} {value}/{total} {running}', stream: process.stderr, clearOnComplete: true },
        cliProgress().Presets.shades_classic,
      )
    : null;
  const running = new Set<string>();
  let done = 0;
  const partial = new Map<string, string>();
  // Colour only on a terminal, so piped output and log files stay greppable.
  const prefix = (job: string) => (process.stdout.isTTY ? `\x1b[36m[${job}]\x1b[0m` : `[${job}]`);
  const emit = (job: string, line: string) => {
    if (flags.quiet) return;
    if (bar) bar.stop();
    process.stdout.write(`${prefix(job)} ${line}\n`);
  };
  const result = await execPipeline({
    file,
    only: jobs,
    // A reproduced manual job was played on the server (or is being tried out): it runs.
    manual: reproduce ? jobs : flags.manual,
    concurrency: Number(flags.concurrency) || 1,
    executor: config.executor,
    container: containerSettingsOf(config),
    variables,
    reproduce,
    readIncludeFile: includeReader(file, flags),
    onLog(job, text) {
      // Prefix every line with its job; hold back a partial last line until it completes.
      const lines = ((partial.get(job) ?? '') + text).split('\n');
      partial.set(job, lines.pop() ?? '');
      for (const line of lines) emit(job, line);
    },
    onJobStart(job) {
      running.add(job);
      bar?.update({ running: [...running].join(', ') });
    },
    onJobEnd(job, status, seconds) {
      running.delete(job);
      done++;
      const rest = partial.get(job);
      if (rest) emit(job, rest);
      partial.delete(job);
      if (!flags.quiet) console.log(`${prefix(job)} ${colourStatus(status)} in ${seconds.toFixed(2)} s`);
      if (bar) {
        if (!bar.isActive) bar.start(0, 0, { running: '' });
        bar.setTotal(Math.max(done + running.size, done));
        bar.update(done, { running: [...running].join(', ') });
      }
    },
  });
  bar?.stop();
  console.log('');
  printTable(
    result.jobs.map((j) => ({ ...j, status: colourJobStatus(j.status, j.allowFailure), duration: j.seconds })),
    ['stage', 'name', 'status', 'duration'],
  );
  console.log(`pipeline ${colourStatus(result.status)}`);
  if (result.status !== 'success') process.exitCode = 1;
}
