// Attacks on the pipeline compiler through YAML aliases, merge keys and `!reference`: a few hundred
// bytes that expand to billions of values used to exhaust the server's heap, or store a job of
// millions of lines. Each must end in a positioned error, quickly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_EXPANDED_VALUES, MAX_FILE_BYTES } from '../../src/pipeline/limits.js';
import { compileErrors, compileOk } from '../pipeline/helpers.js';
import { aliasBomb, referenceBlowUp } from './hostile-pipelines.js';

const FAST_MS = 2000;

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

test('a 351-byte alias bomb (9 levels of 9 aliases) is refused at the alias that expands it, not expanded', async () => {
  const bomb = aliasBomb();
  assert.ok(bomb.length <= 351, `the attack file is ${bomb.length} bytes`);
  const { value: errors, ms } = await timed(() => compileErrors(bomb));
  assert.ok(ms < FAST_MS, `took ${ms} ms`);
  const error = errors.find((e) => e.message.includes('expands the configuration past'));
  assert.ok(error, JSON.stringify(errors));
  assert.match(error.message, /alias \*\d/);
  assert.equal(error.file, '.gitlab-ci.yml');
  assert.ok(error.line >= 2 && error.column > 1, `${error.line}:${error.column}`);
});

test('an alias bomb through merge keys is refused too', async () => {
  const lines = ['.m0: &m0 {a: "x", b: "x", c: "x", d: "x", e: "x", f: "x", g: "x", h: "x"}'];
  for (let i = 1; i < 9; i++)
    lines.push(
      `.m${i}: &m${i} {${'abcdefgh'
        .split('')
        .map((k) => `${k}: *m${i - 1}`)
        .join(', ')}}`,
    );
  const file = `${lines.join('\n')}\njob:\n  script: [echo]\n  variables:\n    <<: *m8\n`;
  const { value: errors, ms } = await timed(() => compileErrors(file));
  assert.ok(ms < FAST_MS, `took ${ms} ms`);
  assert.ok(
    errors.some((e) => e.message.includes('expands the configuration past')),
    JSON.stringify(errors),
  );
});

test('a 1.1 KB !reference blow-up (9 levels, each referencing the one below 5 times: 2 million lines) is refused at the reference', async () => {
  const file = referenceBlowUp();
  assert.ok(file.length < 1200, `the attack file is ${file.length} bytes`);
  const { value: errors, ms } = await timed(() => compileErrors(file));
  assert.ok(ms < FAST_MS, `took ${ms} ms`);
  const error = errors.find((e) => e.message.includes('!reference [') && e.message.includes('expands the configuration past'));
  assert.ok(error, JSON.stringify(errors));
  assert.ok(error.line >= 2, `${error.line}:${error.column}`);
});

test('YAML nested deeper than 100 levels is refused before the parser recurses into it', async () => {
  for (const file of [
    `job: {script: [echo], variables: ${'['.repeat(200_000)}${']'.repeat(200_000)}}`,
    `job:\n  script: [echo]\n  x: ${'['.repeat(101)}${']'.repeat(101)}`,
  ]) {
    const { value: errors, ms } = await timed(() => compileErrors(file));
    assert.ok(ms < FAST_MS, `took ${ms} ms`);
    const line = file.split('\n').findIndex((l) => l.includes('[[[')) + 1;
    assert.ok(
      errors.some((e) => e.message.includes('nests more than 100 levels deep') && e.line === line),
      JSON.stringify(errors),
    );
  }
  const block = `job:\n  script: [echo]\n  x:\n${Array.from({ length: 600 }, (_, i) => `${' '.repeat(i + 4)}k${i}:`).join('\n')} v\n`;
  const errors = await compileErrors(block);
  assert.ok(
    errors.some((e) => e.message.includes('nests more than 100 levels deep')),
    JSON.stringify(errors),
  );
});

test('a pipeline file over 2 MB is refused without being parsed', async () => {
  const file = `job:\n  script:\n${'    - echo padding padding padding padding\n'.repeat(Math.ceil(MAX_FILE_BYTES / 40))}`;
  const errors = await compileErrors(file);
  assert.ok(
    errors.some((e) => e.message.includes('a pipeline file may have at most')),
    JSON.stringify(errors),
  );
});

test('ordinary anchors, merge keys and references still work well under the limits', async () => {
  const templates = Array.from({ length: 200 }, (_, i) => `job${i}:\n  <<: *base\n  script: !reference [.setup, script]`).join('\n');
  const pipeline = await compileOk(
    `.base: &base\n  stage: test\n  variables: {A: "1"}\n.setup:\n  script: [echo one, echo two]\n${templates}\n`,
  );
  assert.equal(pipeline.jobs.length, 200);
  assert.deepEqual(pipeline.jobs[0].script, ['echo one', 'echo two']);
  assert.ok(MAX_EXPANDED_VALUES >= 100_000);
});
