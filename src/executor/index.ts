import { findContainerEngine, type ContainerEngineChoice } from './container-engine.js';
import { ContainerExecutor } from './container.js';
import { SandboxExecutor, sandboxUnavailableReason } from './sandbox.js';
import { ShellExecutor } from './shell.js';
import type { Executor } from './types.js';

export type { ContainerRun, Executor, RunIO, RunOutcome, RunResult, StepsSpec } from './types.js';
export { ShellExecutor } from './shell.js';
export { SandboxExecutor, sandboxAvailable, sandboxUnavailableReason, type SandboxOptions } from './sandbox.js';
export { seccompProgram } from './seccomp.js';
export { hostEnvForJobs } from './host-env.js';
export { ContainerExecutor, CONTAINER_LABELS, type ContainerExecutorOptions } from './container.js';
export {
  ContainerEngine,
  CONTAINER_ENGINE_CHOICES,
  findContainerEngine,
  type ContainerEngineChoice,
  type ContainerEngineKind,
} from './container-engine.js';
export {
  containerJobOf,
  defaultAliases,
  DEFAULT_PULL_POLICY,
  type ContainerJob,
  type ImageSpec,
  type PullPolicy,
  type ServiceSpec,
} from './container-spec.js';
export { createMasker, maskText, MASK, MIN_SECRET_LENGTH, type Masker } from './mask.js';
export { LogChunker, type LogChunk, type LogChunkerOptions } from './log-stream.js';
export { DEFAULT_AFTER_SCRIPT_TIMEOUT_MS, shellQuote } from './steps.js';

/** `container`: a container engine is required; jobs without an image run on the host (auto) unless a default image is set. */
export type ExecutorKind = 'shell' | 'sandbox' | 'auto' | 'container';
export const EXECUTOR_KINDS: readonly ExecutorKind[] = ['shell', 'sandbox', 'auto', 'container'];

export interface CreateExecutorOptions {
  /** For the sandbox: directories and files the job must not see (secretPathsOf: data dir, keys, configuration). */
  hiddenPaths?: string[];
}

export interface HostExecutorChoice {
  executor: Executor;
  /** What an operator must know about it: a fall back from the sandbox to the shell and why, jobs run as root. */
  warnings: string[];
}

/** 'auto' takes the sandbox where bubblewrap works and falls back to the plain shell, saying why. */
export async function chooseHostExecutor(kind: ExecutorKind, opts: CreateExecutorOptions = {}): Promise<HostExecutorChoice> {
  if (kind !== 'shell' && kind !== 'sandbox' && kind !== 'auto')
    throw new Error(`executor: unknown kind '${String(kind)}' (expected shell, sandbox or auto)`);
  const root = process.getuid?.() === 0;
  if (kind === 'shell') {
    const warnings = root
      ? [
          'jobs run as root with the shell executor: any job controls this host; run the agent as an unprivileged user, or use the sandbox executor',
        ]
      : [];
    return { executor: new ShellExecutor(), warnings };
  }
  const reason = await sandboxUnavailableReason();
  if (reason === null) {
    const warnings = root
      ? ['the agent runs as root: sandboxed jobs hold no capability, but run the agent as an unprivileged user where you can']
      : [];
    return { executor: new SandboxExecutor({ hiddenPaths: opts.hiddenPaths ?? [] }), warnings };
  }
  if (kind === 'sandbox')
    throw new Error(`executor: sandbox requested, but ${reason}; install bubblewrap, allow user namespaces, or use the shell executor`);
  const user = root ? 'root' : `the agent's user (uid ${process.getuid?.() ?? '?'})`;
  return {
    executor: new ShellExecutor(),
    warnings: [
      `no sandbox (${reason}): jobs run with the shell executor, unconfined, as ${user}, and can read everything it can (the data dir, admin.token); install bubblewrap or allow user namespaces`,
    ],
  };
}

export async function createExecutor(kind: ExecutorKind, opts: CreateExecutorOptions = {}): Promise<Executor> {
  return (await chooseHostExecutor(kind, opts)).executor;
}

export interface ContainerSettings {
  /** Default `auto`. */
  engine?: ContainerEngineChoice;
  /** Flags before every engine command (`--runtime runc`). */
  engineArgs?: string[];
  /** Flags for every container (`--ulimit nofile=1024:1024`). */
  runArgs?: string[];
  /** The image of jobs that name none. */
  defaultImage?: string;
  /** The label by which a restart finds what a crash left: the agent's work dir. */
  owner: string;
  agentName?: string;
}

/** What an agent runs jobs with. */
export interface Executors {
  /** Jobs without an image (and every job when there is no container engine). */
  host: Executor;
  /** Jobs with an image; null without a container engine. */
  container: ContainerExecutor | null;
  /** What the agent can do, for its tags: the host executor's name, and `container` with the engine's name. */
  tags: string[];
  /** For the operator (logged at warn): see HostExecutorChoice. */
  warnings: string[];
}

/**
 * The host executor of `kind` (`container` takes `auto` for jobs without an image) and, unless the
 * engine is `none`, the container executor. `container` or a named engine that does not work is an
 * error; `auto` without an engine gives host executors only.
 */
export async function createExecutors(
  kind: ExecutorKind,
  opts: CreateExecutorOptions & { container?: ContainerSettings } = {},
): Promise<Executors> {
  if (!EXECUTOR_KINDS.includes(kind)) throw new Error(`executor: unknown kind '${String(kind)}' (expected ${EXECUTOR_KINDS.join(', ')})`);
  const settings = opts.container;
  const choice = settings?.engine ?? 'auto';
  if (kind === 'container' && (!settings || choice === 'none'))
    throw new Error('executor container: needs a container engine, but containerEngine is none');
  const { executor: host, warnings } = await chooseHostExecutor(kind === 'container' ? 'auto' : kind, opts);
  const engine = settings ? await findContainerEngine(choice, settings.engineArgs ?? []) : null;
  if (kind === 'container' && !engine) {
    throw new Error(
      'executor container: no container engine works here (podman, or the docker CLI with a daemon that answers); install one or choose another executor',
    );
  }
  const container =
    engine && settings
      ? new ContainerExecutor({
          engine,
          runArgs: settings.runArgs,
          owner: settings.owner,
          agentName: settings.agentName,
          defaultImage: settings.defaultImage,
        })
      : null;
  if (container?.limitsNote) warnings.push(`container executor: ${container.limitsNote}`);
  return { host, container, tags: [host.name, ...(engine ? ['container', engine.kind] : [])], warnings };
}
