// The deployment of one release to an environment, shared by the strategies: hosts, phases, fenced
// target calls, verification and the rollback to the previous release. Behaviour:
// docs/pipeline-reference.md#how-a-deployment-runs.
import { StaleFencingTokenError, type DeployTarget, type ReleaseInput, type TargetHost } from './targets/index.js';
import { formatMs } from './verify/probes.js';
import { verifyRelease, type VerifyResult } from './verify/index.js';
import { instantiateChecks, type CheckHost } from './checks.js';
import type { DeploySpec } from './spec.js';

export type Phase = 'deploying' | 'verifying' | 'rolling_back';

/** The release that was live before this deployment. */
export interface PreviousRelease {
  id: number;
  /** Its image pinned by digest, or null. */
  image: string | null;
  env: Record<string, string>;
  /** Its files on the agent; only called when a host no longer has them, or for a script target. */
  files(): Promise<string>;
}

export interface DeploymentInput {
  spec: DeploySpec;
  /**
   * deploy: roll `release` out with the strategy, verify it, roll back on failure. rollback: make
   * `release` (an older one) live on every host at once, without verification or analysis.
   */
  mode: 'deploy' | 'rollback';
  /** The release to make live; its sourceDir holds its files on the agent. */
  release: ReleaseInput;
  /** The last live release, for the automatic rollback; null on an environment's first deployment. */
  previous: PreviousRelease | null;
  /** Per-environment state dir on the agent (the target's temp files, the script target's fence). */
  workDir: string;
  /** Base environment of every command (PATH, ...): service, switch and script commands, command checks. */
  env: NodeJS.ProcessEnv;
  /** The job workspace: cwd of switch commands and command checks. */
  cwd: string;
  log(line: string): void;
  /** Aborting stops at the next step (a host operation in flight finishes); runDeployment then rejects with the reason. */
  signal: AbortSignal;
  /** Reported before each phase; a rejection stops the deployment at once (the server refused the job's token). */
  onPhase(phase: Phase, detail?: string): Promise<void>;
  /**
   * A person decides: a canary without a pause, or a metric check with `no_data: pause`. `signal`
   * aborts when the question is withdrawn (the canary's analysis failed meanwhile).
   */
  awaitDecision(reason: string, signal: AbortSignal): Promise<'promote' | 'abort'>;
  /** A host now runs (or takes traffic for) this release: an activation, a rollback or a switch landed there. */
  onHostRelease?(host: string, releaseId: number): void;
}

/** Times are epoch milliseconds (Date.now()). */
export type DeploymentResult =
  | { status: 'live'; durationMs: number }
  /**
   * The release failed (verification, a host operation, a person's abort) after it was switched in
   * somewhere, and the previous release serves again: `switchedAtMs` when the failed release began
   * serving (its last activation, or the traffic switch), `detectedAtMs` when the failure was seen,
   * `restoredAtMs` when the last host (or the traffic) was back on the previous release.
   */
  | { status: 'rolled_back'; reason: string; switchedAtMs: number; detectedAtMs: number; restoredAtMs: number }
  /**
   * Failed and not rolled back; the reason says why (nothing had been switched yet, rollback: manual,
   * no previous release, the rollback itself failed, a stale fencing token). `switched`: the release
   * may be serving somewhere (false: every host still serves what it served before).
   */
  | { status: 'failed'; reason: string; switched: boolean };

/** Ends the deployment at once with this result. */
export class Halt extends Error {
  constructor(readonly result: DeploymentResult) {
    super(result.status === 'failed' ? result.reason : result.status);
  }
}

export interface Host {
  target: TargetHost;
  name: string;
  /** The deploy dir on the host (local, ssh). */
  dir: string | null;
  address: string;
}

export type Verdict = { ok: true } | { ok: false; reason: string; detectedAt: number };

/** A failure after which hosts may need their previous release back. */
export interface Failure {
  reason: string;
  detectedAt: number;
}

// setTimeout's longest delay: a canary held for a decision keeps its checks running until then.
const FOREVER_MS = 2_147_483_647;

export function failed(reason: string, switched: boolean): DeploymentResult {
  return { status: 'failed', reason, switched };
}

export function names(hosts: readonly Host[]): string {
  return hosts.map((h) => h.name).join(', ');
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs fn over items, at most `limit` at once; after a failure no new item starts, the first error is thrown. */
export async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length && errors.length === 0) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (errors.length > 0) throw errors.find((e) => e instanceof Halt || e instanceof StaleFencingTokenError) ?? errors[0];
}

export class Deployment {
  readonly spec: DeploySpec;
  readonly release: ReleaseInput;
  readonly started = performance.now();
  /** The release may be serving somewhere: a host or the traffic was switched to it and not back. */
  switched = false;
  /** How many hosts one step may work on at once (the ssh target's `parallel`). */
  readonly parallel: number;
  private previousFiles: Promise<string> | undefined;

