// The container engine's command line: podman (rootful or rootless) or the docker CLI. Both take
// the same commands for what Tandem does; the few differences live here.
import { execFile } from 'node:child_process';
import { findExecutable } from './steps.js';

export type ContainerEngineKind = 'podman' | 'docker';
/** `auto`: podman, else docker with a daemon that answers; `none`: no containers. */
export type ContainerEngineChoice = ContainerEngineKind | 'auto' | 'none';
export const CONTAINER_ENGINE_CHOICES: readonly ContainerEngineChoice[] = ['auto', 'podman', 'docker', 'none'];

export interface EngineResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How long a housekeeping command (list, remove, inspect) may take before it counts as failed. */
const HOUSEKEEPING_TIMEOUT_MS = 60_000;

/**
 * The engine's own environment: the agent's, without Tandem's settings (the agent token). A job's
 * variables never go here: DOCKER_HOST or HOME in a job would redirect the engine itself.
 */
function engineEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TANDEM_')) env[k] = v;
  return env;
}

/** The line of an engine's stderr that says what went wrong (podman also logs warnings and retries there). */
export function engineErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const error = lines.filter((l) => /^(Error|docker:)/i.test(l)).pop();
  return error ?? lines.pop() ?? 'no error message';
}

export class ContainerEngine {
  readonly env = engineEnv();

  constructor(
    readonly kind: ContainerEngineKind,
    /** The absolute path of the CLI. */
    readonly path: string,
    /** Flags before every command, e.g. `--runtime runc` (podman) or `--host unix:///...` (docker). */
    readonly globalArgs: string[],
    /** Containers live in a user namespace the agent host cannot route to. */
    readonly rootless: boolean,
  ) {}

  /** Runs one command; a non-zero exit is a result, not an exception. */
  exec(args: string[], opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<EngineResult> {
    return new Promise((resolve) => {
      execFile(
        this.path,
        [...this.globalArgs, ...args],
        { env: this.env, signal: opts.signal, timeout: opts.timeoutMs ?? 0, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout, stderr: stderr || (error && code === -1 ? error.message : '') });
        },
      );
    });
  }

  /** Runs one command and returns its output; a failure throws `<what>: <the engine's error>`. */
  async check(args: string[], what: string, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<string> {
    const result = await this.exec(args, { timeoutMs: HOUSEKEEPING_TIMEOUT_MS, ...opts });
    if (result.code !== 0) throw new Error(`${what}: ${engineErrorLine(result.stderr)}`);
    return result.stdout;
  }

  async imageExists(name: string): Promise<boolean> {
    const args = this.kind === 'podman' ? ['image', 'exists', name] : ['image', 'inspect', '--format', '{{.Id}}', name];
    return (await this.exec(args, { timeoutMs: HOUSEKEEPING_TIMEOUT_MS })).code === 0;
  }

  private async list(args: string[], what: string): Promise<string[]> {
    return (await this.check(args, what)).split('\n').filter(Boolean);
  }

  /** Ids of the containers, running or not, that carry the label (`key=value`). */
  listContainers(label: string): Promise<string[]> {
    return this.list(['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=${label}`], `listing containers labelled ${label}`);
  }

  listNetworks(label: string): Promise<string[]> {
    return this.list(['network', 'ls', '--quiet', '--filter', `label=${label}`], `listing networks labelled ${label}`);
  }

  /** Kills and removes at once: a job that is over has nothing to stop gracefully. */
  async removeContainers(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    // podman's `rm -f` would first wait its stop timeout (10 s); docker's kills at once and has no -t.
    const args = this.kind === 'podman' ? ['rm', '--force', '--ignore', '--time', '0', ...ids] : ['rm', '--force', ...ids];
    const result = await this.exec(args, { timeoutMs: HOUSEKEEPING_TIMEOUT_MS });
    // docker reports containers already gone (removed by their own --rm meanwhile) as errors.
    if (result.code !== 0 && !/no such container/i.test(result.stderr))
      throw new Error(`removing containers: ${engineErrorLine(result.stderr)}`);
  }

  async removeNetworks(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.check(['network', 'rm', ...ids], 'removing networks');
  }
}

const PROBES: Record<ContainerEngineKind, string[]> = {
  // Local and fast (no daemon); rootless-ness follows from the user.
  podman: ['version', '--format', '{{.Server.Version}}'],
  // Needs the daemon to answer: a docker CLI without a daemon is no engine.
  docker: ['info', '--format', '{{json .SecurityOptions}}'],
};

async function probe(kind: ContainerEngineKind, globalArgs: string[]): Promise<ContainerEngine | string> {
  const path = findExecutable(kind);
  if (!path) return `${kind} is not installed (not on PATH)`;
  const candidate = new ContainerEngine(kind, path, globalArgs, false);
  const result = await candidate.exec(PROBES[kind], { timeoutMs: 15_000 });
  if (result.code !== 0) return `${kind} does not work here: ${engineErrorLine(result.stderr)}`;
  const rootless = kind === 'podman' ? process.getuid?.() !== 0 : result.stdout.includes('rootless');
  return new ContainerEngine(kind, path, globalArgs, rootless);
}

const found = new Map<string, Promise<ContainerEngine | string>>();

/**
 * The engine the agent uses: the one named, or for `auto` podman and then docker. Null for `none`
 * and for `auto` when neither works; a named engine that does not work is an error that says why.
 * Probes are remembered per process: every agent of a `tandem up` asks the same question.
 */
export async function findContainerEngine(choice: ContainerEngineChoice, globalArgs: string[] = []): Promise<ContainerEngine | null> {
  if (choice === 'none') return null;
  if (!CONTAINER_ENGINE_CHOICES.includes(choice))
    throw new Error(`containerEngine: unknown engine '${String(choice)}' (expected ${CONTAINER_ENGINE_CHOICES.join(', ')})`);
  const kinds: ContainerEngineKind[] = choice === 'auto' ? ['podman', 'docker'] : [choice];
  const problems: string[] = [];
  for (const kind of kinds) {
    const key = JSON.stringify([kind, globalArgs]);
    if (!found.has(key)) found.set(key, probe(kind, globalArgs));
    const result = await found.get(key)!;
    if (typeof result !== 'string') return result;
    problems.push(result);
  }
  if (choice === 'auto') return null;
  throw new Error(`containerEngine ${choice}: ${problems.join('; ')}`);
}
