#!/usr/bin/env node
// Outside check (issue 16): runs real public pipeline files through `tandem lint`.
//
// Usage: node scripts/outside/lint-real.mjs <dir> [--out results.json]
//   <dir> holds one `<name>.yml` per pipeline file; files it includes with `include: local`
//   go in `<name>.files/` (their repository layout). Each is linted in a fresh git repository
//   as `.gitlab-ci.yml`. Needs a built dist/ (`npx tsc -p tsconfig.json`). Not run by npm test:
//   the public files have their own licenses and live outside the repository.
//
// Rejections are pre-classified: `network` when an error is about an include that needs the
// network (project/remote/template/component); everything else is left for a human to judge.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const cli = join(root, 'dist/src/cli/main.js');
const args = process.argv.slice(2);
const dir = args[0];
const outIndex = args.indexOf('--out');
const out = outIndex >= 0 ? args[outIndex + 1] : undefined;
if (!dir) {
  console.error('usage: lint-real.mjs <dir> [--out results.json]');
  process.exit(2);
}

// An include that needs the network makes the rest unjudgeable (its jobs and templates are missing).
const NETWORK =
  /include(\[\d+\])?[.:]\s*(project|remote|template|component)|only include:local|include:(remote|template|project|component)|reads no file outside the repository/i;

const results = [];
for (const name of readdirSync(dir)
  .filter((f) => f.endsWith('.yml'))
  .sort()) {
  const repo = mkdtempSync(join(tmpdir(), 'outside-lint-'));
  try {
    execFileSync('git', ['init', '-q'], { cwd: repo });
    const sidecar = join(dir, name.replace(/\.yml$/, '.files'));
    if (existsSync(sidecar)) cpSync(sidecar, repo, { recursive: true });
    cpSync(join(dir, name), join(repo, '.gitlab-ci.yml'));
    const run = spawnSync('node', [cli, 'lint', '--json'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    let diagnostics;
    try {
      diagnostics = JSON.parse(run.stdout);
    } catch {
      diagnostics = [{ severity: 'error', message: `crash: ${(run.stderr || run.stdout).slice(0, 500)}` }];
    }
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const warnings = diagnostics.filter((d) => d.severity !== 'error');
    // A skipped foreign include (a warning since `lint --remote` exists) explains the errors it causes.
    const needsNetwork = diagnostics.some((d) => NETWORK.test(d.message));
    const klass = errors.length === 0 ? 'accepted' : needsNetwork ? 'network' : 'rejected';
    results.push({ name, status: run.status, class: klass, errors, warnings });
    const first = errors.map((e) => `${e.file ?? ''}:${e.line ?? ''}:${e.column ?? ''} ${e.message}`).join('\n    ');
    console.log(`${klass.padEnd(8)} ${name}${first ? `\n    ${first}` : ''}`);
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}
const count = (k) => results.filter((r) => r.class === k).length;
console.log(
  `\n${results.length} files: ${count('accepted')} accepted, ${count('network')} need the network, ${count('rejected')} rejected`,
);
if (out) writeFileSync(out, JSON.stringify(results, null, 2));
