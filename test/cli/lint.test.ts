// `tandem lint`, `tandem schema` and how the CLI answers bad input: real processes, real files.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../support/git.js';
import { tandem } from './helpers.js';

const VALID = `stages: [build, test]
build:
  stage: build
  script: [make]
test:
  stage: test
  needs: [build]
  script: [make test]
`;

const UNKNOWN_KEY = `build:
  script: [make]
  artifact:
    paths: [out/]
`;

test('lint: a valid file exits 0 and says so', async (t) => {
  const dir = tempDir(t, 'cli-lint');
  await writeFile(path.join(dir, '.gitlab-ci.yml'), VALID);
  const r = await tandem(['lint'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '.gitlab-ci.yml: valid');
});

test('lint: an unknown key is reported as file:line:col and exits 1, also as --json', async (t) => {
  const dir = tempDir(t, 'cli-lint');
  const file = path.join(dir, 'ci.yml');
  await writeFile(file, UNKNOWN_KEY);
  const r = await tandem(['lint', file]);
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:3: error: .*artifact.*did you mean \`artifacts\``, 'm'),
  );

  const j = await tandem(['lint', file, '--json']);
  assert.equal(j.code, 1);
  const diagnostics = JSON.parse(j.stdout) as { file: string; line: number; column: number; severity: string; message: string }[];
  assert.equal(diagnostics.length, 1);
  const [d] = diagnostics;
  assert.deepEqual([d.file, d.line, d.column, d.severity], [file, 3, 3, 'error']);
  assert.match(d.message, /artifact/);
});

test('lint: a YAML syntax error and a missing file name the place', async (t) => {
  const dir = tempDir(t, 'cli-lint');
  await writeFile(path.join(dir, 'broken.yml'), 'job:\n  script: [echo\n');
  const r = await tandem(['lint', 'broken.yml'], { cwd: dir });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^broken\.yml:\d+:\d+: error: /m);

  const missing = await tandem(['lint', 'nope.yml'], { cwd: dir });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.yml: no such file/);
});

test('schema: prints a JSON Schema describing the job keys', async () => {
  const r = await tandem(['schema']);
  assert.equal(r.code, 0, r.stderr);
  const schema = JSON.parse(r.stdout) as {
    $schema: string;
    definitions: { job: { properties: Record<string, unknown>; additionalProperties: unknown } };
    additionalProperties: unknown;
  };
  assert.match(schema.$schema, /json-schema\.org/);
  for (const key of ['script', 'stage', 'needs', 'artifacts', 'rules', 'parallel'])
    assert.ok(key in schema.definitions.job.properties, `job key ${key}`);
  // Unknown keys are errors in Tandem, so editors must flag them too.
  assert.equal(schema.definitions.job.additionalProperties, false);
  assert.deepEqual(schema.additionalProperties, { $ref: '#/definitions/job' });
});

test('bad input: unknown commands and flags fail with a message', async () => {
  const cmd = await tandem(['frobnicate']);
  assert.notEqual(cmd.code, 0);
  assert.match(cmd.stderr, /unknown command 'frobnicate'/);

  const flag = await tandem(['lint', '--bogus']);
  assert.notEqual(flag.code, 0);
  assert.match(flag.stderr, /unknown option '--bogus'/);

  const choice = await tandem(['exec', '--executor', 'docker']);
  assert.notEqual(choice.code, 0);
  assert.match(choice.stderr, /docker.*invalid|invalid.*docker/i);
});

test('bad input: TANDEM_PORT=abc stops `up` before it creates anything, naming the port', async (t) => {
  const dir = tempDir(t, 'cli-port');
  const dataDir = path.join(dir, 'data');
  const r = await tandem(['up', '--data-dir', dataDir], { env: { TANDEM_PORT: 'abc' } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /port/i);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace for a user mistake');
  assert.equal(existsSync(dataDir), false);
  const flag = await tandem(['server', '--port', '70000', '--data-dir', dataDir]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /port/i);
});
