// The `container` target: the release's pinned image run by podman on each host, the agent's own
// or over ssh. Every operation that changes a host runs as the host script's `run` operation, so it
// holds the same lock and checks the same fence file as the file targets. Containers carry labels
// (tandem.target, tandem.release, tandem.position, tandem.image, tandem.environment): they are the
// record of what a host has and runs. Behaviour: docs/pipeline-reference.md#container-target.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fitLimits, LIMITS_SHELL, limitsFromShell } from '../../container-limits.js';
import { substituteVariables } from '../variables.js';
import {
  checkLink,
  checkNumber,
  checkRelease,
  declarations,
  exportBlock,
  findHost,
  readLink,
  runHostOp,
  shellQuote,
  type HostTransport,
} from './host-ops.js';
import {
  TargetError,
  type ContainerHostSpec,
  type ContainerTarget,
  type ContainerTargetSpec,
  type ReleaseInput,
  type TargetHost,
  type TargetLog,
} from './types.js';

/** A host as the target drives it: how to reach it and what it is called there. */
export interface ContainerHost {
  transport: HostTransport;
  spec: ContainerHostSpec;
}

const LABEL = {
  target: 'tandem.target',
  release: 'tandem.release',
  position: 'tandem.position',
  image: 'tandem.image',
  environment: 'tandem.environment',
  /** On a network holder (not a release's container): the name prefix it holds the network for. */
  networkFor: 'tandem.network-for',
} as const;
/**
 * `run_args` that belong to a network namespace: they go to the network holder, as podman refuses
 * them on a container that joins another's network. The value says whether the flag takes one.
 */
const NETWORK_FLAGS = new Map<string, boolean>([
  ['--network', true],
  ['--net', true],
  ['--publish', true],
  ['-p', true],
  ['--publish-all', false],
  ['-P', false],
  ['--dns', true],
  ['--dns-option', true],
  ['--dns-search', true],
  ['--add-host', true],
  ['--ip', true],
  ['--ip6', true],
  ['--mac-address', true],
  ['--network-alias', true],
]);
/** The lines of stdout kept from a query. */
const MAX_OUTPUT = 1024 * 1024;

function q(value: string | number): string {
  return shellQuote(String(value));
}

