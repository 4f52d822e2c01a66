// The container executor: each job's scripts run in a container of its image, with the workspace
// bind-mounted at the same path, and its services as sidecar containers on a network of the job's
// own. Everything it creates carries labels, so nothing outlives the job: not a timeout, not a
// cancel, and (at the agent's next start) not even the agent's own death.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fitLimits, limitsFromProc, type FittedLimits } from '../container-limits.js';
import { engineErrorLine, type ContainerEngine } from './container-engine.js';
import type { ImageSpec, ServiceSpec } from './container-spec.js';
import { runSteps, type Launcher } from './steps.js';
import type { ContainerRun, Executor, RunIO, RunOutcome, RunResult, StepsSpec } from './types.js';

export interface ContainerExecutorOptions {
  engine: ContainerEngine;
  /** Flags for every container, e.g. `--ulimit nofile=1024:1024` where the engine's defaults do not fit the host. */
  runArgs?: string[];
  /**
   * Who owns the containers and networks (a label): removeLeftovers() removes what a crash left
   * under this owner. The agent's work dir: unlike a name, no other agent has the same.
   */
  owner: string;
  /** A label for people reading `podman ps`. */
  agentName?: string;
  /** The image of jobs that name none; unset, such jobs run on the host. */
  defaultImage?: string;
  /** How long to wait for services to open their exposed ports: GitLab's wait_for_services_timeout, 30 s. */
  servicesWaitMs?: number;
}

export const CONTAINER_LABELS = { owner: 'tandem.owner', agent: 'tandem.agent', job: 'tandem.job', run: 'tandem.run' } as const;

const SCRIPT_IN_CONTAINER = '/.tandem/step.sh';
/** GitLab's shell detection: bash where the image has it, else POSIX sh. */
const SHELL_DETECT = 'if command -v bash >/dev/null 2>&1; then exec bash --noprofile --norc -eo pipefail "$0"; fi; exec /bin/sh -e "$0"';
/** Engines read env files line by line with a 64 KiB buffer; longer or multi-line values go as arguments. */
const ENV_FILE_MAX_VALUE = 16 * 1024;
const YELLOW = '\x1b[0;33m';
const GREEN = '\x1b[32;1m';
const RESET = '\x1b[0;m';

/**
 * The `--ulimit` flags a rootful podman needs on this host (see container-limits.ts). Rootless
 * podman fits its defaults to the user's limits itself; docker's come from its daemon.
 */
function hostFittedLimits(engine: ContainerEngine, runArgs: string[]): FittedLimits {
  if (engine.kind !== 'podman' || engine.rootless) return { args: [], note: null };
  let host;
  try {
    const read = (path: string) => readFileSync(path, 'utf8');
    host = limitsFromProc(read('/proc/self/limits'), read('/proc/sys/kernel/pid_max'), read('/proc/self/status'));
  } catch {
    return { args: [], note: null };
  }
  return fitLimits(host, runArgs);
}

const RLIMIT_FAILURE = /error setting rlimit type (\d+)/;
const RLIMIT_NAMES: Record<string, string> = { '6': 'nproc', '7': 'nofile' };

/**
 * The job's output, plus one line explaining runc's `error setting rlimit` where it shows (a
 * --ulimit in containerRunArgs above what the host grants, since the agent fits the rest itself).
 */
function explainingLimits(io: RunIO): RunIO {
  let explained = false;
  return {
    signal: io.signal,
    onOutput: (text) => {
      io.onOutput(text);
      const failure = explained ? null : RLIMIT_FAILURE.exec(text);
      if (!failure) return;
      explained = true;
      const name = RLIMIT_NAMES[failure[1]] ?? `resource ${failure[1]}`;
      io.onOutput(
        `${YELLOW}The container could not get its ${name} limit: it is above this host's hard limit, which runc cannot raise here. The agent fits the limits to the host by itself; a --ulimit ${name}=... in containerRunArgs must stay at most the host's hard limit.${RESET}\n`,
      );
    },
  };
}

/** Ended by a cancel or the job's timeout before the scripts started. */
class Stopped extends Error {
  constructor(readonly outcome: RunOutcome) {
    super(outcome);
  }
}

/**
 * Variables for a container: single-line values through an env file (mode 0600, never on a
 * command line where `ps` shows it), the rest as arguments.
 */
function envArgs(env: Record<string, string>, file: string): string[] {
  const lines: string[] = [];
  const args: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) && !/[\r\n]/.test(value) && value.length <= ENV_FILE_MAX_VALUE) lines.push(`${key}=${value}`);
    else args.push('--env', `${key}=${value}`);
  }
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
  return ['--env-file', file, ...args];
}

