import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createExecutor, ShellExecutor } from '../../src/executor/index.js';
import { capture, printedPid, processGone, spec, tempDir } from './helpers.js';

const executor = new ShellExecutor();
let workspace: { path: string; remove(): Promise<void> };

before(async () => {
  workspace = await tempDir('tandem-exec-shell-');
  await writeFile(
    join(workspace.path, 'spawn-tree.sh'),
    [
      // A child that starts a grandchild in a new session (outside the job's process group).
      `setsid sh -c 'echo "grandchild=$$"; exec sleep 100' &`,
      `echo "child=$$"`,
      'exec sleep 100',
    ].join('\n'),
  );
  await writeFile(
    join(workspace.path, 'double-fork.sh'),
    // setsid -f forks and its parent exits at once: the daemon is reparented before any walk sees it.
    `setsid -f sh -c 'echo "daemon=$$"; exec sleep 100'\n`,
  );
});
after(() => workspace.remove());

describe('ShellExecutor', () => {
  it('runs a successful script and echoes each command like GitLab', async () => {
    const result = await capture(executor, spec(workspace.path, { script: ['echo hello', 'true'] }));
    assert.equal(result.outcome, 'success');
    assert.equal(result.exitCode, 0);
    assert.ok(result.output.includes('\x1b[32;1m$ echo hello\x1b[0;m\n'), result.output);
    assert.match(result.plain, /\$ echo hello\nhello\n\$ true\n/);
    assert.ok(result.durationMs >= 0);
  });

  it('stops at the first failing command and keeps its exit code', async () => {
    const result = await capture(executor, spec(workspace.path, { script: ['echo one', 'exit 7', 'echo never-runs'] }));
    assert.equal(result.outcome, 'failed');
    assert.equal(result.exitCode, 7);
    assert.ok(!result.plain.includes('never-runs'), result.plain);

    const pipe = await capture(executor, spec(workspace.path, { script: ['false | cat', 'echo after-pipe'] }));
    assert.equal(pipe.outcome, 'failed', 'pipefail makes a failing pipeline fail');
    assert.ok(!pipe.plain.includes('after-pipe'));
  });

  it('carries variables and cd from before_script into script', async () => {
    await writeFile(join(workspace.path, 'marker.txt'), '');
    const result = await capture(
      executor,
      spec(workspace.path, {
        beforeScript: ['export GREETING=carried', 'LOCAL=shellvar', 'mkdir -p sub && cd sub'],
        script: ['echo "$GREETING $LOCAL $(basename "$PWD")"', 'ls ../marker.txt'],
      }),
    );
    assert.equal(result.outcome, 'success', result.plain);
    assert.match(result.plain, /^carried shellvar sub$/m);
  });

  it('starts in the workspace and passes exactly the given environment', async () => {
    const result = await capture(
      executor,
      spec(workspace.path, {
        script: ['pwd', 'echo "job=$JOB_VAR"', 'echo "leak=${TANDEM_TEST_LEAK:-unset}"'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', JOB_VAR: 'from-spec' },
      }),
    );
    assert.match(result.plain, new RegExp(`^${workspace.path}$`, 'm'));
    assert.match(result.plain, /^job=from-spec$/m);
    assert.match(result.plain, /^leak=unset$/m);
  });

  it('runs multi-line commands and captures stderr in order', async () => {
    const result = await capture(
      executor,
      spec(workspace.path, {
        script: ['for i in 1 2 3; do\n  echo "line $i"\ndone', 'echo to-stdout; echo to-stderr >&2; echo stdout-again'],
      }),
    );
    assert.equal(result.outcome, 'success');
    assert.match(result.plain, /\$ for i in 1 2 3; do # collapsed multi-line command\nline 1\nline 2\nline 3\n/);
    assert.match(result.plain, /to-stdout\nto-stderr\nstdout-again\n/);
  });

  it('runs after_script after a failure, in a fresh shell that sees CI_JOB_STATUS', async () => {
    const result = await capture(
      executor,
      spec(workspace.path, {
        script: ['echo "in-script=$CI_JOB_STATUS"', 'SCRIPT_ONLY=secret-state', 'export EXPORTED=also-gone', 'cd /', 'exit 3'],
        afterScript: ['echo "status=$CI_JOB_STATUS"', 'echo "vars=${SCRIPT_ONLY:-none}/${EXPORTED:-none}"', 'pwd'],
      }),
    );
    assert.equal(result.outcome, 'failed');
    assert.equal(result.exitCode, 3);
    assert.match(result.plain, /Running after_script/);
    assert.match(result.plain, /^in-script=running$/m);
    assert.match(result.plain, /^status=failed$/m);
    assert.match(result.plain, /^vars=none\/none$/m);
    assert.match(result.plain, new RegExp(`^${workspace.path}$`, 'm'));
  });

  it('logs an after_script failure without changing the outcome', async () => {
    const result = await capture(
      executor,
      spec(workspace.path, { script: ['echo ok'], afterScript: ['echo "status=$CI_JOB_STATUS"', 'exit 9', 'echo never'] }),
    );
    assert.equal(result.outcome, 'success');
    assert.equal(result.exitCode, 0);
    assert.match(result.plain, /^status=success$/m);
    assert.match(result.plain, /after_script failed, but job will continue unaffected: exit code 9/);
    assert.ok(!result.plain.includes('never'));
  });

  it('kills the whole tree on timeout, including a setsid grandchild, then runs after_script', async () => {
    let pids: number[] = [];
    const result = await capture(
      executor,
      spec(workspace.path, {
        script: ['sh ./spawn-tree.sh &', 'echo "shell=$$"', 'sleep 100'],
        afterScript: ['echo "status=$CI_JOB_STATUS"'],
        timeoutMs: 1_000,
      }),
    );
    assert.equal(result.outcome, 'timeout');
    assert.equal(result.exitCode, null);
    assert.ok(result.durationMs < 5_000, `took ${result.durationMs} ms`);
    assert.match(result.plain, /execution took longer than 1s/);
    assert.match(result.plain, /^status=timedout$/m);
    pids = ['shell', 'child', 'grandchild'].map((name) => printedPid(result.plain, name));
    for (const pid of pids) assert.ok(processGone(pid), `process ${pid} survived the timeout`);
  });

  it('cancels through the AbortSignal, killing the tree', async () => {
    const controller = new AbortController();
    const result = await capture(
      executor,
      spec(workspace.path, {
        script: ['sh ./spawn-tree.sh &', 'sleep 100'],
        afterScript: ['echo "status=$CI_JOB_STATUS"'],
      }),
      controller.signal,
      (soFar) => {
        if (/^grandchild=\d+$/m.test(soFar) && /^child=\d+$/m.test(soFar)) controller.abort();
      },
    );
    assert.equal(result.outcome, 'canceled');
    assert.equal(result.exitCode, null);
    assert.ok(result.durationMs < 5_000, `took ${result.durationMs} ms`);
    assert.match(result.plain, /^status=canceled$/m);
    for (const name of ['child', 'grandchild']) {
      const pid = printedPid(result.plain, name);
      assert.ok(processGone(pid), `${name} ${pid} survived the cancel`);
    }
  });

  it('does not let a double-forked daemon outlive a successful job', async () => {
    const result = await capture(executor, spec(workspace.path, { script: ['sh ./double-fork.sh', 'sleep 0.2'] }));
    assert.equal(result.outcome, 'success', result.plain);
    const pid = printedPid(result.plain, 'daemon');
    assert.ok(processGone(pid), `daemon ${pid} outlived the job`);
  });

  it('reports a missing workspace clearly', async () => {
    await assert.rejects(
      executor.run(spec(join(workspace.path, 'missing'), { script: ['true'] }), {
        onOutput: () => {},
        signal: new AbortController().signal,
      }),
      /workspace .*missing does not exist/,
    );
  });

  it('falls back to sh when bash is not on PATH', async () => {
    const result = await capture(
      executor,
      spec(workspace.path, { env: { PATH: '/nonexistent' }, script: ['X=1', '/bin/echo "sh-ok $X"'] }),
    );
    assert.equal(result.outcome, 'success', result.plain);
    assert.match(result.plain, /^sh-ok 1$/m);
  });

  it("removes each step's script after it ran, and makes the scripts' directory again when a tmp cleaner removed it", async () => {
    const scriptOf = async () => {
      const result = await capture(executor, spec(workspace.path, { script: ['echo "script=$0"'] }));
      assert.equal(result.outcome, 'success', result.output);
      const script = /^script=(\S+)$/m.exec(result.plain)?.[1];
      assert.ok(script, result.plain);
      assert.ok(!script.startsWith(workspace.path), 'outside the workspace');
      assert.equal(existsSync(script), false, 'removed after the step');
      return script;
    };
    const first = await scriptOf();
    await rm(dirname(first), { recursive: true, force: true });
    const second = await scriptOf();
    assert.notEqual(second, first);
  });

  it('createExecutor gives the shell executor on request and rejects unknown kinds', async () => {
    assert.equal((await createExecutor('shell')).name, 'shell');
    // @ts-expect-error -- a kind read from configuration may be anything
    await assert.rejects(createExecutor('docker'), /unknown kind 'docker'/);
  });
});
