import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createExecutor, SandboxExecutor, sandboxAvailable } from '../../src/executor/index.js';
import { capture, printedPid, processGone, spec, tempDir } from './helpers.js';

const available = await sandboxAvailable();
const required = process.env.TANDEM_REQUIRE_ALL === '1';
if (!available) {
  const banner = '!'.repeat(78);
  console.warn(
    `\n${banner}\n!!! SANDBOX TESTS ${required ? 'FAIL' : 'SKIPPED'}: bubblewrap (bwrap) is missing or cannot create namespaces.\n` +
      `!!! Install it with: apt-get install -y bubblewrap\n${banner}\n`,
  );
}
const skip = !available && !required ? 'bwrap unavailable (set TANDEM_REQUIRE_ALL=1 to fail instead)' : false;

describe('SandboxExecutor', { skip }, () => {
  let root: { path: string; remove(): Promise<void> };
  let dataDir: string;
  let workspace: string;
  let executor: SandboxExecutor;
  // Outside /tmp, which the sandbox replaces anyway, so only hiddenPaths can hide it.
  let hostDir: string;

  before(async () => {
    root = await tempDir('tandem-exec-sandbox-');
    hostDir = await mkdtemp('/var/tmp/tandem-exec-hidden-');
    await writeFile(join(hostDir, 'host-secret'), 'HOST-DATA');
    // As on an agent: workspaces live under the data dir, which holds the token.
    dataDir = join(root.path, 'data');
    workspace = join(dataDir, 'workspaces', 'job-1');
    await mkdir(join(workspace, '.secrets'), { recursive: true });
    await writeFile(join(dataDir, 'agent.token'), 'TOKEN-DATA');
    await writeFile(join(root.path, 'beside-data.txt'), 'host tmp file');
    await writeFile(join(workspace, '.secrets', 'key'), 'KEY-DATA');
    await writeFile(join(workspace, 'visible.txt'), 'VISIBLE-DATA');
    executor = new SandboxExecutor({
      hiddenPaths: [dataDir, join(dataDir, 'agent.token'), join(workspace, '.secrets'), hostDir],
    });
  });
  after(async () => {
    await root?.remove();
    if (hostDir) await rm(hostDir, { recursive: true, force: true });
  });

  it('is available', () => assert.ok(available, 'bwrap must work when TANDEM_REQUIRE_ALL=1'));

  it('runs the steps with GitLab semantics and can write the workspace', async () => {
    const result = await capture(
      executor,
      spec(workspace, {
        beforeScript: ['export V=carried'],
        script: ['echo "$V" > out.txt', 'cat visible.txt', 'exit 4'],
        afterScript: ['echo "status=$CI_JOB_STATUS"; cat out.txt'],
      }),
    );
    assert.equal(result.outcome, 'failed', result.plain);
    assert.equal(result.exitCode, 4);
    assert.match(result.plain, /\$ cat visible.txt\nVISIBLE-DATA/);
    assert.match(result.plain, /^status=failed\ncarried$/m);
  });

  it('cannot write the system or $HOME, and /tmp is private', async () => {
    const home = process.env.HOME ?? '/root';
    const result = await capture(
      executor,
      spec(workspace, {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
        script: [
          'if touch /usr/tandem-sandbox-probe 2>/dev/null; then echo usr=writable; else echo usr=readonly; fi',
          'if touch "$HOME/tandem-sandbox-probe" 2>/dev/null; then echo home=writable; else echo home=readonly; fi',
          `echo "tmp=$(ls -A ${root.path})"`,
        ],
      }),
    );
    assert.equal(result.outcome, 'success', result.plain);
    assert.match(result.plain, /^usr=readonly$/m);
    assert.match(result.plain, /^home=readonly$/m);
    assert.match(result.plain, /^tmp=data$/m, 'the host /tmp must not show through, only the way to the workspace');
  });

  it('cannot see hidden directories and files, inside the workspace or out', async () => {
    const result = await capture(
      executor,
      spec(workspace, {
        script: [
          'echo "secrets=$(ls -A .secrets | wc -l)"',
          `echo "token=$(cat ${join(dataDir, 'agent.token')})"`,
          `echo "data=$(ls -A ${dataDir})"`,
          `echo "hostdir=$(ls -A ${hostDir} | wc -l)"`,
        ],
      }),
    );
    assert.equal(result.outcome, 'success', result.plain);
    assert.match(result.plain, /^secrets=0$/m);
    assert.match(result.plain, /^token=$/m);
    assert.match(result.plain, /^data=workspaces$/m);
    assert.match(result.plain, /^hostdir=0$/m);
    assert.ok(!/TOKEN-DATA|KEY-DATA|HOST-DATA/.test(result.plain));
  });

  it('has its own PID namespace', async () => {
    const result = await capture(executor, spec(workspace, { script: [`echo "procs=$(ls /proc | grep -c '^[0-9]')"`, 'echo "pid=$$"'] }));
    assert.equal(result.outcome, 'success', result.plain);
    const procs = Number(/^procs=(\d+)$/m.exec(result.plain)?.[1]);
    assert.ok(procs > 0 && procs < 10, `saw ${procs} processes`);
    assert.ok(printedPid(result.plain, 'pid') < 10);
  });

  it('kills the sandboxed tree on timeout', async () => {
    // A duration no other process uses, to find the job's sleeps among the host's processes.
    const duration = `97.${process.pid}`;
    const result = await capture(
      executor,
      spec(workspace, {
        script: [`setsid sleep ${duration} &`, `sleep ${duration}`],
        timeoutMs: 800,
      }),
    );
    assert.equal(result.outcome, 'timeout', result.plain);
    assert.ok(result.durationMs < 5_000, `took ${result.durationMs} ms`);
    const survivors = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((name) => {
        try {
          return readFileSync(`/proc/${name}/cmdline`, 'utf8') === `sleep\0${duration}\0` && !processGone(Number(name));
        } catch {
          return false;
        }
      });
    assert.deepEqual(survivors, []);
  });

  it('createExecutor picks the sandbox for auto', async () => {
    assert.equal((await createExecutor('auto', { hiddenPaths: [dataDir] })).name, 'sandbox');
  });
});
