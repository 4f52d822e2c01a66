// Property-based fuzzing of the rules:if expression language: whatever the text and the variables,
// parsing and evaluating end within a time budget in a boolean or an ExpressionError whose column
// lies inside the text; never another exception. Fixed seed; `npm run fuzz` runs it longer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ExpressionError, evaluateExpression } from '../../src/pipeline/index.js';

const RUNS = Number(process.env.TANDEM_FUZZ_RUNS ?? 300);
const SEED = 20261206;
const BUDGET_MS = 250;

const token = fc.oneof(
  fc.constantFrom(
    '$A',
    '$B',
    '$CI_COMMIT_BRANCH',
    '$',
    '${A}',
    '==',
    '!=',
    '=~',
    '!~',
    '&&',
    '||',
    '(',
    ')',
    'null',
    '"main"',
    "'x'",
    '"',
    "'",
    ' ',
    '  ',
  ),
  fc.constantFrom(
    '/^(a+)+$/',
    '/(a|aa)+b/i',
    '/a/ims',
    '/a/U',
    '/(a)\\1/',
    '/a(?=b)/',
    '/[/',
    '/x{1001}/',
    '/\\//',
    '/unterminated',
    '/a/q',
    '/(?i)A/',
  ),
  fc.string({ maxLength: 6 }),
  fc.constantFrom('$A && '.repeat(3000), '('.repeat(3000), ')'.repeat(3000), '$A || '.repeat(3000)),
);

const expression = fc.oneof(
  fc.array(token, { maxLength: 25 }).map((parts) => parts.join('')),
  fc.string({ maxLength: 80 }),
);

const variables = fc.dictionary(
  fc.constantFrom('A', 'B', 'CI_COMMIT_BRANCH', 'P'),
  fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('/^(a+)+$/', '/x/i', '/(/', `${'a'.repeat(5000)}b`, '/(a)\\1/')),
);

test('any expression text evaluates to a boolean or a positioned ExpressionError, within the budget', () => {
  fc.assert(
    fc.property(expression, variables, (text, vars) => {
      const started = performance.now();
      try {
        const value = evaluateExpression(text, vars);
        assert.equal(typeof value, 'boolean');
      } catch (err) {
        assert.ok(err instanceof ExpressionError, `unexpected ${String(err)} for ${JSON.stringify(text)}`);
        assert.ok(err.column >= 1 && err.column <= text.length + 1, `column ${err.column} outside ${JSON.stringify(text)}`);
        assert.ok(err.message.length > 0);
      }
      const ms = performance.now() - started;
      assert.ok(ms < BUDGET_MS, `${ms} ms for ${JSON.stringify(text)}`);
    }),
    { seed: SEED, numRuns: RUNS },
  );
});
