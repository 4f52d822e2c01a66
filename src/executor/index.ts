import { findContainerEngine, type ContainerEngineChoice } from './container-engine.js';
import { ContainerExecutor } from './container.js';
import { SandboxExecutor, sandboxAvailable } from './sandbox.js';
import { ShellExecutor } from './shell.js';
import type { Executor } from './types.js';

export type { ContainerRun, Executor, RunIO, RunOutcome, RunResult, StepsSpec } from './types.js';
export { ShellExecutor } from './shell.js';
export { SandboxExecutor, sandboxAvailable, type SandboxOptions } from './sandbox.js';
export { ContainerExecutor, CONTAINER_LABELS, type ContainerExecutorOptions } from './container.js';
export { ContainerEngine, CONTAINER_ENGINE_CHOICES, findContainerEngine, type ContainerEngineChoice, type ContainerEngineKind } from './container-engine.js';
export { containerJobOf, defaultAliases, DEFAULT_PULL_POLICY, type ContainerJob, type ImageSpec, type PullPolicy, type ServiceSpec } from './container-spec.js';
export { createMasker, maskText, MASK, MIN_SECRET_LENGTH, type Masker } from './mask.js';
export { LogChunker, type LogChunk, type LogChunkerOptions } from './log-stream.js';
export { DEFAULT_AFTER_SCRIPT_TIMEOUT_MS } from './steps.js';

/** `container`: a container engine is required; jobs without an image run on the host (auto) unless a default image is set. */
export type ExecutorKind = 'shell' | 'sandbox' | 'auto' | 'container';
export const EXECUTOR_KINDS: readonly ExecutorKind[] = ['shell', 'sandbox', 'auto', 'container'];

export interface CreateExecutorOptions {
  /** For the sandbox: directories and files the job must not see (the agent's data dir, token file). */
  hiddenPaths?: string[];
}

/** 'auto' takes the sandbox where bubblewrap works and falls back to the plain shell. */
export async function createExecutor(kind: ExecutorKind, opts: CreateExecutorOptions = {}): Promise<Executor> {
  if (kind === 'shell') return new ShellExecutor();
  if (kind !== 'sandbox' && kind !== 'auto') throw new Error(`executor: unknown kind '${String(kind)}' (expected shell, sandbox or auto)`);
  if (await sandboxAvailable()) return new SandboxExecutor({ hiddenPaths: opts.hiddenPaths ?? [] });
  if (kind === 'sandbox') {
    throw new Error('executor: sandbox requested but bubblewrap (bwrap) is missing or cannot create namespaces here; install bubblewrap or use the shell executor');
  }
  return new ShellExecutor();
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
}

/**
 * The host executor of `kind` (`container` takes `auto` for jobs without an image) and, unless the
 * engine is `none`, the container executor. `container` or a named engine that does not work is an
 * error; `auto` without an engine gives host executors only.
 */
export async function createExecutors(kind: ExecutorKind, opts: CreateExecutorOptions & { container?: ContainerSettings } = {}): Promise<Executors> {
  if (!EXECUTOR_KINDS.includes(kind)) throw new Error(`executor: unknown kind '${String(kind)}' (expected ${EXECUTOR_KINDS.join(', ')})`);
  const settings = opts.container;
  const choice = settings?.engine ?? 'auto';
  if (kind === 'container' && (!settings || choice === 'none')) throw new Error('executor container: needs a container engine, but containerEngine is none');
  const host = await createExecutor(kind === 'container' ? 'auto' : kind, opts);
  const engine = settings ? await findContainerEngine(choice, settings.engineArgs ?? []) : null;
  if (kind === 'container' && !engine) {
    throw new Error('executor container: no container engine works here (podman, or the docker CLI with a daemon that answers); install one or choose another executor');
  }
  const container =
    engine && settings
      ? new ContainerExecutor({ engine, runArgs: settings.runArgs, owner: settings.owner, agentName: settings.agentName, defaultImage: settings.defaultImage })
      : null;
  return { host, container, tags: [host.name, ...(engine ? ['container', engine.kind] : [])] };
}
