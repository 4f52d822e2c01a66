import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

let ownDir: { dir: string | undefined } | undefined;
/** The cgroup v2 directory this process lives in, or undefined without a cgroup2 mount (read once: it is asked per job). */
function ownCgroupDir(): string | undefined {
  ownDir ??= { dir: readOwnCgroupDir() };
  return ownDir.dir;
}

function readOwnCgroupDir(): string | undefined {
  let mountinfo: string;
  let membership: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    membership = readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return undefined;
  }
  // mountinfo: "id parent major:minor root mountpoint options ... - fstype source superoptions"
  const mount = mountinfo
    .split('\n')
    .map((line) => line.split(' '))
    .find((fields) => fields[fields.indexOf('-') + 1] === 'cgroup2' && fields[3] === '/');
  // The unified hierarchy's line is "0::/path"; a path that is not ours to see reads as "/..".
  const path = /^0::(\/.*)$/m.exec(membership)?.[1];
  if (!mount || !path || path.includes('..')) return undefined;
  return join(mount[4].replace(/\\040/g, ' '), path);
}

let cgroupsWork: boolean | undefined;
let swept = false;
const PREFIX = 'tandem-job-';
/** Old enough that no agent is between making it and moving its job in. */
const STALE_MS = 60_000;

/**
 * Removes the empty job cgroups an agent killed mid-job left beside this one (once per process).
 * A cgroup still holding processes cannot be removed, so a running job's is never touched.
 */
function sweepStale(parent: string): void {
  if (swept) return;
  swept = true;
  let names: string[];
  try {
    names = readdirSync(parent).filter((name) => name.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    try {
      if (Date.now() - statSync(join(parent, name)).mtimeMs > STALE_MS) rmdirSync(join(parent, name));
    } catch {
      // still populated, or another agent's sweep got there first
    }
  }
}

/**
 * A cgroup v2 for one job script: every process the script starts lands in it and stays there,
 * whatever it does to its session, process group, parent or environment (`setsid env -i`, a double
 * fork), so a kill reaches all of them. Created beside the agent (a child of its own cgroup), which
 * needs write access there: root, or a delegated subtree (systemd `Delegate=yes`).
 */
export class JobCgroup {
  private constructor(readonly dir: string) {}

  /** Whether this process can make job cgroups (checked once, by making one). */
  static available(): boolean {
    if (cgroupsWork === undefined) {
      const probe = JobCgroup.create();
      cgroupsWork = probe !== undefined;
      if (probe) rmdirSync(probe.dir);
    }
    return cgroupsWork;
  }

  /** A fresh cgroup, or undefined where cgroup v2 is missing or not writable (the caller then walks /proc). */
  static create(): JobCgroup | undefined {
    const parent = ownCgroupDir();
    if (!parent) return undefined;
    sweepStale(parent);
    const dir = join(parent, `${PREFIX}${randomUUID()}`);
    try {
      mkdirSync(dir);
    } catch {
      return undefined;
    }
    return new JobCgroup(dir);
  }

  /**
   * The command that first moves itself into this cgroup and then becomes `command`: the job's
   * first process is inside before it can start anything. When the move fails the job still runs,
   * and the /proc walk remains the only way to find what it started.
   */
  wrap(command: string, args: string[]): { command: string; args: string[] } {
    return { command: '/bin/sh', args: ['-c', 'echo 0 > "$0" 2>/dev/null; exec "$@"', join(this.dir, 'cgroup.procs'), command, ...args] };
  }

  /** The PIDs now in the cgroup (empty once it is gone). */
  members(): number[] {
    try {
      return readFileSync(join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /**
   * Whether a process has run inside: the CPU time the cgroup has counted (cpu.stat, kept whatever
   * controllers are enabled). False when the job's first process could not move itself in (see
   * wrap), so an empty cgroup then proves nothing about what the job left running.
   */
  hasRunProcesses(): boolean {
    try {
      return Number(/^usage_usec (\d+)$/m.exec(readFileSync(join(this.dir, 'cpu.stat'), 'utf8'))?.[1] ?? 0) > 0;
    } catch {
      return false;
    }
  }

  /** SIGKILL to every member at once (cgroup.kill, Linux 5.14+), else to each PID listed. */
  killAll(): void {
    try {
      writeFileSync(join(this.dir, 'cgroup.kill'), '1');
      return;
    } catch {
      // An older kernel: signal the members one by one.
    }
    for (const pid of this.members()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Removes the cgroup once its members are gone (after killAll they go within milliseconds). */
  async remove(): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        rmdirSync(this.dir);
        return;
      } catch {
        // EBUSY while a killed member is still exiting
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
