import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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
 * Emptied cgroups kept for the next jobs of this process: making and removing one takes the
 * kernel's cgroup lock, a per-job cost that grows with everything else on the host making cgroups.
 * One is reused only within half the stale age of its last use (its mtime, renewed then), so
 * another agent's sweep never removes one this process is about to use.
 */
const pool: { cgroup: JobCgroup; releasedAt: number }[] = [];
const POOL_MAX = 16;
let poolDrainedOnExit = false;

/** Renews a cgroup's mtime, which tells other agents' sweeps it is in use; false when it is gone. */
function touch(dir: string): boolean {
  try {
    const now = new Date();
    utimesSync(dir, now, now);
    return true;
  } catch {
    return false;
  }
}

function removeNow(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // gone already, or a member still exiting: a later sweep removes it
  }
}

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

  /** An empty cgroup, or undefined where cgroup v2 is missing or not writable (the caller then walks /proc). */
  static create(): JobCgroup | undefined {
    for (let kept = pool.pop(); kept; kept = pool.pop()) {
      if (Date.now() - kept.releasedAt < STALE_MS / 2 && touch(kept.cgroup.dir)) return kept.cgroup;
      removeNow(kept.cgroup.dir);
    }
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

  /** Written by the wrapper once the job's first process is inside (see wrap). */
  private proof: string | undefined;

  /**
   * The command that first moves itself into this cgroup, then creates `proofFile`, then becomes
   * `command`: the job's first process is inside before it can start anything. When the move fails
   * the job still runs, without the proof, and the /proc walk remains the only way to find what it
   * started.
   */
  wrap(command: string, args: string[], proofFile: string): { command: string; args: string[] } {
    this.proof = proofFile;
    const script = 'echo 0 > "$0" 2>/dev/null && : > "$1"; shift; exec "$@"';
    return { command: '/bin/sh', args: ['-c', script, join(this.dir, 'cgroup.procs'), proofFile, command, ...args] };
  }

  /**
   * Whether the job's first process moved itself in. Until then an empty cgroup proves nothing
   * about what the job left running.
   */
  entered(): boolean {
    return this.proof !== undefined && existsSync(this.proof);
  }

  /** The PIDs now in the cgroup (empty once it is gone). */
  members(): number[] {
    try {
      return readFileSync(join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
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

  /** Done with it: kept for the next job when empty (see pool), else removed once its members are gone. */
  async release(): Promise<void> {
    this.proof = undefined;
    if (pool.length < POOL_MAX && this.members().length === 0 && touch(this.dir)) {
      pool.push({ cgroup: this, releasedAt: Date.now() });
      if (!poolDrainedOnExit) {
        poolDrainedOnExit = true;
        process.once('exit', () => pool.splice(0).forEach((kept) => removeNow(kept.cgroup.dir)));
      }
      return;
    }
    await this.remove();
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