/** `text` with release and host variables expanded; a variable that is not set is an error. */
function expand(text: string, vars: Record<string, string>, where: string): string {
  const { text: out, missing } = substituteVariables(text, vars);
  if (missing.length > 0)
    throw new Error(`${where}: ${missing.map((n) => `$${n}`).join(', ')} not set (release, slot and host variables can be used)`);
  return out;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3).replace(/\.?0+$/, '')}`;
}

/** `runArgs` split into the network holder's flags and the release container's own. */
export function splitNetworkArgs(runArgs: readonly string[]): { network: string[]; own: string[] } {
  const network: string[] = [];
  const own: string[] = [];
  for (let i = 0; i < runArgs.length; i++) {
    const arg = runArgs[i];
    const flag = arg.startsWith('--') && arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg;
    const takesValue = NETWORK_FLAGS.get(flag);
    if (takesValue === undefined) own.push(arg);
    else if (takesValue && flag === arg && i + 1 < runArgs.length) network.push(arg, runArgs[++i]);
    else network.push(arg);
  }
  return { network, own };
}

export class ContainerDeployTarget implements ContainerTarget {
  readonly kind = 'container' as const;
  readonly hosts: readonly HostTransport[];
  private readonly limits = new Map<HostTransport, Promise<string[]>>();
  /** Releases uploaded through this target, per host: new there, so activate creates their container. */
  private readonly staged = new Set<string>();
  /** `run_args` split once: the network holder's flags and the release containers' own. */
  private readonly runArgs: { network: string[]; own: string[] };

  constructor(
    private readonly spec: ContainerTargetSpec,
    private readonly entries: readonly ContainerHost[],
    readonly close: () => Promise<void> = async () => {},
  ) {
    this.hosts = entries.map((e) => e.transport);
    this.runArgs = splitNetworkArgs(spec.runArgs);
  }

  private entry(host: TargetHost): ContainerHost {
    const transport = findHost(this.kind, this.hosts, host);
    return this.entries.find((e) => e.transport === transport)!;
  }

  /** `pm`: podman with the target's engine args, as a shell function every script starts with. */
  private prelude(): string {
    return `set -e\npm() { podman ${this.spec.engineArgs.map(q).join(' ')} "$@"; }\n`;
  }

  private filter(host: ContainerHost, labels: Record<string, string | number>): string {
    const all = { [LABEL.target]: host.spec.container, ...labels };
    return Object.entries(all)
      .map(([k, v]) => `--filter ${q(`label=${k}=${v}`)}`)
      .join(' ');
  }

  /** Runs `script` on the host under its lock after the fence check (the host script's `run`). */
  private async fenced(
    host: ContainerHost,
    token: number,
    label: string,
    script: string,
    log?: TargetLog,
    env: Record<string, string> = {},
    record: (string | number)[] = [],
  ): Promise<string[]> {
    const input = declarations({
      env: exportBlock({ ...env, TANDEM_CONTAINER_SCRIPT: this.prelude() + script }),
      label,
      cmd: 'eval "$TANDEM_CONTAINER_SCRIPT"',
      cwd: host.transport.dir,
    });
    return runHostOp(host.transport, 'run', [token, ...record], input, log);
  }

  /** Runs a read-only command on the host; resolves to its stdout. */
  private async query(host: ContainerHost, script: string): Promise<string> {
    const { transport } = host;
    const { command, args } = await transport.launch(['sh', '-c', this.prelude() + script]);
    const child = spawn(command, args, { env: transport.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout = (stdout + chunk).slice(-MAX_OUTPUT)));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-MAX_OUTPUT)));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', (err) => reject(new TargetError(transport.name, `${transport.name}: cannot start ${command}: ${err.message}`)));
      child.once('close', resolve);
    });
    if (code !== 0) {
      const lines = stderr.trim().split('\n');
      const reason = transport.explain(code, lines) ?? `podman failed with exit code ${code}: ${lines.slice(-3).join(' / ')}`;
      throw new TargetError(transport.name, `${transport.name}: ${reason}`);
    }
    return stdout;
  }

  /** `--ulimit` flags fitted to the host's hard limits (container-limits.ts), read once per host. */
  private ulimits(host: ContainerHost): Promise<string[]> {
    let fitted = this.limits.get(host.transport);
    if (!fitted) {
      fitted = this.query(host, `${LIMITS_SHELL}; id -u`).then((out) => {
        // Rootless podman fits its defaults to the user's limits itself.
        if (out.trim().split('\n').pop() !== '0') return [];
        return fitLimits(limitsFromShell(out), this.spec.runArgs).args;
      });
      fitted.catch(() => this.limits.delete(host.transport));
      this.limits.set(host.transport, fitted);
    }
    return fitted;
  }

  /** The host's copy of the image per `pull`; `pm image exists` first, so a rollback works with the registry down. */
  private pullScript(image: string): string {
    switch (this.spec.pull) {
      case 'always':
        return `pm pull --quiet ${q(image)} >/dev/null\n`;
      case 'if-not-present':
        return `pm image exists ${q(image)} || { echo "pulling ${image}"; pm pull --quiet ${q(image)} >/dev/null; }\n`;
      case 'never':
        return `pm image exists ${q(image)} || { echo "image ${image} is not on this host and pull is never" >&2; exit 1; }\n`;
    }
  }

  /** Stages the image on the host (per `pull`); the container is created on activation. */
  async upload(host: TargetHost, release: ReleaseInput, log: TargetLog): Promise<void> {
    checkRelease(release);
    const entry = this.entry(host);
    if (!release.image) throw new TargetError(entry.spec.name, `release ${release.id} has no image: a container target needs deploy.image`);
    await this.fenced(entry, release.fencingToken, `image ${release.image}`, this.pullScript(release.image), log);
    this.staged.add(`${entry.spec.name}\0${release.id}`);
  }

  private containerName(host: ContainerHost, releaseId: number, link: string): string {
    return link === 'current' ? `${host.spec.container}-${releaseId}` : `${host.spec.container}-${link}-${releaseId}`;
  }

  /** The variables `ports`, `env` and `volumes` expand on this host. */
  private variables(host: ContainerHost, release: ReleaseInput): Record<string, string> {
    return { ...release.env, TANDEM_HOST: host.spec.name, TANDEM_HOST_ADDRESS: host.spec.address, TANDEM_DEPLOY_DIR: host.spec.dir };
  }

  /**
   * The network holder of `link` on the host: a container of catatonit alone (no image: an empty
   * root in the state dir) that owns the network namespace and the published ports, which the
   * release containers at `link` join. A release stopped and another started leave the network up:
   * without it podman tears the bridge and its firewall rules down and sets them up again, which was
   * half of a rollback's time. Named by its flags, so changed ports make a new holder.
   */
  private networkHolder(host: ContainerHost, release: ReleaseInput, link: string, limits: string[]): { name: string; create: string } {
    const vars = this.variables(host, release);
    const flags = [
      ...this.runArgs.network,
      ...this.spec.ports.flatMap((p, i) => ['--publish', expand(p, vars, `deploy.target.container.ports[${i}]`)]),
    ];
    const hash = createHash('sha256').update(flags.join('\0')).digest('hex').slice(0, 8);
    const name = `${link === 'current' ? host.spec.container : `${host.spec.container}-${link}`}-net-${hash}`;
    const labels = { [LABEL.networkFor]: host.spec.container, [LABEL.position]: link };
    const args = [
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      ...limits,
      ...flags,
      '--init',
      '--entrypoint',
      '/run/podman-init',
    ];
    const create = [
      `mkdir -p .tandem/network-root`,
      `pm container exists ${q(name)} || pm create --name ${q(name)} ${args.map(q).join(' ')} --rootfs "$PWD/.tandem/network-root" -P >/dev/null`,
    ].join('\n');
    return { name, create };
  }

  /** `podman create` flags of the release on this host; release, slot and host variables expanded. */
  private createArgs(
    host: ContainerHost,
    release: ReleaseInput,
    link: string,
    limits: string[],
    network: string,
  ): { args: string[]; env: string } {
    const vars = this.variables(host, release);
    const at = 'deploy.target.container';
    const labels = {
      [LABEL.target]: host.spec.container,
      [LABEL.release]: String(release.id),
      [LABEL.position]: link,
      [LABEL.image]: release.image ?? '',
      [LABEL.environment]: release.env.TANDEM_ENVIRONMENT ?? '',
    };
    const args = [
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      ...limits,
      ...this.runArgs.own,
      '--network',
      `container:${network}`,
      ...this.spec.volumes.flatMap((v, i) => ['--volume', expand(v, vars, `${at}.volumes[${i}]`)]),
    ];
    const health = this.spec.health;
    if (health) {
      // Tandem runs the check itself (no systemd timer): while activating, and never after.
      args.push('--health-cmd', health.cmd, '--health-interval', 'disable', '--health-timeout', `${seconds(health.timeoutMs)}s`);
    }
    const env = Object.entries(this.spec.env).map(([k, v]) => {
      const value = expand(v, vars, `${at}.env.${k}`);
      if (/[\r\n]/.test(value)) throw new Error(`${at}.env.${k}: expands to more than one line`);
      return `${k}=${value}`;
    });
    return { args, env: env.join('\n') };
  }

  /**
   * Starts the release's container at `link`: created from the image when it is not there yet, and
   * then the one serving there stopped ('current': kept for a rollback; a slot: removed, the slot
   * holds one release). A container created now must pass its health check before this resolves;
   * one that passed it before (a rollback) serves again without waiting for it. A release not
   * uploaded first (a rollback) most likely has its container: it is started at once after the
   * stop, and created only when that fails because it is missing, which keeps a rollback to one
   * `podman stop` and one `podman start` while the ports stay the same.
   */
  async activate(host: TargetHost, release: ReleaseInput, log: TargetLog, link = 'current'): Promise<void> {
    checkRelease(release);
    checkLink(link);
    const entry = this.entry(host);
    const name = this.containerName(entry, release.id, link);
    const position = this.filter(entry, { [LABEL.position]: link });
    // At 'current' the old container keeps serving until the new one is created; a slot is idle,
    // so its old container goes first (whatever this release's, which is started again).
    const stop = `pm stop --time ${this.spec.stopTimeoutS} ${position} >/dev/null`;
    const clearSlot = `pm ps --all ${position} --format '{{.Names}}' | while read -r tt_name; do [ "$tt_name" = ${q(name)} ] || pm rm --force --time 0 "$tt_name" >/dev/null; done`;
    const limits = await this.ulimits(entry);
    const holder = this.networkHolder(entry, release, link, limits);
    // The holder last started at this link, recorded so that the usual activation (same ports)
    // asks podman nothing more; another holder still running there holds the ports this one needs.
    const record = `.tandem/network-${link}`;
    const holders = `--filter ${q(`label=${LABEL.networkFor}=${entry.spec.container}`)} --filter ${q(`label=${LABEL.position}=${link}`)} --filter status=running`;
    const stopHolders = (except: string) =>
      `pm ps ${holders} --format '{{.Names}}' | while read -r tt_name; do [ "$tt_name" = ${q(except)} ] || pm stop --time 0 "$tt_name" >/dev/null; done`;
    const freePorts = `[ "$(cat ${record} 2>/dev/null)" = ${q(holder.name)} ] || ${stopHolders(holder.name)}`;
    // Unknown after the fallback below started a holder of other flags: the next activation asks.
    const remember = `if [ -n "$tt_known" ]; then printf '%s\\n' ${q(holder.name)} >${record}; else rm -f ${record}; fi`;
    let create = `echo "release ${release.id} has no image to create ${name} from: a container target needs deploy.image" >&2; exit 1`;
    let env: Record<string, string> = {};
    if (release.image) {
      const { args, env: lines } = this.createArgs(entry, release, link, limits, holder.name);
      env = { TANDEM_CONTAINER_ENV: lines };
      const command = [...args, release.image, ...(this.spec.command ?? [])].map(q).join(' ');
      create = [
        this.pullScript(release.image),
        holder.create,
        // The env file holds secrets: 0600, and gone once podman read it.
        `umask 077; tt_envfile=".tandem/env-$$"; printf '%s\\n' "$TANDEM_CONTAINER_ENV" >"$tt_envfile"`,
        `pm create --name ${q(name)} --env-file "$tt_envfile" ${command} >/dev/null || { rm -f "$tt_envfile"; exit 1; }`,
        `rm -f "$tt_envfile"; tt_fresh=1; echo "created ${name} from ${release.image}"`,
      ].join('\n');
    }
    const health = this.spec.health;
    const gate = health
      ? [
          'tt_try=0',
          `until pm healthcheck run ${q(name)} >/dev/null 2>&1; do`,
          '  tt_try=$((tt_try + 1))',
          `  if [ "$tt_try" -ge ${health.retries} ]; then`,
          `    echo "${name}: health check failed ${health.retries} times; its last log lines:"; pm logs --tail 20 ${q(name)} 2>&1 || true`,
          `    echo "${name} is unhealthy" >&2; exit 1`,
          '  fi',
          `  sleep ${seconds(health.intervalMs)}`,
          'done',
          `echo "${name} is healthy"`,
        ].join('\n')
      : '';
    // Blue-green's traffic record would outlive a switch to rolling.
    const stopOld = link === 'current' ? `rm -f current\n${stop}` : clearSlot;
    // Starting the container starts its holder too.
    const start = `pm start ${q(name)} >/dev/null`;
    const steps = this.staged.has(`${entry.spec.name}\0${release.id}`)
      ? [`if pm container exists ${q(name)}; then echo "${name} is already here"; else\n${create}\nfi`, stopOld, freePorts, start]
      : [
          stopOld,
          `if ! ${start} 2>.tandem/start-error; then`,
          `  if pm container exists ${q(name)}; then`,
          // Made with other ports than the running holder's, which still holds them.
          `    ${stopHolders('')}; tt_known=`,
          `    ${start} || { cat .tandem/start-error >&2; exit 1; }`,
          '  else',
          `    ${freePorts}`,
          `    ${create.replaceAll('\n', '\n    ')}\n    ${start}`,
          '  fi',
          'fi',
        ];
    const script = [
      'tt_fresh=; tt_known=1',
      ...steps,
      remember,
      `echo "started ${name} (release ${release.id})"`,
      health ? `if [ -n "$tt_fresh" ]; then\n${gate}\nfi` : '',
    ].join('\n');
    await this.fenced(entry, release.fencingToken, `release ${release.id} at ${link}`, script, log, env);
  }

  async relink(host: TargetHost, release: ReleaseInput, link: string, log: TargetLog): Promise<void> {
    checkRelease(release);
    checkLink(link);
    await this.fenced(this.entry(host), release.fencingToken, `traffic on release ${release.id}`, ':', log, {}, [link, release.id]);
  }

  /**
   * 'current': the release traffic was last switched to (blue-green), else the release of the
   * running container at 'current'; a slot: the release of the container in it.
   */
  async current(host: TargetHost, link = 'current'): Promise<number | null> {
    checkLink(link);
    const entry = this.entry(host);
    if (link === 'current') {
      const switched = await readLink(entry.transport, link);
      if (switched !== null) return switched;
    }
    const running = link === 'current' ? ` --filter status=running` : '';
    const out = await this.query(
      entry,
      `pm ps --all ${this.filter(entry, { [LABEL.position]: link })}${running} --format '{{index .Labels "${LABEL.release}"}}'`,
    );
    const id = out.split('\n').find((line) => /^\d+$/.test(line.trim()));
    return id === undefined ? null : Number(id);
  }

  /** Whether a container of the release is on the host. */
  async has(host: TargetHost, releaseId: number): Promise<boolean> {
    checkNumber('release id', releaseId);
    const entry = this.entry(host);
    return (await this.query(entry, `pm ps --all --quiet ${this.filter(entry, { [LABEL.release]: releaseId })}`)).trim() !== '';
  }

  /**
   * Removes stopped containers at 'current' beyond the `keep` that ran last (the release before
   * this one first, whatever its id), and their images when no container uses them any more.
   */
  async prune(host: TargetHost, keep: number, fencingToken: number, log?: TargetLog): Promise<number[]> {
    checkNumber('keep', keep);
    checkNumber('fencing token', fencingToken);
    const entry = this.entry(host);
    const stopped = `${this.filter(entry, { [LABEL.position]: 'current' })} --filter status=exited --filter status=created`;
    const script = [
      `pm ps --all ${stopped} --format '{{.ExitedAt}} {{index .Labels "${LABEL.release}"}} {{.Names}} {{.Image}}' | sort -rn | tail -n +${keep + 1} |`,
      'while read -r tt_at tt_id tt_name tt_image; do',
      '  pm rm --force "$tt_name" >/dev/null',
      '  pm rmi "$tt_image" >/dev/null 2>&1 || true',
      '  echo "tandem-result: $tt_id"',
      'done',
      // A network holder no kept container joins any more (podman refuses to remove one that is joined).
      `pm ps --all --filter ${q(`label=${LABEL.networkFor}=${entry.spec.container}`)} --filter status=exited --filter status=created --format '{{.Names}}' |`,
      'while read -r tt_name; do pm rm "$tt_name" >/dev/null 2>&1 || true; done',
    ].join('\n');
    const removed = await this.fenced(entry, fencingToken, `prune keeping ${keep}`, script, log);
    return removed.map(Number);
  }
}
