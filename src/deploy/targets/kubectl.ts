import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { TargetError, type KubernetesTargetSpec, type TargetLog } from './types.js';

const TAIL_LINES = 20;
/** A kubectl call other than a rollout wait never takes longer than this. */
const CALL_TIMEOUT_MS = 60_000;

export interface KubectlOptions {
  /** kubectl's stdin (manifests for apply, an object for create/replace). */
  input?: string;
  /** Each line of stdout (unless `capture`) and stderr, prefixed with the host's name. */
  log?: TargetLog;
  /** Return stdout instead of logging it. */
  capture?: boolean;
  timeoutMs?: number;
}

/** A failed kubectl (or helm) call; `reason` is the API's (AlreadyExists, Conflict, NotFound...) when it gave one. */
export class KubectlError extends TargetError {
  constructor(
    host: string,
    message: string,
    readonly reason: string | null,
  ) {
    super(host, message);
    this.name = 'KubectlError';
  }
}

/**
 * kubectl for one target: every call with the target's kubeconfig, context and namespace, and a
 * discovery cache in the target's work dir. Without a kubeconfig in the spec the job's KUBECONFIG
 * is required: the agent user's ~/.kube/config is never used, so a job cannot deploy with the
 * agent host's own credentials by leaving the key out.
 */
export class Kubectl {
  private readonly globals: string[];
  private readonly helmEnv: NodeJS.ProcessEnv;

  constructor(
    readonly host: string,
    spec: KubernetesTargetSpec,
    workDir: string,
    private readonly env: NodeJS.ProcessEnv,
    cwd: string,
  ) {
    // helm's own config, cache and data (repositories, registry logins) stay the target's, not the agent user's.
    const helmHome = join(workDir, 'helm');
    this.helmEnv = {
      ...env,
      HELM_CACHE_HOME: join(helmHome, 'cache'),
      HELM_CONFIG_HOME: join(helmHome, 'config'),
      HELM_DATA_HOME: join(helmHome, 'data'),
    };
    const kubeconfig = spec.kubeconfig ?? env.KUBECONFIG;
    this.globals = ['--namespace', spec.namespace, '--cache-dir', join(workDir, 'kubectl-cache')];
    if (kubeconfig) this.globals.push('--kubeconfig', resolve(cwd, kubeconfig));
    if (spec.context !== undefined) this.globals.push('--context', spec.context);
  }

  private configured(): void {
    if (!this.globals.includes('--kubeconfig')) {
      throw new TargetError(
        this.host,
        `${this.host}: no kubeconfig: set deploy.target.kubernetes.kubeconfig to a file variable ($KUBECONFIG_<ENV>) or give the job a KUBECONFIG file variable`,
      );
    }
  }

  /** Runs `helm <args>` without a cluster (`helm template`): stdout, as `capture` gives it. */
  async helm(args: readonly string[], opts: KubectlOptions = {}): Promise<string> {
    return runKubeTool(this.host, 'helm', [], args, this.helmEnv, opts);
  }

  /** Runs `kubectl <args>`; resolves to its stdout when `capture`, else ''. */
  async run(args: readonly string[], opts: KubectlOptions = {}): Promise<string> {
    this.configured();
    return runKubeTool(this.host, 'kubectl', this.globals, args, this.env, opts);
  }
}

/**
 * Runs `command <globals> <args>` (kubectl, helm) for the target's host: stdout logged or captured,
 * stderr logged and its tail in the error, killed after the timeout. Errors name `command <args>`.
 */
async function runKubeTool(
  host: string,
  command: string,
  globals: readonly string[],
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  opts: KubectlOptions = {},
): Promise<string> {
  const prefix = `[${host}] `;
  const child = spawn(command, [...globals, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: string[] = [];
  const tail: string[] = [];
  child.stdout.setEncoding('utf8');
  if (opts.capture) child.stdout.on('data', (chunk: string) => out.push(chunk));
  else createInterface({ input: child.stdout }).on('line', (line) => opts.log?.(prefix + line));
  createInterface({ input: child.stderr }).on('line', (line) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    opts.log?.(prefix + line);
  });
  child.stdin.on('error', () => {});
  child.stdin.end(opts.input ?? '');
  const timeoutMs = opts.timeoutMs ?? CALL_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const code = await new Promise<number | null>((done, reject) => {
    child.once('error', (err) =>
      reject(new TargetError(host, `${host}: cannot start ${command} (is it installed on the agent?): ${err.message}`)),
    );
    child.once('close', done);
  }).finally(() => clearTimeout(timer));
  if (code === 0) return out.join('');
  const what = `${command} ${args.slice(0, 2).join(' ')}`;
  const detail = tail.join('\n').trim();
  if (timedOut) throw new KubectlError(host, `${host}: ${what} did not finish within ${timeoutMs / 1000} s`, null);
  const reason = detail.match(/Error from server \((\w+)\)/)?.[1] ?? null;
  throw new KubectlError(host, `${host}: ${what} failed with exit code ${code}${detail ? `: ${detail}` : ''}`, reason);
}
