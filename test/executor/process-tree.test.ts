// The kill after every job walks /proc only when something the job started may be left: a cgroup
// that held the job and is empty proves there is nothing, an empty cgroup the job never entered
// proves nothing (issue 19: the walk was a tenth of a short job's cost).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { JobCgroup } from '../../src/executor/cgroup.js';
import { ProcessTree } from '../../src/executor/process-tree.js';
import { processGone, tempDir } from './helpers.js';

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

/** Starts a job's first process, as steps.ts does: its own group, the marker in its environment; resolves its PID once it exited. */
async function runRoot(command: string, args: string[], marker: string): Promise<number> {
  const [name, value] = marker.split('=');
  const child = spawn(command, args, { env: { PATH: process.env.PATH, [name]: value }, detached: true, stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(child.pid !== undefined);
  return child.pid;
}

async function waitForPid(file: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (/^\d+\n/.test(text)) return Number(text);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${file} never got a PID`);
}

describe('ProcessTree.kill', () => {
  it('skips the /proc walk when the cgroup that held the job is empty and its group is gone', async (t) => {
    const cgroup = JobCgroup.create();
    if (!cgroup) return t.skip('no writable cgroup v2 here');
    const dir = await tempDir('tandem-tree-');
    const marker = `TANDEM_EXEC_ID=tree-test-${process.pid}-held`;
    try {
      const wrapped = cgroup.wrap('sh', ['-c', 'exit 0'], join(dir.path, 'in-cgroup'));
      const root = await runRoot(wrapped.command, wrapped.args, marker);
      assert.ok(cgroup.entered(), 'the job ran inside its cgroup');
      // Not the job's (outside its cgroup and group), but carrying its marker: only a walk would find it.
      const decoy = spawn('sleep', ['30'], { env: { [marker.split('=')[0]]: marker.split('=')[1] }, detached: true, stdio: 'ignore' });
      assert.ok(decoy.pid !== undefined);
      leftovers.push(decoy.pid);
      await new ProcessTree(root, marker, cgroup).kill(2_000);
      assert.ok(!processGone(decoy.pid), 'the kill read no environment, so the decoy lives');
    } finally {
      await cgroup.remove();
      await dir.remove();
    }
  });

  it('walks /proc when the job could not enter its cgroup, and kills a double-forked daemon by its marker', async (t) => {
    const cgroup = JobCgroup.create();
    if (!cgroup) return t.skip('no writable cgroup v2 here');
    const dir = await tempDir('tandem-tree-');
    const marker = `TANDEM_EXEC_ID=tree-test-${process.pid}-outside`;
    try {
      const pidFile = join(dir.path, 'daemon.pid');
      // The move into the cgroup fails (its procs file is not where the wrapper writes): the cgroup stays empty.
      const wrapped = cgroup.wrap('sh', ['-c', `setsid -f sh -c 'echo $$ > ${pidFile}; exec sleep 30'`], join(dir.path, 'in-cgroup'));
      wrapped.args[2] = join(dir.path, 'no-such-cgroup', 'cgroup.procs');
      const root = await runRoot(wrapped.command, wrapped.args, marker);
      const daemon = await waitForPid(pidFile);
      leftovers.push(daemon);
      assert.ok(!cgroup.entered(), 'the job never entered its cgroup');
      assert.ok(!processGone(daemon), 'the daemon outlived its parent');
      await new ProcessTree(root, marker, cgroup).kill(2_000);
      for (let i = 0; i < 40 && !processGone(daemon); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(processGone(daemon), `daemon ${daemon} outlived the kill`);
    } finally {
      await cgroup.remove();
      await dir.remove();
    }
  });
});
