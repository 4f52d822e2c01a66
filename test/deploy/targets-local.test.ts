import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readlink, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTarget, StaleFencingTokenError, TargetError, type DeployTarget, type ServiceSpec } from '../../src/deploy/targets/index.js';
import { logLines, makeSource, release, tempDir, type TempDir } from './targets-fixtures.js';

let tmp: TempDir;
let sourceA: string;
let sourceB: string;
let dirCount = 0;

before(async () => {
  tmp = await tempDir('tandem-targets-local-');
  sourceA = await makeSource(tmp.path, 'src-a', { 'index.html': 'A', 'assets/app.js': 'a()' });
  sourceB = await makeSource(tmp.path, 'src-b', { 'index.html': 'B', 'bin/run': { content: '#!/bin/sh\necho run\n', mode: 0o755 } });
});
after(() => tmp.remove());

/** A local target on a fresh deploy dir. */
function localTarget(service?: ServiceSpec, keep = 5): { target: DeployTarget; dir: string } {
  const dir = join(tmp.path, `deploy-${++dirCount}`);
  const target = createTarget({ kind: 'local', dir, keep }, { workDir: join(tmp.path, 'work'), service });
  return { target, dir };
}

async function deploy(target: DeployTarget, id: number, token: number, source = sourceA): Promise<void> {
  const host = target.hosts[0];
  await target.upload(host, release(id, source, token), () => {});
  await target.activate(host, release(id, source, token), () => {});
}

