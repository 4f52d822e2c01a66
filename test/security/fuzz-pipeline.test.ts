// Property-based fuzzing of the pipeline compiler with YAML-ish text and with random pipelines
// built from GitLab's keys: whatever the input, compiling ends within a time budget in a pipeline,
// a skip with its reason, or errors that each name a file, line and column; it never throws.
// Fixed seed; `npm run fuzz` runs it longer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { globMatcher } from '../../src/pipeline/glob.js';
import { compilePipeline, type CompileResult } from '../../src/pipeline/index.js';
import { PUSH_MAIN } from '../pipeline/helpers.js';

const RUNS = Number(process.env.TANDEM_FUZZ_RUNS ?? 300);
const SEED = 20261206;
const BUDGET_MS = 2000;

const FILES: Record<string, string> = {
  'ci/a.yml': 'a:\n  script: [echo a]\n',
  'ci/b.yml': '.t:\n  script: [echo t]\n',
  'ci/loop.yml': 'include: ci/loop.yml\n',
  'ci/bad.yml': 'x: [',
};

async function compileChecked(text: string, variables: Record<string, string> = {}): Promise<void> {
  const started = performance.now();
  let result: CompileResult;
  try {
    result = await compilePipeline('.gitlab-ci.yml', text, {
      variables: { ...PUSH_MAIN, ...variables },
      readFile: async (path) => FILES[path] ?? null,
      changedFiles: async () => ['src/a.ts', 'docs/x.md'],
      listFiles: async () => [...Object.keys(FILES), 'src/a.ts', 'package.json'],
      maxJobs: 500,
    });
  } catch (err) {
    assert.fail(`compilePipeline threw ${err instanceof Error ? err.stack : String(err)} for ${JSON.stringify(text.slice(0, 500))}`);
  }
  const ms = performance.now() - started;
  assert.ok(ms < BUDGET_MS, `${ms} ms for ${JSON.stringify(text.slice(0, 500))}`);
  if (result.ok) {
    assert.ok(Array.isArray(result.pipeline.jobs) && result.pipeline.jobs.length > 0);
    JSON.stringify(result.pipeline);
  } else if (result.skipped) {
    assert.ok(result.reason.length > 0);
  } else {
    assert.ok(result.errors.length > 0, 'a failed compilation says why');
    for (const e of result.errors) {
      assert.ok(typeof e.file === 'string' && e.file.length > 0, JSON.stringify(e));
      assert.ok(Number.isInteger(e.line) && e.line >= 1 && Number.isInteger(e.column) && e.column >= 1, JSON.stringify(e));
      assert.ok(e.message.length > 0, JSON.stringify(e));
    }
  }
}

// YAML-ish text: the pieces YAML and GitLab give meaning to, in any order.
const fragment = fc.oneof(
  fc.constantFrom(
    '\n',
    '\n  ',
    '\n    ',
    '- ',
    ': ',
    'job',
    'script',
    'stage',
    'rules',
    'if',
    'needs',
    'extends',
    'parallel',
    'matrix',
    'include',
    '.tpl',
    'variables',
  ),
  fc.constantFrom(
    '&a ',
    '*a',
    '<<: *a',
    '!reference [.tpl, script]',
    '!reference [job]',
    '[',
    ']',
    '{',
    '}',
    ',',
    '"',
    "'",
    '|',
    '>',
    '#',
    '? ',
    '---',
    '...',
    '!!str ',
    '!custom ',
  ),
  fc.constantFrom(
    '$X =~ /^(a+)+$/',
    '/(a)\\1/',
    '"**/*.md"',
    '"*a*a*a*b"',
    '"{a,b"',
    '"[!"',
    '200',
    '201',
    '-1',
    '1e9',
    'null',
    'yes',
    'on',
    'when: never',
    'when: manual',
    'ci/*.yml',
  ),
  fc.string({ maxLength: 8 }),
);
const yamlish = fc.array(fragment, { maxLength: 60 }).map((parts) => parts.join(''));

