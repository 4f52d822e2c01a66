// Issue 14 item 16: `tandem up` ran jobs with the shell executor, as the server's user, with
// admin.token readable. The sandbox is now the default where bubblewrap works; where it does not,
// the fall back to the shell is said at startup and in the log, with the reason.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { chooseHostExecutor, sandboxAvailable } from '../../src/executor/index.js';
import { startLive, type LiveTandem } from '../cli/helpers.js';

const available = await sandboxAvailable();

/** Waits until `output()` matches, for lines printed after the "listening" one. */
async function printed(live: LiveTandem, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(live.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return live.output();
}

describe('the sandbox is the default executor, and a fall back to the shell is said plainly', () => {
  const started: LiveTandem[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const live of started) await live.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('agents and tandem up default to auto', () => {
    assert.equal(loadConfig({}, {}).executor, 'auto');
  });

  it('auto without bubblewrap falls back to the shell and gives the reason', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    let choice: Awaited<ReturnType<typeof chooseHostExecutor>>;
    try {
      choice = await chooseHostExecutor('auto');
    } finally {
      process.env.PATH = path;
    }
    assert.equal(choice.executor.name, 'shell');
    assert.match(
      choice.warnings.join('\n'),
      /no sandbox \(bubblewrap \(bwrap\) is not installed\): jobs run with the shell executor, unconfined/,
    );
    await assert.rejects(async () => {
      process.env.PATH = '/nonexistent';
      try {
        await chooseHostExecutor('sandbox');
      } finally {
        process.env.PATH = path;
      }
    }, /sandbox requested, but bubblewrap \(bwrap\) is not installed/);
  });

  it(
    'tandem up runs jobs in the sandbox where bubblewrap works, and says so',
    { skip: available ? false : 'bwrap unavailable' },
    async () => {
      const dir = await mkdtemp('/var/tmp/tandem-sec-default-');
      dirs.push(dir);
      const live = await startLive([
        'up',
        '--port',
        '0',
        '--data-dir',
        join(dir, 'data'),
        '--log-level',
        'warn',
        '--container-engine',
        'none',
      ]);
      started.push(live);
      const output = await printed(live, /Jobs without an image run with the \w+ executor/);
      assert.match(output, /Jobs without an image run with the sandbox executor/, output);
      assert.doesNotMatch(output, /no sandbox/);
    },
  );

  it('tandem up without bubblewrap warns at startup and in the log that jobs run unconfined', async () => {
    const dir = await mkdtemp('/var/tmp/tandem-sec-default-');
    dirs.push(dir);
    // No bwrap on this PATH; node itself is started by its absolute path.
    const live = await startLive(
      ['up', '--port', '0', '--data-dir', join(dir, 'data'), '--log-level', 'warn', '--container-engine', 'none'],
      { env: { PATH: dir } },
    );
    started.push(live);
    const output = await printed(live, /Jobs without an image run with the \w+ executor/);
    assert.match(
      output,
      /^WARNING: no sandbox \(bubblewrap \(bwrap\) is not installed\): jobs run with the shell executor, unconfined/m,
      output,
    );
    assert.match(output, /Jobs without an image run with the shell executor/);
    // Each agent logs it at warn too (pino JSON on stderr).
    const logged = await printed(live, /"level":40[^\n]*no sandbox/);
    assert.match(logged, /"level":40[^\n]*no sandbox \(bubblewrap \(bwrap\) is not installed\)/);
  });
});