  constructor(
    readonly input: DeploymentInput,
    readonly target: DeployTarget,
    readonly hosts: readonly Host[],
  ) {
    this.spec = input.spec;
    this.release = input.release;
    this.parallel = 'parallel' in this.spec.target ? this.spec.target.parallel : 1;
  }

  log(line: string): void {
    this.input.log(`deploy: ${line}`);
  }

  serving(host: Host, releaseId: number): void {
    this.input.onHostRelease?.(host.name, releaseId);
  }

  /** Makes `release` the one `host` runs, and reports it as serving there. */
  async activate(host: Host, release: ReleaseInput): Promise<void> {
    await this.target.activate(host.target, release, this.input.log);
    this.serving(host, release.id);
  }

  async phase(phase: Phase, detail: string): Promise<void> {
    try {
      await this.input.onPhase(phase, detail);
    } catch (err) {
      throw new Halt(failed(`reporting the ${phase} phase failed, so the deployment stops here: ${message(err)}`, this.switched));
    }
  }

  /** Errors that end the deployment as they are: cancellation, a stale token, a refused phase report. */
  rethrowFatal(err: unknown): void {
    if (this.input.signal.aborted) throw this.input.signal.reason;
    if (err instanceof Halt || err instanceof StaleFencingTokenError) throw err;
  }

  /** Everything checks and commands see: the job's environment, the release's, then `extra`. */
  vars(extra: Record<string, string> = {}): Record<string, string> {
    return { ...stringEnv(this.input.env), ...this.release.env, ...extra };
  }

  checkHost(host: Host, extra: Record<string, string> = {}): CheckHost {
    const vars: Record<string, string> = { TANDEM_HOST: host.name, TANDEM_HOST_ADDRESS: host.address, ...extra };
    if (host.dir !== null) vars.TANDEM_DEPLOY_DIR = host.dir;
    return { name: host.name, vars };
  }

  /**
   * Verifies the release on `hosts` (the script target's own verify command first, then the checks).
   * `holdForDecision`: the checks keep running until a person decides, or fail first.
   */
  async verify(
    hosts: readonly Host[],
    bakeMs: number,
    label: string,
    opts: { vars?: Record<string, string>; hostVars?: (h: Host) => Record<string, string>; holdForDecision?: boolean } = {},
  ): Promise<Verdict> {
    await this.phase('verifying', label);
    this.log(
      `${label}: verifying ${hosts.length === 1 ? hosts[0].name : `${hosts.length} hosts`}${opts.holdForDecision ? ' until a person decides' : bakeMs > 0 ? `, bake ${formatMs(bakeMs)}` : ''}`,
    );
    const failedNow = (reason: string): Verdict => ({ ok: false, reason: `${label}: ${reason}`, detectedAt: Date.now() });
    if (this.target.kind === 'script') {
      try {
        if (await this.target.runScript('verify', this.release, this.input.log))
          this.log(`${label}: the script target's verify command passed`);
      } catch (err) {
        this.rethrowFatal(err);
        return failedNow(`the script target's verify command failed: ${message(err)}`);
      }
    }
    const vars = this.vars(opts.vars);
    const checks = instantiateChecks(
      this.spec.verify,
      vars,
      hosts.map((h) => this.checkHost(h, opts.hostVars?.(h))),
    );
    for (const check of checks) {
      const expanded =
        check.kind === 'http' ? check.url : check.kind === 'tcp' ? check.host : check.kind === 'prometheus' ? check.query : null;
      if (expanded !== null && !check.name.includes(expanded)) this.log(`${label}: check "${check.name}" runs as ${expanded}`);
    }
    const stop = new AbortController();
    const run = verifyRelease(checks, {
      bakeMs: opts.holdForDecision ? FOREVER_MS : bakeMs,
      signal: AbortSignal.any([this.input.signal, stop.signal]),
      log: this.input.log,
      env: vars,
      cwd: this.input.cwd,
    });
    let result: VerifyResult | 'promote' | 'abort';
    if (opts.holdForDecision) {
      const question = new AbortController();
      const decision = this.decide(`${label}: promote the release to the other hosts, or abort?`, question.signal);
      decision.catch(() => undefined);
      try {
        result = await Promise.race([run, decision]);
        if (result === 'promote' || result === 'abort') {
          stop.abort();
          await run.catch(() => undefined);
        } else if (result.status === 'paused') {
          // Already asked: the answer covers the missing data too.
          result = await decision;
        }
      } finally {
        // The question is withdrawn when the analysis failed first (or the job was cancelled).
        question.abort(new Error('the canary analysis ended before a decision'));
      }
    } else {
      result = await run;
      if (result.status === 'paused')
        result = await this.decide(`${label}: ${result.check}: ${result.reason}: promote or abort?`, this.input.signal);
    }
    if (result === 'promote') return { ok: true };
    if (result === 'abort') return failedNow('aborted by a person');
    if (result.status === 'failed') return failedNow(`${result.check}: ${result.reason}`);
    return { ok: true };
  }

