#!/usr/bin/env node
// Outside check (issue 16): a peer's GitLab-semantics cases (gitlab-ci-local's tests/test-cases)
// run through `tandem lint` and `tandem exec --executor shell`.
//
// Usage: node scripts/outside/gcl-cases.mjs <cases-dir> [--only name] [--out results.json]
//   Each case is `<cases-dir>/<name>/` with `repo/` (the pipeline's repository tree) and
//   `case.json`, the GitLab-semantics part of gitlab-ci-local's assertion, rewritten by hand:
//   { "source": "...", "semantic": true, "gitlab": "<docs URL>", "note": "...",
//     "lint": "ok" | { "error": "substring" },
//     "runs": [ { "args": ["job", "--variable", "A=1"],
//                 "status": { "<job>": "success|failed|skipped|manual|absent" },
//                 "log": { "<job>": ["substring", ...] }, "notLog": { "<job|*>": ["substring"] } } ] }
//   Needs a built dist/. Not run by npm test (the cases are third-party files kept outside).
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const cli = join(root, 'dist/src/cli/main.js');
const args = process.argv.slice(2);
const dir = args[0];
const flag = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const only = flag('--only');
const out = flag('--out');
if (!dir) {
  console.error('usage: gcl-cases.mjs <cases-dir> [--only name] [--out results.json]');
  process.exit(2);
}

// ESC sequences and a job's `[name] ` prefix stripped, the summary table parsed.
const ansiColour = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const plain = (text) => text.replace(ansiColour, '');
function parseExec(stdout) {
  const logs = {};
  const status = {};
  const lines = plain(stdout)
    .split('\n')
    .map((l) => l.trimEnd());
  const table = lines.findIndex((l) => /^STAGE\s+NAME\s+STATUS/.test(l));
  for (const line of table >= 0 ? lines.slice(table + 1) : []) {
    const m = /^(\S+)\s+(.+?)\s+(success|failed|skipped|manual|canceled|created|pending|running|scheduled)\s+\S+$/.exec(line);
    if (m) status[m[2].trim()] = m[3];
  }
  // Job names may hold brackets (`build: [a, b]`): match the longest known name.
  const names = Object.keys(status).sort((a, b) => b.length - a.length);
  for (const line of table >= 0 ? lines.slice(0, table) : lines) {
    const name = names.find((n) => line.startsWith(`[${n}]`)) ?? /^\[([^\]]+)\]/.exec(line)?.[1];
    if (name) (logs[name] ??= []).push(line.slice(name.length + 2).trimStart());
  }
  return { logs, status };
}

function check(run, result) {
  const problems = [];
  for (const [job, want] of Object.entries(run.status ?? {})) {
    const got = result.status[job] ?? 'absent';
    if (got !== want) problems.push(`${job}: status ${got}, want ${want}`);
  }
  for (const [job, subs] of Object.entries(run.log ?? {})) {
    const text = (result.logs[job] ?? []).join('\n');
    for (const s of subs) if (!text.includes(s)) problems.push(`${job}: log lacks ${JSON.stringify(s)}`);
  }
  for (const [job, subs] of Object.entries(run.notLog ?? {})) {
    const text = job === '*' ? Object.values(result.logs).flat().join('\n') : (result.logs[job] ?? []).join('\n');
    for (const s of subs) if (text.includes(s)) problems.push(`${job}: log has ${JSON.stringify(s)}`);
  }
  return problems;
}

const results = [];
for (const name of readdirSync(dir).sort()) {
  if (only && name !== only) continue;
  const casePath = join(dir, name, 'case.json');
  if (!existsSync(casePath)) continue;
  const spec = JSON.parse(readFileSync(casePath, 'utf8'));
  const repo = mkdtempSync(join(tmpdir(), 'outside-gcl-'));
  const problems = [];
  try {
    cpSync(join(dir, name, 'repo'), repo, { recursive: true });
    const git = (...a) => execFileSync('git', a, { cwd: repo, stdio: 'pipe' });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('-c', 'user.email=outside@example.com', '-c', 'user.name=Outside', 'commit', '-qm', 'case');
    const lint = spawnSync('node', [cli, 'lint', '--json'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    let diagnostics = [];
    try {
      diagnostics = JSON.parse(lint.stdout);
    } catch {
      diagnostics = [{ severity: 'error', message: `crash: ${(lint.stderr || lint.stdout).slice(0, 300)}` }];
    }
    const errors = diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line ?? ''}:${d.column ?? ''} ${d.message}`);
    const wantLint = spec.lint ?? 'ok';
    if (wantLint === 'ok' && errors.length) problems.push(`lint: ${errors.join(' | ')}`);
    if (wantLint !== 'ok') {
      if (!errors.some((e) => e.includes(wantLint.error)))
        problems.push(`lint: want error ~${JSON.stringify(wantLint.error)}, got ${errors.join(' | ') || 'none'}`);
    }
    for (const run of spec.runs ?? []) {
      if (wantLint !== 'ok') break;
      const exec = spawnSync('node', [cli, 'exec', '--executor', 'shell', '--concurrency', '1', ...run.args], {
        cwd: repo,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, ...(run.env ?? {}) },
      });
      const parsed = parseExec(exec.stdout ?? '');
      const p = check(run, parsed);
      if (p.length) {
        problems.push(...p.map((x) => `[${run.args.join(' ')}] ${x}`));
        if (!Object.keys(parsed.status).length)
          problems.push(`[${run.args.join(' ')}] exec output: ${plain((exec.stdout + exec.stderr).slice(-400))}`);
      }
    }
  } catch (error) {
    problems.push(`harness: ${error.message}`);
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
  const verdict = problems.length ? 'disagree' : 'agree';
  results.push({ name, semantic: spec.semantic !== false, verdict, problems, note: spec.note });
  console.log(`${verdict.padEnd(8)} ${name}${problems.length ? '\n    ' + problems.join('\n    ') : ''}`);
}
const semantic = results.filter((r) => r.semantic);
const agree = semantic.filter((r) => r.verdict === 'agree').length;
console.log(
  `\n${semantic.length} semantic cases: ${agree} agree, ${semantic.length - agree} disagree (${semantic.length ? Math.round((100 * agree) / semantic.length) : 0}%)`,
);
if (out) writeFileSync(out, JSON.stringify(results, null, 2));
