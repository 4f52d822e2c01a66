// `tandem completion bash|zsh|fish`: the scripts come from the commander program, and bash really
// completes with the generated one (sourced in a real bash, completion driven as bash drives it).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { serviceSkip } from '../support/skip.js';
import { tandem } from './helpers.js';

/** Runs bash with the script sourced; each `t word...` line prints what bash would offer after those words. */
function bashCompletes(script: string, lines: string[]): string[] {
  const drive = 't() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _tandem; echo "${COMPREPLY[*]}"; }';
  const r = spawnSync(
    'bash',
    ['-c', `source /dev/stdin <<'TANDEM_EOF'\n${script}TANDEM_EOF\ncomplete -p tandem\n${drive}\n${lines.join('\n')}`],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  return r.stdout.trimEnd().split('\n');
}

function shellPresent(shell: string): boolean {
  return spawnSync(shell, ['-c', 'true']).status === 0;
}

test('completion bash: registers for tandem and completes subcommands and options by path', async () => {
  const r = await tandem(['completion', 'bash']);
  assert.equal(r.code, 0, r.stderr);
  const [registered, top, repo, runOpts, afterOption, leaf] = bashCompletes(r.stdout, [
    't tandem ""',
    't tandem repo ""',
    't tandem run list --j',
    't tandem --server http://x schedule r',
    't tandem var set --',
  ]);
  assert.match(registered, /^complete .*-F _tandem tandem$/);
  for (const name of ['run', 'repo', 'schedule', 'var', 'artifact', 'completion']) assert.ok(top.split(' ').includes(name), top);
  assert.deepEqual(repo.split(' ').sort(), ['add', 'edit', 'list', 'rm']);
  assert.equal(runOpts, '--json');
  // `run` of `schedule`, not the top-level `run`: the path decides.
  assert.deepEqual(afterOption.split(' ').sort(), ['rm', 'run']);
  assert.ok(leaf.split(' ').includes('--masked') && leaf.split(' ').includes('--server'), leaf);
});

for (const shell of ['zsh', 'fish'] as const) {
  const missingShell = serviceSkip(`the ${shell} completion check`, () =>
    shellPresent(shell) ? null : `${shell} is not installed (bash scripts/services.sh install)`,
  );

  test(`completion ${shell}: names the subcommands`, async () => {
    const r = await tandem(['completion', shell]);
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['run', 'repo', 'schedule', 'rotate-master']) assert.match(r.stdout, new RegExp(`\\b${name}\\b`));
  });

  test(`completion ${shell}: the shell itself parses the script`, { skip: missingShell() }, async () => {
    const r = await tandem(['completion', shell]);
    // A file, not stdin: fish -n checks nothing it reads from a pipe.
    const dir = await mkdtemp(path.join(tmpdir(), 'tandem-completion-'));
    try {
      const file = path.join(dir, `tandem.${shell}`);
      await writeFile(file, r.stdout);
      const check = spawnSync(shell, ['-n', file], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('completion: an unknown shell is refused naming the choices', async () => {
  const r = await tandem(['completion', 'tcsh']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bash, zsh, fish/);
});
