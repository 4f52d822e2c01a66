import {
  checkLink,
  checkNumber,
  checkRelease,
  declarations,
  exportBlock,
  findHost,
  localTransport,
  readLink,
  runHostOp,
  type HostTransport,
} from './host-ops.js';
import type { ReleaseInput, ScriptTarget, ScriptTargetSpec, TargetHost, TargetLog } from './types.js';

/**
 * The user's own commands (helm, kubectl, ansible, terraform) deploy the release. They run on the
 * agent through the same host script as the other targets, with its state dir being the target's
 * work dir: each command runs under the lock after the fence check, and `current` is recorded
 * there as a link to releases/<id> (which holds no files: the user's tools keep the release).
 */
export class ScriptDeployTarget implements ScriptTarget {
  readonly kind = 'script' as const;
  readonly hosts: readonly HostTransport[];
  private readonly host: HostTransport;

  constructor(
    private readonly spec: ScriptTargetSpec,
    workDir: string,
    env: NodeJS.ProcessEnv,
  ) {
    this.host = localTransport('script', workDir, env);
    this.hosts = [this.host];
  }

  private checkHost(host: TargetHost): void {
    findHost(this.kind, this.hosts, host);
  }

  private async run(label: string, command: string, release: ReleaseInput, log: TargetLog, link?: string): Promise<void> {
    const input = declarations({ env: exportBlock(release.env), label, cmd: command, cwd: release.sourceDir });
    const record = link === undefined ? [] : [link, release.id];
    await runHostOp(this.host, 'run', [release.fencingToken, ...record], input, log);
  }

  /** Nothing to stage; the fence is still checked, so an outdated job stops at its first step. */
  async upload(host: TargetHost, release: ReleaseInput, log: TargetLog): Promise<void> {
    this.checkHost(host);
    checkRelease(release);
    await runHostOp(this.host, 'fence', [release.fencingToken], null, log);
  }

  async activate(host: TargetHost, release: ReleaseInput, log: TargetLog, link = 'current'): Promise<void> {
    this.checkHost(host);
    checkRelease(release);
    checkLink(link);
    await this.run('deploy', this.spec.deploy, release, log, link);
  }

  async runScript(kind: 'verify' | 'rollback', release: ReleaseInput, log: TargetLog): Promise<boolean> {
    checkRelease(release);
    const command = this.spec[kind];
    if (command === undefined) return false;
    await this.run(kind, command, release, log, kind === 'rollback' ? 'current' : undefined);
    return true;
  }

  current(host: TargetHost, link = 'current'): Promise<number | null> {
    this.checkHost(host);
    return readLink(this.host, link);
  }

  /** The target keeps no files: a rollback runs `rollback`, or `deploy` with the old release's files. */
  async has(host: TargetHost): Promise<boolean> {
    this.checkHost(host);
    return false;
  }

  async close(): Promise<void> {}

  async prune(host: TargetHost, _keep: number, fencingToken: number, log?: TargetLog): Promise<number[]> {
    this.checkHost(host);
    checkNumber('fencing token', fencingToken);
    await runHostOp(this.host, 'fence', [fencingToken], null, log);
    return [];
  }
}
