import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fitLimits, limitsFromProc, limitsFromShell } from '../../src/container-limits.js';
import { containerJobOf, ContainerExecutor, createExecutors } from '../../src/executor/index.js';
import { busyboxImage, ENGINE_ARGS, podman, podmanSkip } from '../support/podman.js';
import { capture, spec, tempDir } from './helpers.js';

const PROC_LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             96367                96367                processes
Max open files            1024                 20000                files
`;
const NO_SYS_RESOURCE = 'CapEff:\t000001fffeffffff\n';

describe('container limits fitted to the host', () => {
  it('reads hard limits, pid_max and CAP_SYS_RESOURCE from /proc and from a host shell', () => {
    assert.deepEqual(limitsFromProc(PROC_LIMITS, '32768\n', NO_SYS_RESOURCE), {
      nofile: 20000,
      nproc: 96367,
      pidMax: 32768,
      canRaise: false,
    });
    assert.equal(limitsFromProc(PROC_LIMITS, '32768', 'CapEff:\t000001ffffffffff\n').canRaise, true);
    const unlimited = PROC_LIMITS.replace(/(Max open files\s+\S+\s+)\S+/, '$1unlimited');
    assert.deepEqual(limitsFromShell(`${unlimited}--- tandem ---\n4194304\n--- tandem ---\nName: cat\n${NO_SYS_RESOURCE}`), {
      nofile: Infinity,
      nproc: 96367,
      pidMax: 4194304,
      canRaise: false,
    });
  });

  it('fits each limit podman cannot set to what the host grants, nproc to pid_max at most', () => {
    const fitted = fitLimits(limitsFromProc(PROC_LIMITS, '32768', NO_SYS_RESOURCE));
    assert.deepEqual(fitted.args, ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768']);
    assert.match(fitted.note ?? '', /nofile=20000, nproc=32768: podman's default of 1048576 is above this host's hard limit/);
  });

  it('leaves a limit the user sets alone, and fits nothing where the defaults fit or runc may raise', () => {
    const host = limitsFromProc(PROC_LIMITS, '32768', NO_SYS_RESOURCE);
    assert.deepEqual(fitLimits(host, ['--ulimit', 'nofile=512:512']).args, ['--ulimit', 'nproc=32768:32768']);
    assert.deepEqual(fitLimits(host, ['--ulimit=nproc=64:64', '--ulimit', 'nofile=1:1']), { args: [], note: null });
    assert.deepEqual(fitLimits({ nofile: 1_048_576, nproc: Infinity, pidMax: 4_194_304, canRaise: false }), { args: [], note: null });
    assert.deepEqual(fitLimits({ ...host, canRaise: true }), { args: [], note: null });
  });
});

describe('a job with image: on a host whose hard limits are below podman defaults', { skip: podmanSkip('CONTAINER LIMITS TESTS') }, () => {
  let root: { path: string; remove(): Promise<void> };
  let image: { name: string; remove(): Promise<void> };

  before(async () => {
    root = await tempDir('tandem-limits-');
    image = await busyboxImage();
  });
  after(async () => {
    await image?.remove();
    await root?.remove();
  });

  async function job(name: string) {
    const workspace = join(root.path, name);
    await mkdir(workspace);
    const env = { CI_JOB_ID: '1', CI_PROJECT_DIR: workspace };
    return {
      ...spec(workspace, { script: ['echo "nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)"'] }),
      env,
      container: { job: containerJobOf(image.name, null, env), jobId: 1, serviceEnv: env },
    };
  }

  it('runs without any --ulimit from the user, and the agent logs the fitted limits once', async () => {
    const { container, warnings } = await createExecutors('shell', {
      container: { engine: 'podman', engineArgs: ENGINE_ARGS, owner: join(root.path, 'agent-a') },
    });
    assert.ok(container);
    try {
      const result = await capture(container, await job('fitted'));
      assert.equal(result.outcome, 'success', result.plain);
      const read = (path: string) => readFileSync(path, 'utf8');
      const host = limitsFromProc(read('/proc/self/limits'), read('/proc/sys/kernel/pid_max'), read('/proc/self/status'));
      if (host.canRaise) return assert.equal(container.limitsNote, null);
      assert.match(
        result.plain,
        new RegExp(`nofile=${Math.min(host.nofile, 1_048_576)} nproc=${Math.min(host.nproc, host.pidMax, 1_048_576)}`),
      );
      assert.equal(warnings.filter((w) => /containers run with --ulimit/.test(w)).length, 1, warnings.join('\n'));
    } finally {
      await container.removeLeftovers();
    }
  });

  it('explains the engine\'s "error setting rlimit" when an explicit --ulimit is above the host\'s limit', async () => {
    const hard = limitsFromProc(readFileSync('/proc/self/limits', 'utf8'), '', readFileSync('/proc/self/status', 'utf8'));
    if (hard.canRaise || !Number.isFinite(hard.nofile)) return;
    const above = hard.nofile + 1;
    const executor = new ContainerExecutor({
      engine: podman!,
      runArgs: ['--ulimit', `nofile=${above}:${above}`],
      owner: join(root.path, 'agent-c'),
    });
    try {
      const result = await capture(executor, await job('too-high'));
      assert.equal(result.outcome, 'failed', result.plain);
      assert.match(result.plain, /error setting rlimit type 7/);
      assert.match(result.plain, /could not get its nofile limit: it is above this host's hard limit/);
    } finally {
      await executor.removeLeftovers();
    }
  });

  it("keeps the user's explicit --ulimit", async () => {
    const executor = new ContainerExecutor({ engine: podman!, runArgs: ['--ulimit', 'nofile=777:777'], owner: join(root.path, 'agent-b') });
    try {
      const result = await capture(executor, await job('explicit'));
      assert.equal(result.outcome, 'success', result.plain);
      assert.match(result.plain, /nofile=777 nproc=/);
    } finally {
      await executor.removeLeftovers();
    }
  });
});
