import { readdirSync, readFileSync } from 'node:fs';
import type { JobCgroup } from './cgroup.js';

/** How long the kill waits for an exiting cgroup to empty before it walks /proc instead. */
const SETTLE_MS = 20;
const SETTLE_STEP_MS = 2;

interface ProcStat {
  ppid: number;
  pgrp: number;
  /** Start time in clock ticks since boot: tells a live process from a later one that reused its PID. */
  startTime: string;
  zombie: boolean;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may itself contain spaces and parentheses: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { zombie: fields[0] === 'Z', ppid: Number(fields[1]), pgrp: Number(fields[2]), startTime: fields[19] };
}

/** Every process's stat, or undefined without /proc (not Linux), where only the process group can be reached. */
function snapshot(): Map<number, ProcStat> | undefined {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const stats = new Map<number, ProcStat>();
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) stats.set(Number(name), stat);
  }
  return stats;
}

function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone (ESRCH) or not ours to signal (EPERM): nothing more to do for it.
  }
}

function hasEnvEntry(pid: number, entry: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry);
  } catch {
    return false;
  }
}

/**
 * Every process a job started. The job's shell leads its own process group, but a job can leave
 * the group (setsid, a daemonising tool, bwrap --new-session), and such a process is reparented
 * away once its parent exits. So descendants are collected from /proc parent links repeatedly
 * while the job runs, and remembered with their start time so that a reused PID is never hit.
 * A double fork can still slip between two walks; those are found at kill time by a marker
 * entry in the environment every job process inherits (as Jenkins does with BUILD_ID), unless the
 * job cleared its environment (`setsid env -i`): only the job's cgroup, where there is one, holds
 * every process whatever it does.
 */
export class ProcessTree {
  private readonly known = new Map<number, string>();

  /**
   * @param envMarker a `NAME=value` entry unique to this job's environment
   * @param cgroup the cgroup the job was started in
   */
  constructor(
    private readonly rootPid: number,
    private readonly envMarker?: string,
    private readonly cgroup?: JobCgroup,
  ) {}

  /** Adds every process in the job's cgroup, however it left the tree. */
  private adoptCgroup(stats: Map<number, ProcStat>): void {
    for (const pid of this.cgroup?.members() ?? []) {
      const stat = stats.get(pid);
      if (stat && !stat.zombie && !this.known.has(pid)) this.known.set(pid, stat.startTime);
    }
  }

  /** Adds the processes that carry the job's environment marker, wherever they were reparented. */
  private adoptMarked(stats: Map<number, ProcStat>): void {
    if (!this.envMarker) return;
    for (const [pid, stat] of stats) {
      if (!stat.zombie && !this.known.has(pid) && pid !== process.pid && hasEnvEntry(pid, this.envMarker)) {
        this.known.set(pid, stat.startTime);
      }
    }
  }

  /** Adds every current descendant of the root or of a process already known. */
  scan(stats = snapshot()): void {
    if (!stats) return;
    const children = new Map<number, number[]>();
    for (const [pid, stat] of stats) {
      const siblings = children.get(stat.ppid);
      if (siblings) siblings.push(pid);
      else children.set(stat.ppid, [pid]);
    }
    const queue = [this.rootPid, ...[...this.known.keys()].filter((pid) => this.isKnownAlive(pid, stats.get(pid)))];
    const seen = new Set<number>();
    while (queue.length > 0) {
      const pid = queue.pop() as number;
      if (seen.has(pid)) continue;
      seen.add(pid);
      for (const child of children.get(pid) ?? []) {
        const stat = stats.get(child);
        if (stat && !this.known.has(child)) this.known.set(child, stat.startTime);
        queue.push(child);
      }
    }
  }

  private isKnownAlive(pid: number, stat = readStat(pid)): boolean {
    return stat !== undefined && !stat.zombie && stat.startTime === this.known.get(pid);
  }

  /**
   * Zombies do not count: they cannot run, and an orphaned one may never be reaped when PID 1 is
   * not a real init (containers), which would otherwise hold every kill for its whole grace.
   */
  private anyAlive(stats: Map<number, ProcStat> | undefined): boolean {
    if (!stats) {
      try {
        process.kill(-this.rootPid, 0);
        return true;
      } catch {
        return false;
      }
    }
    for (const [pid, stat] of stats) {
      if (stat.zombie) continue;
      if (stat.pgrp === this.rootPid || stat.startTime === this.known.get(pid)) return true;
    }
    return false;
  }

  private signalAll(signal: NodeJS.Signals): void {
    sendSignal(-this.rootPid, signal);
    for (const pid of this.known.keys()) {
      if (this.isKnownAlive(pid)) sendSignal(pid, signal);
    }
  }

  /**
   * Whether nothing the job started can still run, known without walking /proc (which reads every
   * process's stat and environment: the largest fixed cost of a short job). Only a cgroup the
   * job's first process entered proves it: every process the job started is in there whatever it
   * did to its group, session, parent or environment, and an empty one (zombies are not listed)
   * stays empty. The process group and the descendants seen by earlier scans are checked too, as
   * they cost a call each. Without such a cgroup the marker walk is the only way to find a double
   * fork.
   */
  private async provablyGone(): Promise<boolean> {
    if (!this.cgroup?.entered()) return false;
    try {
      process.kill(-this.rootPid, 0);
      return false;
    } catch (err) {
      // EPERM: the group lives on, under another user.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') return false;
    }
    if ([...this.known.keys()].some((pid) => this.isKnownAlive(pid))) return false;
    // A sandbox's namespace init can still be on its way out when the job's first process has
    // exited: a few milliseconds spare the walk.
    for (let waited = 0; this.cgroup.members().length > 0; waited += SETTLE_STEP_MS) {
      if (waited >= SETTLE_MS) return false;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_STEP_MS));
    }
    return true;
  }

  /** SIGTERM to the group and every known descendant, then SIGKILL to whatever outlives the grace. */
  async kill(graceMs: number): Promise<void> {
    if (await this.provablyGone()) return;
    let stats = snapshot();
    this.scan(stats);
    if (stats) this.adoptMarked(stats);
    if (stats) this.adoptCgroup(stats);
    if (!this.anyAlive(stats)) return;
    this.signalAll('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      // A process may fork while dying (a trap handler): pick up what it started.
      stats = snapshot();
      this.scan(stats);
      if (stats) this.adoptCgroup(stats);
      if (!this.anyAlive(stats)) return;
    }
    stats = snapshot();
    this.scan(stats);
    if (stats) this.adoptMarked(stats);
    this.signalAll('SIGKILL');
    this.cgroup?.killAll();
  }
}