describe('local target', () => {
  it('uploads a release without switching to it, then activates it', async () => {
    const { target, dir } = localTarget();
    const host = target.hosts[0];
    const { log, lines } = logLines();
    assert.equal(await target.current(host), null);
    await target.upload(host, release(1, sourceA, 1), log);
    assert.equal(await target.has(host, 1), true);
    assert.equal(await target.has(host, 2), false);
    assert.equal(await target.current(host), null, 'an upload does not switch');
    assert.equal(await readFile(join(dir, 'releases/1/assets/app.js'), 'utf8'), 'a()');

    await target.activate(host, release(1, sourceA, 1), log);
    assert.equal(await target.current(host), 1);
    assert.equal(await readlink(join(dir, 'current')), 'releases/1');
    assert.equal(await readFile(join(dir, 'current/index.html'), 'utf8'), 'A');
    assert.ok(lines.includes('[local] current -> releases/1'), lines.join('\n'));
    assert.ok(lines.every((l) => l.startsWith('[local] ')));
  });

  it('keeps a release already uploaded, and hides one whose upload never finished', async () => {
    const { target, dir } = localTarget();
    const host = target.hosts[0];
    await target.upload(host, release(1, sourceA, 1), () => {});
    const { log, lines } = logLines();
    await target.upload(host, release(1, sourceB, 1), log);
    assert.equal(await readFile(join(dir, 'releases/1/index.html'), 'utf8'), 'A', 'the complete release is kept');
    assert.ok(lines.some((l) => l.includes('release 1 is already here')));

    // What an upload killed halfway leaves behind: not a release, and replaced by the next upload.
    await mkdir(join(dir, 'releases/.tmp-2/assets'), { recursive: true });
    assert.equal(await target.has(host, 2), false);
    await assert.rejects(
      target.activate(host, release(2, sourceB, 1), () => {}),
      /release 2 is not in .*releases \(upload it first\)/,
    );
    await target.upload(host, release(2, sourceB, 1), () => {});
    assert.equal(await readFile(join(dir, 'releases/2/index.html'), 'utf8'), 'B');
    assert.equal(existsSync(join(dir, 'releases/.tmp-2')), false);
  });

  it('swaps the current link atomically: a reader never finds it missing', async () => {
    const { target, dir } = localTarget();
    await deploy(target, 1, 1);
    await deploy(target, 2, 1, sourceB);
    const stop = join(dir, 'stop-reader');
    // A tight loop of shell builtins: thousands of looks at the link while it is swapped.
    const reader = spawn(
      'sh',
      [
        '-c',
        'ok=0; missing=0; while [ ! -e stop-reader ]; do if [ -e current/index.html ]; then ok=$((ok+1)); else missing=$((missing+1)); fi; done; echo "$ok $missing"',
      ],
      { cwd: dir },
    );
    let output = '';
    reader.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const done = new Promise((resolve) => reader.once('close', resolve));
    try {
      for (let i = 0; i < 12; i++) await target.activate(target.hosts[0], release(i % 2 === 0 ? 1 : 2, sourceA, 1), () => {});
    } finally {
      await writeFile(stop, '');
      await done;
    }
    const [ok, missing] = output.trim().split(' ').map(Number);
    assert.ok(ok > 100, `the reader looked ${ok} times`);
    assert.equal(missing, 0, `current was missing ${missing} times`);
  });

  it('prunes releases beyond keep, never a linked one', async () => {
    const { target, dir } = localTarget();
    const host = target.hosts[0];
    for (let id = 1; id <= 5; id++) await deploy(target, id, 1);
    // A rollback to release 1 and a second link (blue/green) on release 2.
    await target.activate(host, release(1, sourceA, 1), () => {});
    await target.activate(host, release(2, sourceA, 1), () => {}, 'green');
    const { log, lines } = logLines();
    assert.deepEqual(await target.prune(host, 2, 1, log), [3]);
    assert.ok(lines.includes('[local] removed release 3'));
    for (const id of [1, 2, 4, 5]) assert.equal(await target.has(host, id), true, `release ${id} kept`);
    assert.equal(existsSync(join(dir, 'releases/3')), false);
    assert.equal(await target.current(host), 1);
    assert.equal(await target.current(host, 'green'), 2);
    assert.deepEqual(await target.prune(host, 2, 1), [], 'nothing more to prune');
  });

  it('runs the service commands around the swap, in the release dirs, with the release environment', async () => {
    const record = join(tmp.path, 'service-record');
    const line = (what: string) =>
      `echo "${what} $PWD $TANDEM_RELEASE_ID $TANDEM_RELEASE_VERSION $TANDEM_RELEASE_DIR $(readlink ../../current)" >> ${record}`;
    const { target, dir } = localTarget({ stop: line('stop'), start: line('start'), restart: line('restart'), reload: line('reload') });
    await deploy(target, 1, 1);
    await deploy(target, 2, 1);
    const rel = async (id: number) => realpath(join(dir, `releases/${id}`));
    const r1 = await rel(1);
    const r2 = await rel(2);
    assert.deepEqual((await readFile(record, 'utf8')).trim().split('\n'), [
      `start ${r1} 1 v1 ${join(dir, 'releases/1')} releases/1`,
      `restart ${r1} 1 v1 ${join(dir, 'releases/1')} releases/1`,
      `reload ${r1} 1 v1 ${join(dir, 'releases/1')} releases/1`,
      // stop runs in the outgoing release, before the link moves.
      `stop ${r1} 2 v2 ${join(dir, 'releases/1')} releases/1`,
      `start ${r2} 2 v2 ${join(dir, 'releases/2')} releases/2`,
      `restart ${r2} 2 v2 ${join(dir, 'releases/2')} releases/2`,
      `reload ${r2} 2 v2 ${join(dir, 'releases/2')} releases/2`,
    ]);
  });

  it('reports a failing restart with the host, the command, its exit code and its stderr', async () => {
    const { target } = localTarget({ restart: 'echo starting; echo "port 8080 in use" >&2; exit 3' });
    const host = target.hosts[0];
    const { log, lines } = logLines();
    await target.upload(host, release(1, sourceA, 1), log);
    const err = await target.activate(host, release(1, sourceA, 1), log).then(
      () => assert.fail('activate succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TargetError);
    assert.equal(err.host, 'local');
    assert.match(err.message, /^local: service restart \(echo starting; .*exit 3\) exited with code 3\nport 8080 in use$/);
    assert.ok(lines.includes('[local] starting'));
    // The link moved before the restart: going back is the caller's rollback.
    assert.equal(await target.current(host), 1);
  });

  it('does not let a daemon started by the service hold the deploy lock', async () => {
    const pidFile = join(tmp.path, 'daemon.pid');
    const { target } = localTarget({ start: `sleep 30 >/dev/null 2>&1 & echo $! > ${pidFile}` });
    try {
      await deploy(target, 1, 1);
      const started = Date.now();
      await deploy(target, 2, 1);
      assert.ok(Date.now() - started < 5_000);
      assert.equal(await target.current(target.hosts[0]), 2);
    } finally {
      const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
      if (pid) process.kill(pid, 'SIGKILL');
    }
  });

  it('refuses a stale fencing token on every change, and records a newer one', async () => {
    const { target } = localTarget();
    const host = target.hosts[0];
    await deploy(target, 1, 8);
    const stale = (token: number, seen: number) => (err: unknown) => {
      assert.ok(err instanceof StaleFencingTokenError, String(err));
      assert.equal(err.host, 'local');
      assert.equal(err.token, token);
      assert.equal(err.seen, seen);
      assert.match(err.message, new RegExp(`^local: stale fencing token ${token} refused: .* has already seen token ${seen}$`));
      return true;
    };
    await assert.rejects(
      target.upload(host, release(2, sourceB, 7), () => {}),
      stale(7, 8),
    );
    assert.equal(await target.has(host, 2), false);
    await assert.rejects(
      target.upload(host, release(1, sourceA, 7), () => {}),
      stale(7, 8),
      'also when the release is there',
    );
    await assert.rejects(
      target.activate(host, release(1, sourceA, 7), () => {}),
      stale(7, 8),
    );
    await assert.rejects(target.prune(host, 1, 7), stale(7, 8));

    await deploy(target, 2, 9, sourceB);
    assert.equal(await target.current(host), 2);
    await assert.rejects(
      target.activate(host, release(1, sourceA, 8), () => {}),
      stale(8, 9),
    );
    assert.equal(await target.current(host), 2);
  });

  it('lets no older token act after a newer one under concurrent deploys', async () => {
    const record = join(tmp.path, 'race-record');
    const { target } = localTarget({ restart: `echo "$TANDEM_TOKEN" >> ${record}` });
    const host = target.hosts[0];
    for (let id = 1; id <= 8; id++) await target.upload(host, release(id, sourceA, 0), () => {});
    const order = [3, 8, 1, 6, 2, 7, 5, 4];
    const outcomes = await Promise.allSettled(
      order.map((t) => target.activate(host, release(t, sourceA, t, { TANDEM_TOKEN: String(t) }), () => {})),
    );
    for (const o of outcomes) if (o.status === 'rejected') assert.ok(o.reason instanceof StaleFencingTokenError, String(o.reason));
    assert.equal(outcomes[order.indexOf(8)].status, 'fulfilled');
    const ran = (await readFile(record, 'utf8')).trim().split('\n').map(Number);
    assert.deepEqual(
      ran,
      [...ran].sort((a, b) => a - b),
      `restarts ran in token order: ${ran.join(' ')}`,
    );
    assert.equal(ran.at(-1), 8);
    assert.equal(ran.length, outcomes.filter((o) => o.status === 'fulfilled').length);
    assert.equal(await target.current(host), 8);
  });

  it('names the bad input', async () => {
    const { target } = localTarget();
    const host = target.hosts[0];
    await assert.rejects(
      target.upload(host, release(1, join(tmp.path, 'missing'), 1), () => {}),
      /release 1: source .*missing is not a directory/,
    );
    await assert.rejects(
      target.activate(host, release(1, sourceA, 1), () => {}, '../etc'),
      /invalid link name "\.\.\/etc"/,
    );
    await assert.rejects(
      target.upload({ name: 'elsewhere' }, release(1, sourceA, 1), () => {}),
      /the local target has no host "elsewhere"/,
    );
    await assert.rejects(
      target.activate(host, release(1, sourceA, 1, { 'BAD-NAME': 'x' }), () => {}),
      /invalid variable name "BAD-NAME"/,
    );
  });
});