/** `--entrypoint` takes one executable; the rest of a GitLab entrypoint goes before the command. */
function entrypointArgs(image: ImageSpec): { flags: string[]; before: string[] } {
  if (image.entrypoint === null) return { flags: [], before: [] };
  if (image.entrypoint.length === 0) return { flags: ['--entrypoint='], before: [] };
  const [first, ...rest] = image.entrypoint;
  return { flags: [`--entrypoint=${first}`], before: rest };
}

function imageFlags(image: ImageSpec): string[] {
  return [...(image.user ? ['--user', image.user] : []), ...(image.platform ? ['--platform', image.platform] : [])];
}

function bindable(path: string, what: string): string {
  if (path.includes(':')) throw new Error(`container executor: the ${what} ${path} contains ':', which a bind mount cannot name`);
  return path;
}

function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const finish = (open: boolean) => {
      socket.destroy();
      done(open);
    };
    socket.once('connect', () => finish(true));
    socket.once('timeout', () => finish(false));
    socket.once('error', () => finish(false));
  });
}

/** Runs each job in a container of its image, with its services beside it. */
export class ContainerExecutor implements Executor {
  readonly name = 'container' as const;
  readonly engine: ContainerEngine;
  readonly defaultImage: string | undefined;
  private readonly runArgs: string[];
  /** Says which container limits were fitted to the host, for the agent's log; null when none were. */
  readonly limitsNote: string | null;
  private readonly owner: string;
  private readonly agentName: string;
  private readonly servicesWaitMs: number;
  /**
   * Where a job's env files and registry credentials live while it runs (0700 temp dirs). Named
   * after the owner so that removeLeftovers() can delete what a killed agent left there too.
   */
  readonly scratchPrefix: string;

  constructor(options: ContainerExecutorOptions) {
    this.engine = options.engine;
    const runArgs = options.runArgs ?? [];
    const fitted = hostFittedLimits(options.engine, runArgs);
    this.runArgs = [...fitted.args, ...runArgs];
    this.limitsNote = fitted.note;
    this.owner = options.owner;
    this.agentName = options.agentName ?? '';
    this.defaultImage = options.defaultImage;
    this.servicesWaitMs = options.servicesWaitMs ?? 30_000;
    this.scratchPrefix = join(tmpdir(), `tandem-container-${createHash('sha256').update(this.owner).digest('hex').slice(0, 12)}-`);
  }

  /**
   * Removes the containers, networks and scratch dirs a previous run of this owner left (it was
   * killed); returns how many containers and networks there were. Call it only while no job runs.
   */
  async removeLeftovers(): Promise<{ containers: number; networks: number }> {
    const label = `${CONTAINER_LABELS.owner}=${this.owner}`;
    const containers = await this.engine.listContainers(label);
    await this.engine.removeContainers(containers);
    const networks = await this.engine.listNetworks(label);
    await this.engine.removeNetworks(networks);
    const prefix = basename(this.scratchPrefix);
    const scratch = (await readdir(tmpdir())).filter((name) => name.startsWith(prefix));
    await Promise.all(scratch.map((name) => rm(join(tmpdir(), name), { recursive: true, force: true })));
    return { containers: containers.length, networks: networks.length };
  }

