// Resource limits for containers that a host can actually grant. Rootful podman gives every
// container RLIMIT_NOFILE and RLIMIT_NPROC of 1048576; runc can set a limit above its own hard
// limit only with CAP_SYS_RESOURCE, which an agent in a container (or under a tight limits.conf)
// lacks, and the container then fails to start with `error setting rlimit type 7` (nofile) or
// `type 6` (nproc). Shared by the container executor and the container deploy target, which runs
// `podman` on other hosts: there the same numbers are read through the host's shell.

/** What podman gives a rootful container when no --ulimit is set. */
export const ENGINE_DEFAULT_LIMIT = 1_048_576;

export interface HostLimits {
  /** Hard limits of the process that starts the engine (Infinity: unlimited). */
  nofile: number;
  nproc: number;
  /** kernel.pid_max: podman lowers its own nproc limit to it, so runc inherits no more. */
  pidMax: number;
  /** The engine's process may raise limits above its hard limits. */
  canRaise: boolean;
}

const SECTION = '--- tandem ---';

/** A shell command printing what `limitsFromShell` reads: the same /proc files, from another host. */
export const LIMITS_SHELL = `cat /proc/self/limits; echo '${SECTION}'; cat /proc/sys/kernel/pid_max; echo '${SECTION}'; cat /proc/self/status`;

function limit(value: string | undefined): number {
  const text = value?.trim() ?? '';
  if (text === '' || text === 'unlimited') return Infinity;
  const n = Number(text);
  return Number.isFinite(n) && n >= 0 ? n : Infinity;
}

const CAP_SYS_RESOURCE = 24n;

function hasSysResource(capEff: string | undefined): boolean {
  const text = capEff?.trim() ?? '';
  if (!/^[0-9a-fA-F]+$/.test(text)) return true;
  return ((BigInt(`0x${text}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
}

/** The limits from LIMITS_SHELL's output. */
export function limitsFromShell(output: string): HostLimits {
  const [limits = '', pidMax = '', status = ''] = output.split(`${SECTION}\n`);
  return limitsFromProc(limits, pidMax, status);
}

/** The limits from /proc/self/limits, /proc/sys/kernel/pid_max and /proc/self/status; null where there is no /proc. */
export function limitsFromProc(procLimits: string, pidMax: string, status: string): HostLimits {
  const hard = (name: string) => limit(procLimits.match(new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm'))?.[1]);
  return {
    nofile: hard('Max open files'),
    nproc: hard('Max processes'),
    pidMax: limit(pidMax),
    canRaise: hasSysResource(status.match(/^CapEff:\s*(\S+)/m)?.[1]),
  };
}

export interface FittedLimits {
  /** `--ulimit` flags to add to `podman run` (none when the defaults fit or the user set both). */
  args: string[];
  /** One line for the log saying what was fitted and why; null when nothing was. */
  note: string | null;
}

/** Whether `runArgs` already sets this limit (`--ulimit nofile=...` or `--ulimit=nofile=...`). */
function userSets(runArgs: readonly string[], name: string): boolean {
  return runArgs.some((arg, i) => {
    const value = arg.startsWith('--ulimit=') ? arg.slice('--ulimit='.length) : arg === '--ulimit' ? runArgs[i + 1] : undefined;
    return value?.startsWith(`${name}=`) === true;
  });
}

/**
 * `--ulimit` flags for the limits whose engine default the host cannot grant, each set to what it
 * can (soft = hard); a limit the user's own `runArgs` sets is left alone.
 */
export function fitLimits(host: HostLimits, runArgs: readonly string[] = []): FittedLimits {
  if (host.canRaise) return { args: [], note: null };
  const caps = { nofile: host.nofile, nproc: Math.min(host.nproc, host.pidMax) };
  const args: string[] = [];
  const fitted: string[] = [];
  for (const [name, cap] of Object.entries(caps)) {
    if (cap >= ENGINE_DEFAULT_LIMIT || userSets(runArgs, name)) continue;
    args.push('--ulimit', `${name}=${cap}:${cap}`);
    fitted.push(`${name}=${cap}`);
  }
  if (fitted.length === 0) return { args, note: null };
  return {
    args,
    note: `containers run with --ulimit ${fitted.join(', ')}: podman's default of ${ENGINE_DEFAULT_LIMIT} is above this host's hard limit, which runc cannot raise (it would fail with "error setting rlimit")`,
  };
}
