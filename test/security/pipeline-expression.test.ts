// The rules:if parser and evaluator recursed once per `&&`/`||` operand and per parenthesis, and
// variable resolution once per link of a reference chain: 20,000 operands, parentheses 5,000 deep
// or a long chain of variables overflowed the stack (a RangeError, so an HTTP 500 instead of an
// error of the pipeline file).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpressionError, evaluateExpression, resolveVariables } from '../../src/pipeline/index.js';
import { compileErrors, compileOk, PUSH_MAIN } from '../pipeline/helpers.js';

test('100,000 operands joined by && and || evaluate without recursion as deep', () => {
  assert.equal(evaluateExpression(`${'$A && '.repeat(100_000)}$A`, { A: 'x' }), true);
  assert.equal(evaluateExpression(`${'$B || '.repeat(100_000)}$A`, { A: 'x' }), true);
  assert.equal(evaluateExpression(`${'$A && '.repeat(100_000)}$B`, { A: 'x' }), false);
});

test('parentheses nested 100,000 deep are a positioned error, also when the file is checked', async () => {
  const deep = `${'('.repeat(100_000)}$A${')'.repeat(100_000)}`;
  assert.throws(
    () => evaluateExpression(deep, { A: 'x' }),
    (err) => err instanceof ExpressionError && err.column === 101 && /nested more than 100 deep/.test(err.message),
  );
  const errors = await compileErrors(`j:\n  script: [echo]\n  rules:\n    - if: '${deep}'\n`);
  assert.ok(
    errors.some((e) => e.line === 4 && e.message.includes('parentheses nested more than 100 deep')),
    JSON.stringify(errors).slice(0, 500),
  );
  const fine = await compileOk(
    `j:\n  script: [echo]\n  rules:\n    - if: '${'('.repeat(50)}$CI_COMMIT_BRANCH == "main"${')'.repeat(50)}'\n`,
    { variables: PUSH_MAIN },
  );
  assert.equal(fine.jobs.length, 1);
});

test('a chain of 100,000 variables referring to each other resolves without recursion as deep', () => {
  const vars: Record<string, string> = { [`V${100_000}`]: 'end' };
  for (let i = 0; i < 100_000; i++) vars[`V${i}`] = `$V${i + 1}`;
  assert.equal(resolveVariables(vars).V0, 'end');
  assert.deepEqual(resolveVariables({ A: '$B', B: '$A', C: 'x${A}y$$' }), { A: '$B', B: '$B', C: 'x$By$' });
});
