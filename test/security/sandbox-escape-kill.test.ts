// Issue 14 item 23: a shell-executor job that double-forks into a new session with a cleared
// environment (`setsid env -i`) left both its process group and the environment marker the kill
// searched for, and outlived cancel. The job's cgroup (or the sandbox's PID namespace) holds it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { JobCgroup } from '../../src/executor/cgroup.js';
import { SandboxExecutor, sandboxAvailable, ShellExecutor, type Executor } from '../../src/executor/index.js';
import { capture, spec, tempDir } from '../executor/helpers.js';
import { repoRoot } from '../support/git.js';

/** PIDs whose command line contains `needle` (the job's unique sleep argument). */
function processesWith(needle: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
      const state = readFileSync(`/proc/${name}/stat`, 'utf8');
      // A zombie cannot run again; only a live process counts as escaped.
      if (cmdline.includes(needle) && !state.slice(state.lastIndexOf(')') + 2).startsWith('Z')) found.push(Number(name));
    } catch {
      // exited while listed
    }
  }
  return found;
}

const leftovers: number[] = [];
after(() => {
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

async function escapeThenCancel(executor: Executor, label: string): Promise<void> {
  const workspace = await tempDir(`tandem-sec-escape-${label}-`);
  // A sleep length no other process uses, to find the escaped process on the host afterwards.
  const needle = `1000.${process.pid}${label.length}${Date.now() % 100000}`;
  const abort = new AbortController();
  try {
    const running = capture(
      executor,
      spec(workspace.path, {
        // The subshell exits at once, so the sleep is reparented before any walk of the tree sees it.
        script: [`( setsid env -i sleep ${needle} > /dev/null 2>&1 & )`, 'echo escaped', 'sleep 30'],
        timeoutMs: 60_000,
      }),
      abort.signal,
    );
    const deadline = Date.now() + 10_000;
    while (processesWith(needle).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(processesWith(needle).length > 0, 'the escaped process must have started');
    abort.abort();
    const result = await running;
    assert.equal(result.outcome, 'canceled', result.plain);
    // The kill is done when run() returns; allow the kernel a moment to reap.
    const gone = Date.now() + 2_000;
    while (processesWith(needle).length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
    const survivors = processesWith(needle);
    leftovers.push(...survivors);
    assert.deepEqual(survivors, [], `setsid env -i sleep ${needle} outlived the cancel`);
  } finally {
    await workspace.remove();
  }
}

describe('a job that escapes its process group and clears its environment is still killed on cancel', () => {
  it('shell executor: setsid env -i in a double fork dies with the job', () => escapeThenCancel(new ShellExecutor(), 'shell'));

  it(
    'shell executor without a cgroup: a PID namespace (unshare, as root) takes the escaped process down',
    { skip: process.getuid?.() === 0 ? false : 'a PID namespace needs root' },
    () => escapeThenCancel(new ShellExecutor({ containment: 'pid-namespace' }), 'pidns'),
  );

  it('sandbox executor: the PID namespace takes the escaped process down too', async (t) => {
    if (!(await sandboxAvailable())) return t.skip('bwrap unavailable');
    await escapeThenCancel(new SandboxExecutor({ hiddenPaths: [] }), 'sandbox');
  });
});

describe('job cgroups do not pile up', () => {
  it('an emptied cgroup serves the next job; one with a live member does not; the kept ones go when the process exits', async (t) => {
    const first = JobCgroup.create();
    if (!first) return t.skip('no writable cgroup v2 here');
    await first.release();
    const second = JobCgroup.create();
    assert.equal(second?.dir, first.dir, 'the emptied cgroup is reused');
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(join(first.dir, 'cgroup.procs'), String(sleeper.pid));
      const releasing = first.release();
      assert.notEqual(JobCgroup.create()?.dir, first.dir, 'a cgroup with a live member is not handed out again');
      sleeper.kill('SIGKILL');
      await releasing;
      assert.ok(!existsSync(first.dir), 'it is removed once its member is gone');
    } finally {
      sleeper.kill('SIGKILL');
    }
    const cgroupModule = join(repoRoot(), 'dist', 'src', 'executor', 'cgroup.js');
    const child = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { JobCgroup } = await import(${JSON.stringify(cgroupModule)}); const c = JobCgroup.create(); await c.release(); console.log(c.dir);`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(child.status, 0, child.stderr);
    assert.ok(!existsSync(child.stdout.trim()), 'the cgroup kept for reuse is removed at exit');
  });

  it('the empty cgroups an agent killed mid-job left are removed by the next agent process; a populated one stays', async (t) => {
    const own = /^0::(\/.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
    const mount = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .find((f) => f[f.indexOf('-') + 1] === 'cgroup2' && f[3] === '/')?.[4];
    const parent = own && mount ? join(mount, own) : undefined;
    if (!parent || !JobCgroup.available()) return t.skip('no writable cgroup v2 here');
    const stale = join(parent, `tandem-job-stale-${process.pid}`);
    const busy = join(parent, `tandem-job-busy-${process.pid}`);
    mkdirSync(stale);
    mkdirSync(busy);
    const old = new Date(Date.now() - 3600_000);
    utimesSync(stale, old, old);
    utimesSync(busy, old, old);
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(join(busy, 'cgroup.procs'), String(sleeper.pid));
      // A fresh process, as an agent restarted after a crash: the sweep runs once per process.
      const cgroupModule = join(repoRoot(), 'dist', 'src', 'executor', 'cgroup.js');
      const child = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const { JobCgroup } = await import(${JSON.stringify(cgroupModule)}); await JobCgroup.create()?.remove();`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(child.status, 0, child.stderr);
      assert.ok(!existsSync(stale), 'the empty stale cgroup is removed');
      assert.ok(existsSync(busy), 'a cgroup with a live process is left alone');
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
      for (const dir of [stale, busy])
        for (let i = 0; i < 20 && existsSync(dir); i++) {
          try {
            rmdirSync(dir);
          } catch {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
    }
  });
});
