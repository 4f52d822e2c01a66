import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, readFile, readlink, realpath, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createTarget,
  StaleFencingTokenError,
  TargetError,
  type DeployTarget,
  type ServiceSpec,
  type SshTargetSpec,
} from '../../src/deploy/targets/index.js';
import { startSshd, sshdSkipReason, type SshdHosts } from '../support/sshd.js';
import { logLines, makeSource, release, tempDir, type TempDir } from './targets-fixtures.js';

const skip = sshdSkipReason();

describe('ssh target', { skip }, () => {
  let tmp: TempDir;
  let sshd: SshdHosts;
  let source: string;
  let knownHosts: string;
  let dirCount = 0;
  const targets: DeployTarget[] = [];

  before(async () => {
    [tmp, sshd] = await Promise.all([tempDir('tandem-targets-ssh-'), startSshd(3)]);
    knownHosts = sshd.servers.map((s) => s.knownHostsLine).join('\n');
    source = await makeSource(tmp.path, 'dist', {
      'index.html': '<h1>hi</h1>',
      'bin/server': { content: '#!/bin/sh\necho serving\n', mode: 0o755 },
      'config/deep/nested/secret.env': { content: 'TOKEN=x\n', mode: 0o600 },
      'config/deep/nested/empty.txt': '',
    });
    await symlink('bin/server', join(source, 'start'));
  });
  after(async () => {
    await Promise.all(targets.map((t) => t.close()));
    await sshd?.stop();
    await tmp?.remove();
  });

  /** An ssh target over the given servers, each "host" with its own deploy dir on this machine. */
  function sshTarget(options: { servers?: number[]; knownHosts?: string; service?: ServiceSpec } = {}): {
    target: DeployTarget;
    dirs: string[];
  } {
    const servers = (options.servers ?? [0, 1, 2]).map((i) => sshd.servers[i]);
    const dirs = servers.map(() => join(tmp.path, `host-${++dirCount}`));
    const spec: SshTargetSpec = {
      kind: 'ssh',
      hosts: servers.map((s, i) => ({ host: s.host, port: s.port, user: sshd.user, dir: dirs[i], name: `${s.host}:${s.port}` })),
      knownHosts: options.knownHosts ?? knownHosts,
      identityFile: sshd.identityFile,
      keep: 5,
      parallel: servers.length,
    };
    const target = createTarget(spec, { workDir: join(tmp.path, 'work'), service: options.service });
    targets.push(target);
    return { target, dirs };
  }

  it('deploys to three hosts in parallel, files, nested dirs and modes intact', async () => {
    const record = join(tmp.path, 'restarts');
    const { target, dirs } = sshTarget({
      service: { restart: `echo "$PWD $TANDEM_RELEASE_ID $TANDEM_ENVIRONMENT $(./bin/server)" >> ${record}` },
    });
    const { log, lines } = logLines();
    await Promise.all(target.hosts.map((h) => target.upload(h, release(1, source, 1), log)));
    await Promise.all(target.hosts.map((h) => target.activate(h, release(1, source, 1), log)));

    for (const [i, host] of target.hosts.entries()) {
      assert.equal(await target.current(host), 1);
      assert.equal(await target.has(host, 1), true);
      const rel = join(dirs[i], 'releases/1');
      assert.equal(await readlink(join(dirs[i], 'current')), 'releases/1');
      assert.equal(await readFile(join(rel, 'index.html'), 'utf8'), '<h1>hi</h1>');
      assert.equal((await stat(join(rel, 'bin/server'))).mode & 0o777, 0o755);
      assert.equal((await stat(join(rel, 'config/deep/nested/secret.env'))).mode & 0o777, 0o600);
      assert.equal(await readFile(join(rel, 'config/deep/nested/empty.txt'), 'utf8'), '');
      assert.ok((await lstat(join(rel, 'start'))).isSymbolicLink());
      assert.ok(lines.includes(`[${host.name}] current -> releases/1`), lines.join('\n'));
    }
    const restarts = (await readFile(record, 'utf8')).trim().split('\n').sort();
    assert.deepEqual(
      restarts,
      (await Promise.all(dirs.map((d) => realpath(join(d, 'releases/1'))))).map((d) => `${d} 1 staging serving`).sort(),
    );
  });

  it('refuses a host whose key is not in known_hosts, and one whose key changed', async () => {
    const [first, , third] = sshd.servers;
    const { target, dirs } = sshTarget({ knownHosts: [first.knownHostsLine, sshd.servers[1].knownHostsLine].join('\n') });
    await assert.rejects(
      target.upload(target.hosts[2], release(1, source, 1), () => {}),
      (err: unknown) => {
        assert.ok(err instanceof TargetError);
        assert.equal(err.host, `127.0.0.1:${third.port}`);
        assert.match(
          err.message,
          new RegExp(
            `^127\\.0\\.0\\.1:${third.port}: the host key of 127\\.0\\.0\\.1 port ${third.port} is not trusted by the known_hosts given in the pipeline: refusing to connect\\n`,
          ),
        );
        assert.match(err.message, /Host key verification failed/);
        return true;
      },
    );
    assert.equal(existsSync(dirs[2]), false, 'nothing ran on the untrusted host');

    // The first server's port with the second server's key: what a man in the middle looks like.
    const swapped = `[127.0.0.1]:${first.port} ${sshd.servers[1].knownHostsLine.split(' ').slice(1).join(' ')}`;
    const { target: mitm } = sshTarget({ servers: [0], knownHosts: swapped });
    await assert.rejects(
      mitm.current(mitm.hosts[0]),
      /is not trusted by the known_hosts given in the pipeline: refusing to connect\n[^]*REMOTE HOST IDENTIFICATION HAS CHANGED/,
    );
  });

  it('reads known_hosts from a file', async () => {
    const file = join(tmp.path, 'known_hosts');
    await writeFile(file, `${knownHosts}\n`);
    const { target } = sshTarget({ servers: [1], knownHosts: file });
    assert.equal(await target.current(target.hosts[0]), null);
    const { target: missing } = sshTarget({ servers: [1], knownHosts: join(tmp.path, 'nope') });
    await assert.rejects(missing.current(missing.hosts[0]), /: known_hosts file .*nope does not exist or is not readable$/);
  });

  it('refuses a stale fencing token per host and records the newer one', async () => {
    const { target } = sshTarget({ servers: [0, 1] });
    const [a, b] = target.hosts;
    await target.upload(a, release(1, source, 5), () => {});
    await target.activate(a, release(1, source, 5), () => {});
    await assert.rejects(
      target.upload(a, release(2, source, 4), () => {}),
      (err: unknown) => {
        assert.ok(err instanceof StaleFencingTokenError);
        assert.equal(err.host, a.name);
        assert.deepEqual([err.token, err.seen], [4, 5]);
        assert.match(err.message, new RegExp(`^${a.name}: stale fencing token 4 refused: .* has already seen token 5$`));
        return true;
      },
    );
    assert.equal(await target.has(a, 2), false);
    // Each host fences on its own: b has not seen 5.
    await target.upload(b, release(2, source, 4), () => {});
    await target.upload(a, release(2, source, 6), () => {});
    await target.activate(a, release(2, source, 6), () => {});
    await assert.rejects(
      target.activate(a, release(1, source, 5), () => {}),
      (err: unknown) => err instanceof StaleFencingTokenError && err.seen === 6,
    );
    assert.equal(await target.current(a), 2);
  });

  it('races concurrent tokens safely on one host', async () => {
    const { target } = sshTarget({ servers: [2] });
    const host = target.hosts[0];
    await target.upload(host, release(1, source, 0), () => {});
    const outcomes = await Promise.allSettled([12, 10, 11].map((t) => target.activate(host, release(1, source, t), () => {})));
    assert.equal(outcomes[0].status, 'fulfilled', 'the highest token always wins');
    for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof StaleFencingTokenError, String(o.reason));
    await assert.rejects(target.prune(host, 1, 11), StaleFencingTokenError);
  });

  it('prunes old releases on a host and reports a failing service command with the host', async () => {
    const { target, dirs } = sshTarget({
      servers: [1],
      service: { reload: 'test "$TANDEM_RELEASE_ID" != 3 || { echo "reload refused" >&2; exit 4; }' },
    });
    const host = target.hosts[0];
    for (const id of [1, 2]) {
      await target.upload(host, release(id, source, 1), () => {});
      await target.activate(host, release(id, source, 1), () => {});
    }
    await target.upload(host, release(3, source, 1), () => {});
    await assert.rejects(
      target.activate(host, release(3, source, 1), () => {}),
      new RegExp(`^TargetError: ${host.name}: service reload \\(test .*\\) exited with code 4\\nreload refused$`),
    );
    await target.activate(host, release(2, source, 1), () => {});
    assert.deepEqual(await target.prune(host, 1, 1), [1]);
    assert.equal(existsSync(join(dirs[0], 'releases/1')), false);
    assert.equal(await target.has(host, 3), true);
    assert.equal(await target.current(host), 2);
  });
});
