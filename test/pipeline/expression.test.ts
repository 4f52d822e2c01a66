import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateExpression, ExpressionError } from '../../src/pipeline/index.js';

const vars = {
  BRANCH: 'main',
  EMPTY: '',
  TAG: 'v1.2.3',
  SOURCE: 'push',
  PATTERN: '/^v\\d+/',
  IPATTERN: '/^MAIN$/i',
  NOTREGEX: 'main',
  SLASHES: 'a/b/c',
  OTHER: 'main',
};

const table: [string, boolean][] = [
  ['$BRANCH', true],
  ['$EMPTY', false],
  ['$UNDEFINED', false],
  ['$BRANCH == "main"', true],
  ["$BRANCH == 'main'", true],
  ['$BRANCH == "dev"', false],
  ['$BRANCH != "dev"', true],
  ['"main" == $BRANCH', true],
  ['$BRANCH == $OTHER', true],
  ['$BRANCH != $TAG', true],
  ['$UNDEFINED == null', true],
  ['$EMPTY == null', false],
  ['$EMPTY == ""', true],
  ['$UNDEFINED == ""', false],
  ['$BRANCH != null', true],
  ['null == $UNDEFINED', true],
  ['$TAG =~ /^v\\d+\\.\\d+/', true],
  ['$TAG =~ /^V/', false],
  ['$TAG =~ /^V/i', true],
  ['$TAG !~ /^v/', false],
  ['$UNDEFINED =~ /x/', false],
  ['$UNDEFINED =~ /^$/', true],
  ['$UNDEFINED !~ /x/', true],
  ['$SLASHES =~ /a\\/b/', true],
  ['$TAG =~ $PATTERN', true],
  ['$BRANCH =~ $IPATTERN', true],
  ['$BRANCH =~ $NOTREGEX', false],
  ['$BRANCH =~ $UNDEFINED', false],
  ['$BRANCH == "main" && $SOURCE == "push"', true],
  ['$BRANCH == "main" && $SOURCE == "web"', false],
  ['$BRANCH == "dev" || $SOURCE == "push"', true],
  ['$BRANCH == "dev" || $SOURCE == "web"', false],
  // && binds tighter than ||: true || (false && false)
  ['$BRANCH || $UNDEFINED && $EMPTY', true],
  // (true || false) && false
  ['($BRANCH || $UNDEFINED) && $EMPTY', false],
  ['($BRANCH == "dev" || $TAG) && ($SOURCE == "push")', true],
  ['"literal"', true],
  ['""', false],
  ['null', false],
  ['(($BRANCH))', true],
  ['$BRANCH=="main"&&$TAG', true],
];

describe('rules:if expressions', () => {
  for (const [expr, expected] of table) {
    it(`${expr} → ${expected}`, () => {
      assert.equal(evaluateExpression(expr, vars), expected);
    });
  }
});

describe('expression errors give the column', () => {
  const cases: [string, number, RegExp][] = [
    ['$A == ', 7, /expected a value/],
    ['$A === "x"', 6, /unexpected/],
    ['$A == "x', 7, /unterminated string/],
    ['($A == "x"', 11, /missing \)/],
    ['$A == "x")', 10, /unexpected/],
    ['$A =~ "x"', 7, /needs a \/regex\//],
    ['$A == /x/', 4, /use =~/],
    ['$A =~ /x/g', 10, /unsupported regex flag "g"/],
    ['$A =~ /(/', 7, /invalid regular expression/],
    ['${A} == "x"', 1, /\$NAME, not \$\{NAME\}/],
    ['$A && && $B', 7, /unexpected operator &&/],
    ['', 1, /empty expression/],
    ['$A $B', 4, /unexpected variable \$B/],
    ['main == $A', 1, /unexpected "main"/],
  ];
  for (const [expr, column, message] of cases) {
    it(JSON.stringify(expr), () => {
      assert.throws(
        () => evaluateExpression(expr, {}),
        (e: unknown) => e instanceof ExpressionError && e.column === column && message.test(e.message),
      );
    });
  }
});
