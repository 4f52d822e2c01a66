import assert from 'node:assert/strict';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createTarget,
  StaleFencingTokenError,
  TargetError,
  type ScriptTarget,
  type ScriptTargetSpec,
} from '../../src/deploy/targets/index.js';
import { logLines, makeSource, release, tempDir, type TempDir } from './targets-fixtures.js';

let tmp: TempDir;
let source: string;
let record: string;
let stateCount = 0;

before(async () => {
  tmp = await tempDir('tandem-targets-script-');
  source = await makeSource(tmp.path, 'chart', { 'Chart.yaml': 'name: demo\n' });
  record = join(tmp.path, 'record');
});
after(() => tmp.remove());

/** What a helm or kubectl wrapper would see: the command, where it runs, and the release. */
const note = (what: string) =>
  `echo "${what} $PWD $TANDEM_RELEASE_DIR $TANDEM_RELEASE_ID $TANDEM_RELEASE_VERSION $TANDEM_ENVIRONMENT $(cat Chart.yaml)" >> ${record}`;

function scriptTarget(spec: Omit<ScriptTargetSpec, 'kind'>): ScriptTarget {
  const target = createTarget({ kind: 'script', ...spec }, { workDir: join(tmp.path, `state-${++stateCount}`) });
  assert.equal(target.kind, 'script');
  return target;
}

async function recorded(): Promise<string[]> {
  return (await readFile(record, 'utf8')).trim().split('\n');
}

describe('script target', () => {
  it('runs deploy, verify and rollback in the release source with the release environment', async () => {
    const target = scriptTarget({ deploy: note('deploy'), verify: note('verify'), rollback: note('rollback') });
    const host = target.hosts[0];
    const { log, lines } = logLines();
    const dir = await realpath(source);
    assert.equal(await target.current(host), null);

    await target.upload(host, release(4, source, 1), log);
    await target.activate(host, release(4, source, 1), log);
    assert.equal(await target.current(host), 4);
    assert.equal(await target.runScript('verify', release(4, source, 1), log), true);
    assert.equal(await target.current(host), 4, 'verify changes nothing');
    await target.activate(host, release(5, source, 2), log);
    assert.equal(await target.runScript('rollback', release(4, source, 2), log), true);
    assert.equal(await target.current(host), 4, 'the release rolled back to is current');

    assert.deepEqual(await recorded(), [
      `deploy ${dir} ${source} 4 v4 staging name: demo`,
      `verify ${dir} ${source} 4 v4 staging name: demo`,
      `deploy ${dir} ${source} 5 v5 staging name: demo`,
      `rollback ${dir} ${source} 4 v4 staging name: demo`,
    ]);
    assert.ok(lines.includes(`[script] deploy: ${note('deploy')}`), lines.join('\n'));
    assert.equal(await target.has(host, 4), false, 'the script target keeps no files');
    assert.deepEqual(await target.prune(host, 1, 2), []);
  });

  it('tells a command that is not configured', async () => {
    const target = scriptTarget({ deploy: 'true' });
    assert.equal(await target.runScript('verify', release(1, source, 1), () => {}), false);
    assert.equal(await target.runScript('rollback', release(1, source, 1), () => {}), false);
  });

  it('reports a failing deploy with its exit code and stderr, and keeps the current release', async () => {
    const target = scriptTarget({ deploy: 'if [ "$TANDEM_RELEASE_ID" = 2 ]; then echo "Error: UPGRADE FAILED" >&2; exit 1; fi' });
    const host = target.hosts[0];
    await target.activate(host, release(1, source, 1), () => {});
    await assert.rejects(
      target.activate(host, release(2, source, 1), () => {}),
      (err: unknown) => {
        assert.ok(err instanceof TargetError);
        assert.match(err.message, /^script: deploy \(if .*\) exited with code 1\nError: UPGRADE FAILED$/);
        return true;
      },
    );
    assert.equal(await target.current(host), 1);
  });

  it('refuses a stale fencing token before running any command', async () => {
    const target = scriptTarget({ deploy: note('fenced-deploy'), rollback: note('fenced-rollback') });
    const host = target.hosts[0];
    await target.activate(host, release(1, source, 9), () => {});
    const stale = (err: unknown) => err instanceof StaleFencingTokenError && err.token === 8 && err.seen === 9;
    await assert.rejects(
      target.upload(host, release(2, source, 8), () => {}),
      stale,
    );
    await assert.rejects(
      target.activate(host, release(2, source, 8), () => {}),
      stale,
    );
    await assert.rejects(
      target.runScript('rollback', release(0, source, 8), () => {}),
      stale,
    );
    await assert.rejects(target.prune(host, 1, 8), stale);
    assert.deepEqual(
      (await recorded()).filter((l) => l.startsWith('fenced-')),
      [`fenced-deploy ${await realpath(source)} ${source} 1 v1 staging name: demo`],
    );
    assert.equal(await target.current(host), 1);
  });

  it('takes no service commands', () => {
    assert.throws(
      () => createTarget({ kind: 'script', deploy: 'true' }, { workDir: tmp.path, service: { restart: 'x' } }),
      /deploy.service: a script target runs its own commands/,
    );
  });
});