  private async decide(question: string, signal: AbortSignal): Promise<'promote' | 'abort'> {
    this.log(`waiting for a decision: ${question}`);
    let answer: 'promote' | 'abort';
    try {
      answer = await this.input.awaitDecision(question, signal);
    } catch (err) {
      if (this.input.signal.aborted) throw this.input.signal.reason;
      if (signal.aborted) throw err;
      this.log(`no decision (${message(err)}): aborting`);
      return 'abort';
    }
    this.log(`decision: ${answer}`);
    return answer;
  }

  /** The previous release as a target takes it; its files are fetched only when `withFiles`. */
  async previousRelease(withFiles: boolean): Promise<ReleaseInput> {
    const previous = this.input.previous;
    if (!previous) throw new Error('there is no previous release');
    // activate reads no files: they are already on the host.
    let sourceDir = '';
    if (withFiles) {
      this.previousFiles ??= previous.files();
      sourceDir = await this.previousFiles;
    }
    return { id: previous.id, sourceDir, image: previous.image, fencingToken: this.release.fencingToken, env: previous.env };
  }

  /** Puts the previous release back on `hosts`, all at once (within `parallel`); resolves when the last is done. */
  async restore(hosts: readonly Host[]): Promise<number> {
    const previous = this.input.previous;
    if (!previous) throw new Error('there is no previous release');
    const log = this.input.log;
    await eachLimited(hosts, this.parallel, async (host) => {
      const started = performance.now();
      if (this.target.kind === 'script') {
        const release = await this.previousRelease(true);
        if (!(await this.target.runScript('rollback', release, log))) await this.target.activate(host.target, release, log);
      } else {
        // A container target's activate creates the container from the release's image itself.
        if (this.target.kind !== 'container' && !(await this.target.has(host.target, previous.id))) {
          this.log(`[${host.name}] release ${previous.id} is no longer there: uploading it again`);
          await this.target.upload(host.target, await this.previousRelease(true), log);
        }
        await this.target.activate(host.target, await this.previousRelease(false), log);
      }
      this.serving(host, previous.id);
      this.log(`[${host.name}] back on release ${previous.id} in ${formatMs(performance.now() - started)}`);
    });
    return Date.now();
  }

  /** The outcome of a failure after `switched` hosts took the release, per `rollback`. */
  async afterFailure(failure: Failure, switched: readonly Host[], switchedAt: number): Promise<DeploymentResult> {
    const { reason } = failure;
    const release = this.release.id;
    if (switched.length === 0) {
      this.log(`FAILED: ${reason}; no host was switched to release ${release}`);
      return failed(`${reason}; no host was switched to release ${release}`, false);
    }
    if (this.spec.rollback === 'manual') {
      this.log(`FAILED: ${reason}; rollback: manual leaves release ${release} on ${names(switched)}`);
      return failed(`${reason}; rollback: manual leaves release ${release} on ${names(switched)}`, true);
    }
    const previous = this.input.previous;
    if (!previous) {
      this.log(`FAILED: ${reason}; there is no previous release to roll back to`);
      return failed(`${reason}; there is no previous release to roll back to`, true);
    }
    await this.phase('rolling_back', reason);
    this.log(`rolling back ${names(switched)} to release ${previous.id}: ${reason}`);
    let restoredAt: number;
    try {
      restoredAt = await this.restore(switched);
    } catch (err) {
      if (err instanceof Halt || err instanceof StaleFencingTokenError) throw err;
      this.log(`FAILED: the rollback to release ${previous.id} failed: ${message(err)}`);
      return failed(`${reason}; the rollback to release ${previous.id} failed: ${message(err)}`, true);
    }
    this.switched = false;
    this.log(
      `ROLLED BACK: release ${previous.id} serves again on ${names(switched)}, ${formatMs(restoredAt - failure.detectedAt)} after the failure was detected`,
    );
    return { status: 'rolled_back', reason, switchedAtMs: switchedAt, detectedAtMs: failure.detectedAt, restoredAtMs: restoredAt };
  }

  /** Keeps `keep` releases per host after a success; a failure here is only a warning. */
  async prune(): Promise<void> {
    const spec = this.spec.target;
    if (!('keep' in spec)) return;
    await Promise.all(
      this.hosts.map(async (host) => {
        try {
          const removed = await this.target.prune(host.target, spec.keep, this.release.fencingToken, this.input.log);
          if (removed.length > 0) this.log(`[${host.name}] pruned release${removed.length === 1 ? '' : 's'} ${removed.join(', ')}`);
        } catch (err) {
          this.log(`[${host.name}] warning: pruning old releases failed: ${message(err)}`);
        }
      }),
    );
  }

  live(): DeploymentResult {
    const durationMs = Math.round(performance.now() - this.started);
    this.log(`LIVE: release ${this.release.id} on ${names(this.hosts)} in ${formatMs(durationMs)}`);
    return { status: 'live', durationMs };
  }
}
