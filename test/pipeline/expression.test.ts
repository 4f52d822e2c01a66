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
  // A right side that is no /regex/ matches when the left is a substring of it (GitLab's String#scan).
  ['$BRANCH =~ $NOTREGEX', true],
  ['$BRANCH =~ $UNDEFINED', false],
  ['$BRANCH =~ "main"', true],
  ['$BRANCH =~ "ma"', false],
  ['"ma" =~ $BRANCH', true],
  ['$BRANCH !~ "dev"', true],
  ['$TAG =~ "/^v1/"', true],
  ['$TAG =~ "/^V1/i"', true],
  ['$TAG !~ "/^v2/"', true],
  ['$BRANCH =~ null', false],
  ['$BRANCH !~ null', true],
  // nil.to_s is "", and "x".scan("") is not empty: an undefined left side matches any plain string.
  ['$UNDEFINED =~ "x"', true],
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
