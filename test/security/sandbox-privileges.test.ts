// Issue 14 item 2: with the agent running as root, bubblewrap kept root's capabilities, so a job
// unmounted the tmpfs hiding the data dir and remounted / read-write. Each test performs that
// attack from inside a sandboxed job and checks it fails.
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chooseHostExecutor, SandboxExecutor, sandboxAvailable, seccompProgram } from '../../src/executor/index.js';
import { capture, spec } from '../executor/helpers.js';

const available = await sandboxAvailable();
const skip = !available && process.env.TANDEM_REQUIRE_ALL !== '1' ? 'bwrap unavailable (set TANDEM_REQUIRE_ALL=1 to fail instead)' : false;
const asRoot = process.getuid?.() === 0;

describe('sandbox privileges: a job cannot undo its own sandbox', { skip }, () => {
  // Under /var/tmp, not /tmp: the sandbox's private /tmp would hide it whatever the fix.
  let root: string;
  let dataDir: string;
  let workspace: string;
  let executor: SandboxExecutor;
  const probe = `/var/tmp/tandem-escape-probe-${process.pid}`;

  before(async () => {
    root = await mkdtemp('/var/tmp/tandem-sec-privileges-');
    dataDir = join(root, 'data');
    workspace = join(root, 'workspace');
    await mkdir(dataDir);
    await mkdir(workspace);
    await writeFile(join(dataDir, 'master.key'), 'MASTER-KEY-DATA');
    executor = new SandboxExecutor({ hiddenPaths: [dataDir] });
  });
  after(async () => {
    rmSync(probe, { force: true });
    if (root) await rm(root, { recursive: true, force: true });
  });

  it(`unmounting the mount that hides the data dir is refused, and the hidden file stays unreadable${asRoot ? ' (agent is root)' : ''}`, async () => {
    const result = await capture(
      executor,
      spec(workspace, {
        script: [
          `if umount ${dataDir} 2>/dev/null; then echo UNMOUNTED; else echo umount-refused; fi`,
          `if umount -l ${dataDir} 2>/dev/null; then echo UNMOUNTED; else echo lazy-umount-refused; fi`,
          `cat ${join(dataDir, 'master.key')} 2>/dev/null || echo read-refused`,
        ],
      }),
    );
    assert.equal(result.outcome, 'success', result.plain);
    assert.match(result.plain, /^umount-refused$/m);
    assert.match(result.plain, /^lazy-umount-refused$/m);
    assert.match(result.plain, /^read-refused$/m);
    assert.doesNotMatch(result.plain, /^UNMOUNTED$/m);
    assert.ok(!result.plain.includes('MASTER-KEY-DATA'), 'the hidden file leaked');
  });

  it('remounting / read-write is refused, and nothing outside the workspace can be written', async () => {
    const result = await capture(
      executor,
      spec(workspace, {
        script: [
          'if mount -o remount,rw / 2>/dev/null; then echo REMOUNTED; else echo remount-refused; fi',
          'if mount -o remount,bind,rw / 2>/dev/null; then echo REMOUNTED; else echo bind-remount-refused; fi',
          `if touch ${probe} 2>/dev/null; then echo WROTE-OUTSIDE; else echo write-refused; fi`,
          'echo inside > in-workspace.txt && echo workspace-writable',
        ],
      }),
    );
    assert.equal(result.outcome, 'success', result.plain);
    assert.match(result.plain, /^remount-refused$/m);
    assert.match(result.plain, /^bind-remount-refused$/m);
    assert.match(result.plain, /^write-refused$/m);
    assert.match(result.plain, /^workspace-writable$/m);
    assert.ok(!existsSync(probe), `the job wrote ${probe} on the host`);
  });

  it('the job holds no capability, has no_new_privs and a seccomp filter, and cannot get capabilities back through a new user namespace', async () => {
    const result = await capture(
      executor,
      spec(workspace, {
        script: [
          'grep -E "^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status',
          'if unshare --user --map-root-user --mount true 2>/dev/null; then echo NESTED-USERNS; else echo userns-refused; fi',
        ],
      }),
    );
    assert.equal(result.outcome, 'success', result.plain);
    for (const set of ['CapEff', 'CapPrm', 'CapBnd', 'CapAmb'])
      assert.match(result.plain, new RegExp(`^${set}:\\s+0+$`, 'm'), `${set} must be empty`);
    assert.match(result.plain, /^NoNewPrivs:\s+1$/m);
    if (seccompProgram()) assert.match(result.plain, /^Seccomp:\s+2$/m, 'a seccomp filter is installed');
    assert.match(result.plain, /^userns-refused$/m);
  });

  it(
    'the seccomp filter refuses system calls an unprivileged process may otherwise make (keyctl)',
    { skip: process.arch !== 'x64' ? 'the probe uses x86_64 system call numbers' : false },
    async () => {
      // KEYCTL_GET_KEYRING_ID of the session keyring: allowed without any capability, and the
      // kernel keyring is not namespaced, so the filter is what stops it.
      const result = await capture(
        executor,
        spec(workspace, { script: [`perl -e 'my $r = syscall(250, 0, -3, 0); print $r < 0 ? "keyctl-refused\\n" : "KEYCTL-ALLOWED\\n"'`] }),
      );
      assert.equal(result.outcome, 'success', result.plain);
      assert.match(result.plain, /^keyctl-refused$/m);
    },
  );

  it('an agent running as root is warned about at startup', { skip: asRoot ? false : 'the agent does not run as root here' }, async () => {
    const { executor: chosen, warnings } = await chooseHostExecutor('auto', { hiddenPaths: [dataDir] });
    assert.equal(chosen.name, 'sandbox');
    assert.ok(
      warnings.some((w) => /runs as root/.test(w)),
      warnings.join('\n'),
    );
    const shell = await chooseHostExecutor('shell');
    assert.ok(
      shell.warnings.some((w) => /as root/.test(w)),
      shell.warnings.join('\n'),
    );
  });
});

describe('sandbox privileges: a job cannot reach a container engine socket', { skip }, () => {
  it('a container engine API socket (DOCKER_HOST and the usual paths) is hidden, so a job cannot ask the engine for a root container', async () => {
    const root = await mkdtemp('/var/tmp/tandem-sec-engine-');
    const socket = join(root, 'docker.sock');
    // A stand-in engine: anyone who reaches the real one can `docker run -v /:/host` as root.
    const engine = createServer((_req, res) => res.end('ENGINE-ANSWERED'));
    await new Promise<void>((done) => engine.listen(socket, done));
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = `unix://${socket}`;
    try {
      const executor = new SandboxExecutor({ hiddenPaths: [] });
      await mkdir(join(root, 'workspace'));
      const result = await capture(
        executor,
        spec(join(root, 'workspace'), {
          script: [`curl -s --max-time 5 --unix-socket ${socket} http://engine/version || echo engine-unreachable`],
        }),
      );
      assert.equal(result.outcome, 'success', result.plain);
      assert.ok(!result.plain.includes('ENGINE-ANSWERED'), `the job reached the engine socket:\n${result.plain}`);
      assert.match(result.plain, /^engine-unreachable$/m);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
      await new Promise((done) => engine.close(done));
      await rm(root, { recursive: true, force: true });
    }
  });
});