  async run(spec: StepsSpec, io: RunIO): Promise<RunResult> {
    const started = Date.now();
    const run = spec.container;
    if (!run) throw new Error('container executor: the job names no image');
    const workspace = bindable(resolve(spec.workspace), 'workspace');
    const mounts = (spec.mounts ?? []).map((m) => bindable(resolve(m), 'path'));
    const runId = `${run.jobId}-${randomBytes(4).toString('hex')}`;
    const prefix = `tandem-job-${runId}`;
    const labels = [
      [CONTAINER_LABELS.owner, this.owner],
      [CONTAINER_LABELS.agent, this.agentName],
      [CONTAINER_LABELS.job, String(run.jobId)],
      [CONTAINER_LABELS.run, runId],
    ].flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    // Env files and registry credentials: outside the workspace, 0700, gone with the job.
    const dir = await mkdtemp(this.scratchPrefix);
    // Pulls and service starts count against the job's timeout, as in GitLab.
    const preparing = AbortSignal.any([io.signal, AbortSignal.timeout(spec.timeoutMs)]);
    let network: string | null = null;
    try {
      const authArgs = await this.registryAuth(spec.env, dir);
      for (const image of [run.job.image, ...run.job.services]) await this.ensureImage(image, authArgs, io, preparing);
      if (run.job.services.length > 0) {
        network = prefix;
        const name = network;
        await this.preparing(io, preparing, () =>
          this.engine.check(['network', 'create', ...labels, name], `creating the job's network ${name}`, { signal: preparing }),
        );
        await this.startServices(run, prefix, network, labels, dir, io, preparing);
      }
      const image = run.job.image;
      const entry = entrypointArgs(image);
      let step = 0;
      const launcher: Launcher = (scriptPath, _shell, env) => {
        const name = `${prefix}-step-${++step}`;
        const args = [
          ...['run', '--rm', '--name', name, ...labels, ...this.runArgs, '--pull=never'],
          ...(network ? ['--network', network] : []),
          ...['--volume', `${workspace}:${workspace}`, ...mounts.flatMap((m) => ['--volume', `${m}:${m}:ro`])],
          ...['--volume', `${bindable(scriptPath, 'script')}:${SCRIPT_IN_CONTAINER}:ro`, '--workdir', workspace],
          ...envArgs(env, join(dir, `step-${step}.env`)),
          ...imageFlags(image),
          ...entry.flags,
          image.name,
          ...entry.before,
          ...['/bin/sh', '-c', SHELL_DETECT, SCRIPT_IN_CONTAINER],
        ];
        // The engine's helpers (conmon) outlive the CLI by design; stop() ends the container instead.
        return {
          command: this.engine.path,
          args: [...this.engine.globalArgs, ...args],
          env: this.engine.env,
          stop: () => this.engine.removeContainers([name]),
          cgroup: false,
        };
      };
      const remaining = Math.max(1, spec.timeoutMs - (Date.now() - started));
      const result = await runSteps({ ...spec, workspace, timeoutMs: remaining }, explainingLimits(io), launcher);
      return { ...result, durationMs: Date.now() - started };
    } catch (err) {
      if (err instanceof Stopped) return { exitCode: null, outcome: err.outcome, durationMs: Date.now() - started };
      throw err;
    } finally {
      await this.teardown(runId, network, io);
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Throws Stopped when the preparation was canceled or ran out of time. */
  private stoppedBy(io: RunIO, signal: AbortSignal): void {
    if (!signal.aborted) return;
    const outcome: RunOutcome = io.signal.aborted ? 'canceled' : 'timeout';
    io.onOutput(
      `\n${YELLOW}${outcome === 'canceled' ? 'Job canceled' : 'ERROR: the job timed out'} while preparing its containers${RESET}\n`,
    );
    throw new Stopped(outcome);
  }

  /** One preparation step: a failure caused by a cancel or the timeout is reported as that. */
  private async preparing<T>(io: RunIO, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    this.stoppedBy(io, signal);
    let result: T;
    try {
      result = await work();
    } catch (err) {
      this.stoppedBy(io, signal);
      throw err;
    }
    this.stoppedBy(io, signal);
    return result;
  }

  /** GitLab's DOCKER_AUTH_CONFIG (a docker config.json) as flags that make a pull use it. */
  private async registryAuth(env: Record<string, string>, dir: string): Promise<string[]> {
    const config = env.DOCKER_AUTH_CONFIG;
    if (config === undefined || config.trim() === '') return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(config);
    } catch (err) {
      throw new Error(`DOCKER_AUTH_CONFIG: not valid JSON (${(err as Error).message}); expected a docker config.json with "auths"`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('DOCKER_AUTH_CONFIG: expected a JSON object like {"auths": {"registry": {"auth": "..."}}}');
    const file = join(dir, 'config.json');
    await writeFile(file, config, { mode: 0o600 });
    // podman reads an auth file per pull; the docker CLI reads config.json from a config directory.
    return this.engine.kind === 'podman' ? ['--authfile', file] : ['--config', dir];
  }

  /** Makes the image present as its pull policies say, trying them in order; throws what each one met. */
  private async ensureImage(image: ImageSpec, authArgs: string[], io: RunIO, signal: AbortSignal): Promise<void> {
    const problems: string[] = [];
    for (const policy of image.pullPolicy) {
      if (policy !== 'always' && (await this.preparing(io, signal, () => this.engine.imageExists(image.name)))) {
        io.onOutput(`${GREEN}Using ${this.engine.kind} image ${image.name}${RESET}\n`);
        return;
      }
      if (policy === 'never') {
        problems.push('it is not on this agent and pull_policy is never');
        continue;
      }
      io.onOutput(`${GREEN}Pulling ${this.engine.kind} image ${image.name} (pull_policy ${policy})${RESET}\n`);
      const pull = this.engine.kind === 'podman' ? ['pull', ...authArgs] : [...authArgs, 'pull'];
      const result = await this.preparing(io, signal, () =>
        this.engine.exec([...pull, ...(image.platform ? ['--platform', image.platform] : []), image.name], { signal }),
      );
      if (result.code === 0) return;
      problems.push(`${policy === 'always' ? '' : 'it is not on this agent and '}pulling it failed: ${engineErrorLine(result.stderr)}`);
    }
    throw new Error(`image ${image.name}: ${problems.join('; then ')}`);
  }

  private async startServices(
    run: ContainerRun,
    prefix: string,
    network: string,
    labels: string[],
    dir: string,
    io: RunIO,
    signal: AbortSignal,
  ): Promise<void> {
    const started: { name: string; service: ServiceSpec }[] = [];
    for (const [i, service] of run.job.services.entries()) {
      const name = `${prefix}-svc-${i}`;
      const entry = entrypointArgs(service);
      io.onOutput(`${GREEN}Starting service ${service.name} as ${service.aliases.join(', ')}${RESET}\n`);
      const args = [
        ...['run', '--detach', '--name', name, ...labels, ...this.runArgs, '--pull=never', '--network', network],
        ...service.aliases.flatMap((alias) => ['--network-alias', alias]),
        ...envArgs({ ...run.serviceEnv, ...service.variables }, join(dir, `service-${i}.env`)),
        ...imageFlags(service),
        ...entry.flags,
        service.name,
        ...entry.before,
        ...(service.command ?? []),
      ];
      await this.preparing(io, signal, () => this.engine.check(args, `service ${service.name} could not start`, { signal }));
      started.push({ name, service });
    }
    await this.preparing(io, signal, () => Promise.all(started.map(({ name, service }) => this.waitForService(name, service, io, signal))));
  }

  /**
   * Waits until the service accepts connections on the ports its image exposes, as GitLab does;
   * a service that does not is a warning, and the job goes on. The agent reaches the container by
   * its address on the job's network, which a rootless engine keeps in a namespace of its own.
   */
  private async waitForService(name: string, service: ServiceSpec, io: RunIO, signal: AbortSignal): Promise<void> {
    if (this.engine.rootless) return;
    const exposed = await this.engine.exec(['image', 'inspect', '--format', '{{json .Config.ExposedPorts}}', service.name]);
    const ports = Object.keys((JSON.parse(exposed.stdout.trim() || 'null') as Record<string, unknown> | null) ?? {})
      .filter((p) => p.endsWith('/tcp'))
      .map((p) => Number.parseInt(p, 10));
    if (ports.length === 0) return;
    const address = (
      await this.engine.exec(['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', name])
    ).stdout
      .trim()
      .split(' ')[0];
    if (!address) return;
    const deadline = Date.now() + this.servicesWaitMs;
    const waiting = new Set(ports);
    while (waiting.size > 0 && Date.now() < deadline && !signal.aborted) {
      for (const port of [...waiting]) if (await tcpOpen(address, port, 500)) waiting.delete(port);
      if (waiting.size === 0) return;
      const state = await this.engine.exec(['inspect', '--format', '{{.State.Running}}', name]);
      if (state.stdout.trim() !== 'true') break;
      await sleep(200, undefined, { signal }).catch(() => undefined);
    }
    if (signal.aborted) return;
    const logs = await this.engine.exec(['logs', '--tail', '20', name]);
    io.onOutput(
      `${YELLOW}WARNING: service ${service.name} (${service.aliases[0]}) does not answer on port ${[...waiting].join(', ')}; the job starts anyway. Its last log lines:${RESET}\n` +
        `${(logs.stdout + logs.stderr).trimEnd() || '(none)'}\n`,
    );
  }

  /** Whatever ended the job, its containers and network go; a failure here is reported, not thrown. */
  private async teardown(runId: string, network: string | null, io: RunIO): Promise<void> {
    try {
      await this.engine.removeContainers(await this.engine.listContainers(`${CONTAINER_LABELS.run}=${runId}`));
      if (network) await this.engine.removeNetworks([network]);
    } catch (err) {
      io.onOutput(`${YELLOW}WARNING: ${(err as Error).message}; the agent removes them at its next start${RESET}\n`);
    }
  }
}