// Random pipelines from GitLab's keys, written out as YAML.
const name = fc.constantFrom('build', 'test', 'deploy', 'lint', '.tpl', 'job 1', 'a', 'b');
const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer({ min: -5, max: 300 }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('$X', '${X}', '$$', 'main', 'echo $SECRET'),
);
const condition = fc.oneof(
  fc.constantFrom('$CI_COMMIT_BRANCH == "main"', '$X =~ /a+/i', '$X', '($A || $B) && $C', '$X =~ /(?=x)/', '$X !~ $P', '=='),
  fc.string({ maxLength: 20 }),
);
const glob = fc.oneof(
  fc.constantFrom('**/*.md', 'src/**', '*.{ts,js}', '[a-z]*', '*a*a*a*a*b', '\\*', '{', 'ci/*.yml'),
  fc.string({ maxLength: 12 }),
);
const rule = fc.record(
  {
    if: condition,
    when: fc.constantFrom('always', 'never', 'manual', 'on_success', 'delayed', 'bogus'),
    changes: fc.array(glob, { maxLength: 3 }),
    exists: fc.array(glob, { maxLength: 3 }),
    variables: fc.dictionary(fc.constantFrom('X', 'Y'), scalar, { maxKeys: 2 }),
    start_in: fc.constantFrom('1 hour', '2 weeks', 'soon'),
  },
  { requiredKeys: [] },
);
const matrix = fc.array(
  fc.dictionary(fc.constantFrom('A', 'B', 'C'), fc.oneof(scalar, fc.array(scalar, { maxLength: 8 })), { maxKeys: 3 }),
  { maxLength: 3 },
);
const job = fc.record(
  {
    script: fc.oneof(scalar, fc.array(scalar, { maxLength: 4 })),
    stage: fc.constantFrom('build', 'test', 'deploy', '.pre', '.post', 'nowhere'),
    rules: fc.array(rule, { maxLength: 3 }),
    only: fc.oneof(
      fc.array(fc.constantFrom('branches', 'tags', 'main', '/^rel/', '/(a)\\1/'), { maxLength: 3 }),
      fc.record({ refs: fc.array(fc.constantFrom('main', '/x/'), { maxLength: 2 }) }, { requiredKeys: [] }),
    ),
    needs: fc.array(
      fc.oneof(name, fc.record({ job: name, optional: fc.boolean(), parallel: fc.record({ matrix }) }, { requiredKeys: ['job'] })),
      { maxLength: 3 },
    ),
    extends: fc.oneof(name, fc.array(name, { maxLength: 2 })),
    parallel: fc.oneof(fc.integer({ min: -1, max: 250 }), fc.record({ matrix })),
    variables: fc.dictionary(fc.constantFrom('X', 'A', 'SECRET'), scalar, { maxKeys: 3 }),
    environment: fc.oneof(
      scalar,
      fc.record({ name: scalar, url: scalar, action: fc.constantFrom('start', 'stop', 'nope') }, { requiredKeys: [] }),
    ),
    resource_group: scalar,
    artifacts: fc.record(
      { name: scalar, paths: fc.array(glob, { maxLength: 2 }), expire_in: fc.constantFrom('1 day', 'never', 'x') },
      { requiredKeys: [] },
    ),
    cache: fc.record({ key: scalar, paths: fc.array(glob, { maxLength: 2 }) }, { requiredKeys: [] }),
    when: fc.constantFrom('on_success', 'manual', 'delayed', 'always', 'never'),
    retry: fc.oneof(
      fc.integer({ min: -1, max: 3 }),
      fc.record({ max: fc.integer({ min: 0, max: 3 }), when: fc.constantFrom('always', 'script_failure') }),
    ),
    timeout: fc.constantFrom('1h', '10 minutes', 'forever'),
    bogus_key: scalar,
  },
  { requiredKeys: [] },
);
const pipeline = fc.record(
  {
    stages: fc.array(fc.constantFrom('build', 'test', 'deploy', '.pre'), { maxLength: 4 }),
    variables: fc.dictionary(fc.constantFrom('X', 'A', 'B'), scalar, { maxKeys: 3 }),
    workflow: fc.record({ name: scalar, rules: fc.array(rule, { maxLength: 2 }) }, { requiredKeys: [] }),
    include: fc.oneof(
      fc.constantFrom('ci/a.yml', 'ci/*.yml', 'ci/loop.yml', 'ci/bad.yml', '../etc/passwd', '$X.yml'),
      fc.array(
        fc.record(
          { local: fc.constantFrom('ci/a.yml', 'ci/b.yml', 'none.yml'), rules: fc.array(rule, { maxLength: 1 }) },
          { requiredKeys: ['local'] },
        ),
        { maxLength: 2 },
      ),
    ),
    default: fc.record(
      { before_script: fc.array(scalar, { maxLength: 2 }), tags: fc.array(scalar, { maxLength: 2 }) },
      { requiredKeys: [] },
    ),
    jobs: fc.dictionary(name, job, { maxKeys: 6 }),
  },
  { requiredKeys: ['jobs'] },
);

test('YAML-ish text compiles to a result or positioned errors, never a throw, within the budget', async () => {
  await fc.assert(
    fc.asyncProperty(yamlish, fc.dictionary(fc.constantFrom('X', 'P'), fc.string({ maxLength: 10 })), (text, vars) =>
      compileChecked(text, vars),
    ),
    { seed: SEED, numRuns: RUNS },
  );
});

test('random pipelines of GitLab keys compile to a result or positioned errors, never a throw, within the budget', async () => {
  await fc.assert(
    fc.asyncProperty(pipeline, fc.dictionary(fc.constantFrom('X', 'P', 'A'), fc.string({ maxLength: 10 })), (p, vars) => {
      const { jobs, ...top } = p;
      return compileChecked(stringify({ ...top, ...jobs }), vars);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});

test('any glob of rules:changes/exists matches any path in linear time (a boolean, never a throw or a hang)', () => {
  const globText = fc.oneof(
    fc
      .array(fc.constantFrom('*', '**', '**/', '?', '[', ']', '!', '^', '-', '{', '}', ',', '\\', '/', 'a', 'b', '.', 'é', '😀'), {
        maxLength: 40,
      })
      .map((p) => p.join('')),
    fc.string({ maxLength: 40 }),
  );
  const path = fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom(`${'a'.repeat(20_000)}`, 'src/a/b/c.ts', '.hidden/x'));
  fc.assert(
    fc.property(globText, path, (g, p) => {
      const started = performance.now();
      assert.equal(typeof globMatcher([g])(p), 'boolean');
      const ms = performance.now() - started;
      assert.ok(ms < BUDGET_MS / 4, `${ms} ms for ${JSON.stringify(g)}`);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});
