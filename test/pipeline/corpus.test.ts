// The GitLab-fidelity corpus: real-world-shaped pipeline files, each with what GitLab's documentation
// says happens to it. Every directory under test/pipeline/corpus/ is one case:
//
//   repo/         the repository at the pipeline's commit (.gitlab-ci.yml at its root, included files)
//   expect.json   { "gitlab": "<docs.gitlab.com URL>", "why": "...", "lint": ..., "jobs": ..., "exec": ... }
//
// The case's repo/ is committed into a fresh git repository (real git), linted the way `tandem lint`
// lints it (lintFile with the deploy parser's check), and, when `exec` is given, run with the real
// `tandem exec` CLI (the unit loop, `npm run test:unit`, leaves the exec part out: it sets
// TANDEM_CORPUS_EXEC=0; `npm test` runs it). A case whose expectation Tandem does not meet yet carries `"pending": "<what
// differs>"`: it still runs, and is reported as a todo with that reason (a failure there does not
// fail the suite; a pending case that passes says so, so the mark can be dropped).
//
// expect.json fields (unknown fields are an error, so a misspelt expectation cannot pass silently):
//   gitlab     required: the docs.gitlab.com page of the behaviour the case pins
//   why        one line: what the case shows
//   pending    what Tandem does differently from GitLab, for now
//   commit     the commit message (default "Corpus case <name>"), for CI_COMMIT_* cases
//   variables  variables lint compiles with, over lint's defaults (a push to main), e.g. CI_COMMIT_TAG
//   lint       "ok" (no errors, no warnings) | "skipped" (workflow:rules ran nothing) |
//              { "errors": [...], "warnings": [...] }: substrings of the diagnostics as `tandem lint`
//              prints them, `file:line:column: severity: message` with the file relative to the
//              repository; every substring must match a diagnostic and every diagnostic a substring
//   pipeline   partial compiled pipeline: { "stages": [...], "variables": {...}, "name": "..." }
//   jobs       { "<job>": <partial compiled job> | null }: null means the job must not be created
//   exec       { "args": [...], "pipeline": "success" | "failed", "jobs": { "<job>": "<status in exec's
//              summary, e.g. success, failed (allowed), skipped, manual>" }, "log": { "<job>": [...] },
//              "notInLog": { "<job>": [...] }, "timeoutSeconds": 60 }: substrings that must (must not)
//              be in the job's output (its echoed commands left out)
//
// Partial matching: objects match when every key given matches (others are ignored); arrays match
// element by element and must have the same length; anything else must be equal.
import assert from 'node:assert/strict';
import { cp, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { z } from 'zod';
import { checkDeployBlock } from '../../src/deploy/index.js';
import { formatDiagnostic, lintFile, type Diagnostic } from '../../src/pipeline/index.js';
import { execSummary, tandem } from '../cli/helpers.js';
import { git, repoRoot, tempDir } from '../support/git.js';

const CORPUS = path.join(repoRoot(), 'test', 'pipeline', 'corpus');

const diagnosticsExpectation = z.strictObject({
  errors: z.array(z.string().min(1)).optional(),
  warnings: z.array(z.string().min(1)).optional(),
});

const expectation = z.strictObject({
  gitlab: z.string().regex(/^https:\/\/docs\.gitlab\.com\//, 'must be a https://docs.gitlab.com/ URL'),
  why: z.string().optional(),
  pending: z.string().min(1).optional(),
  commit: z.string().min(1).optional(),
  variables: z.record(z.string(), z.string()).optional(),
  lint: z.union([z.literal('ok'), z.literal('skipped'), diagnosticsExpectation]).optional(),
  pipeline: z.record(z.string(), z.unknown()).optional(),
  jobs: z.record(z.string(), z.record(z.string(), z.unknown()).nullable()).optional(),
  exec: z
    .strictObject({
      args: z.array(z.string()).optional(),
      pipeline: z.enum(['success', 'failed']).optional(),
      jobs: z.record(z.string(), z.string()).optional(),
      log: z.record(z.string(), z.array(z.string())).optional(),
      notInLog: z.record(z.string(), z.array(z.string())).optional(),
      timeoutSeconds: z.number().positive().optional(),
    })
    .optional(),
});
type Expectation = z.infer<typeof expectation>;

/** Differences between an expected partial value and the actual one, as `path: expected X, got Y`. */
function partialDiff(expected: unknown, actual: unknown, at: string): string[] {
  const show = (v: unknown) => JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${at}: expected ${show(expected)}, got ${show(actual)}`];
    if (expected.length !== actual.length) return [`${at}: expected ${expected.length} items ${show(expected)}, got ${show(actual)}`];
    return expected.flatMap((e, i) => partialDiff(e, actual[i], `${at}[${i}]`));
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual))
      return [`${at}: expected ${show(expected)}, got ${show(actual)}`];
    const record = actual as Record<string, unknown>;
    return Object.entries(expected).flatMap(([k, e]) => partialDiff(e, record[k], `${at}.${k}`));
  }
  return Object.is(expected, actual) ? [] : [`${at}: expected ${show(expected)}, got ${show(actual)}`];
}

/** Every expected substring matches a diagnostic and every diagnostic is expected. */
function diagnosticsDiff(kind: 'errors' | 'warnings', expected: string[], shown: string[]): string[] {
  const problems: string[] = [];
  for (const e of expected) if (!shown.some((s) => s.includes(e))) problems.push(`lint.${kind}: nothing matches ${JSON.stringify(e)}`);
  for (const s of shown) if (!expected.some((e) => s.includes(e))) problems.push(`lint.${kind}: unexpected ${JSON.stringify(s)}`);
  return problems;
}

/** The case's repo/ as a git repository of one commit, in a temporary folder. */
async function committedRepo(t: TestContext, name: string, expect: Expectation): Promise<string> {
  const dir = tempDir(t, `corpus-${name}`);
  await cp(path.join(CORPUS, name, 'repo'), dir, { recursive: true });
  await git(dir, 'init', '--quiet', '-b', 'main');
  await git(dir, 'add', '--all');
  await git(dir, 'commit', '--quiet', '-m', expect.commit ?? `Corpus case ${name}`);
  return dir;
}

async function lintProblems(dir: string, expect: Expectation): Promise<string[]> {
  const result = await lintFile(path.join(dir, '.gitlab-ci.yml'), { checkDeployBlock, variables: expect.variables });
  const shown = (d: Diagnostic) => formatDiagnostic({ ...d, file: path.relative(dir, d.file) });
  const errors = result.diagnostics.filter((d) => d.severity === 'error').map(shown);
  const warnings = result.diagnostics.filter((d) => d.severity === 'warning').map(shown);
  const compiled = result.result;
  const problems: string[] = [];
  const lint = expect.lint ?? 'ok';
  if (lint === 'skipped') {
    if (!(!compiled.ok && compiled.skipped)) problems.push(`lint: expected workflow:rules to skip the pipeline, it did not`);
    problems.push(...diagnosticsDiff('errors', [], errors));
  } else {
    if (!compiled.ok && compiled.skipped) problems.push(`lint: the pipeline was skipped by workflow:rules (${compiled.reason})`);
    problems.push(
      ...diagnosticsDiff('errors', lint === 'ok' ? [] : (lint.errors ?? []), errors),
      ...diagnosticsDiff('warnings', lint === 'ok' ? [] : (lint.warnings ?? []), warnings),
    );
  }
  if (expect.pipeline || expect.jobs) {
    if (!compiled.ok) return [...problems, 'pipeline/jobs: expected a compiled pipeline, there is none'];
    if (expect.pipeline) problems.push(...partialDiff(expect.pipeline, compiled.pipeline, 'pipeline'));
    for (const [name, want] of Object.entries(expect.jobs ?? {})) {
      const job = compiled.pipeline.jobs.find((j) => j.name === name);
      if (want === null) {
        if (job) problems.push(`jobs.${name}: expected no such job, it was created`);
      } else if (!job) {
        problems.push(`jobs.${name}: no such job; jobs are ${compiled.pipeline.jobs.map((j) => j.name).join(', ')}`);
      } else {
        problems.push(...partialDiff(want, job, `jobs.${name}`));
      }
    }
  }
  return problems;
}

// eslint-disable-next-line no-control-regex -- the echo is coloured: ANSI codes start with ESC
const ECHOED_COMMAND = /^(?:\x1b\[[\d;]*m)?\$ /;

async function execProblems(dir: string, exec: NonNullable<Expectation['exec']>): Promise<string[]> {
  const r = await tandem(['exec', ...(exec.args ?? [])], { cwd: dir, timeoutMs: (exec.timeoutSeconds ?? 60) * 1000 });
  const output = `--- tandem exec exited ${r.code}\n${r.stdout}${r.stderr}`;
  const problems: string[] = [];
  const status = /^pipeline (\w+)$/m.exec(r.stdout)?.[1];
  if (exec.pipeline && status !== exec.pipeline)
    problems.push(`exec.pipeline: expected ${exec.pipeline}, got ${status ?? 'no pipeline line'}`);
  const rows = execSummary(r.stdout);
  for (const [name, want] of Object.entries(exec.jobs ?? {})) {
    const got = rows.get(name);
    if (got !== want) problems.push(`exec.jobs.${name}: expected ${want}, got ${got ?? 'no such job in the summary'}`);
  }
  // A job's output: its lines in exec's output, less the echoed commands (`$ echo ok` holds "ok").
  const logOf = (name: string) =>
    r.stdout
      .split('\n')
      .filter((l) => l.startsWith(`[${name}] `))
      .map((l) => l.slice(name.length + 3))
      .filter((l) => !ECHOED_COMMAND.test(l))
      .join('\n');
  for (const [name, wanted] of Object.entries(exec.log ?? {}))
    for (const w of wanted) if (!logOf(name).includes(w)) problems.push(`exec.log.${name}: no ${JSON.stringify(w)} in its log`);
  for (const [name, unwanted] of Object.entries(exec.notInLog ?? {}))
    for (const u of unwanted) if (logOf(name).includes(u)) problems.push(`exec.notInLog.${name}: ${JSON.stringify(u)} is in its log`);
  return problems.length > 0 ? [...problems, output] : [];
}

/** The case's expect.json, checked; an invalid one fails the case, saying what is wrong. */
async function readExpectation(name: string): Promise<Expectation> {
  const file = path.join(CORPUS, name, 'expect.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    return assert.fail(`${name}/expect.json: ${(e as Error).message}`);
  }
  const read = expectation.safeParse(json);
  if (!read.success) assert.fail(`${name}/expect.json is invalid:\n${z.prettifyError(read.error)}`);
  return read.data;
}

const names = (await readdir(CORPUS, { withFileTypes: true }))
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

// Two at a time: a `tandem exec` case mostly waits for its child processes.
describe('GitLab-fidelity corpus (test/pipeline/corpus)', { concurrency: 2 }, () => {
  test('the corpus has cases', () => assert.ok(names.length > 0));

  for (const name of names) {
    test(name, async (t) => {
      const expect = await readExpectation(name);
      if (expect.pending) t.todo(expect.pending);
      const noPipeline = expect.lint === 'skipped' || (typeof expect.lint === 'object' && (expect.lint.errors ?? []).length > 0);
      if (noPipeline && (expect.exec || expect.jobs || expect.pipeline))
        assert.fail(`${name}/expect.json: exec, jobs and pipeline need a pipeline, which lint errors or a skip leave out`);
      const dir = await committedRepo(t, name, expect);
      const runExec = expect.exec !== undefined && process.env.TANDEM_CORPUS_EXEC !== '0';
      if (expect.exec && !runExec) t.diagnostic(`${name}: exec left out (TANDEM_CORPUS_EXEC=0)`);
      const problems = [...(await lintProblems(dir, expect)), ...(expect.exec && runExec ? await execProblems(dir, expect.exec) : [])];
      if (problems.length > 0) assert.fail(`corpus case ${name} (${expect.gitlab}):\n  ${problems.join('\n  ')}`);
      if (expect.pending && (runExec || !expect.exec)) t.diagnostic(`${name} now behaves as GitLab does: drop its "pending" mark`);
    });
  }
});
