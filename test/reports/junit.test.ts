// The JUnit parser against the reports of the common tools (fixtures in each tool's exact format),
// nested suites, capped messages and traces, and refusals that name the file, line and column.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_JUNIT_LIMITS, readJunit, XmlReportError, type JunitCase, type JunitLimits } from '../../src/reports/index.js';
import { GO, JEST, PYTEST, RSPEC, SUREFIRE } from './junit-fixtures.js';

async function parse(xml: string, limits = DEFAULT_JUNIT_LIMITS): Promise<JunitCase[]> {
  const cases: JunitCase[] = [];
  await readJunit('report.xml', [xml], (c) => cases.push(c), limits);
  return cases;
}

const brief = (cases: JunitCase[]) => cases.map((c) => `${c.status} ${c.suite} | ${c.classname} | ${c.name}`);

async function refusal(xml: string, limits = DEFAULT_JUNIT_LIMITS): Promise<XmlReportError> {
  const err = await parse(xml, limits).then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof XmlReportError, String(err));
  return err;
}

describe('readJunit', () => {
  test('Maven Surefire with JUnit 5: a bare testsuite, error, failure, skip, grouped times, flaky reruns ignored', async () => {
    const cases = await parse(SUREFIRE);
    assert.deepEqual(brief(cases), [
      'passed com.example.CalculatorTest | com.example.CalculatorTest | addsTwoNumbers',
      'error com.example.CalculatorTest | com.example.CalculatorTest | dividesByZero',
      'failed com.example.CalculatorTest | com.example.CalculatorTest | multiplies',
      'skipped com.example.CalculatorTest | com.example.CalculatorTest | subtracts',
      'passed com.example.CalculatorTest | com.example.CalculatorTest | retriedOnce',
    ]);
    assert.equal(cases[0]!.timeSeconds, 1200.011);
    assert.equal(cases[1]!.message, '/ by zero');
    assert.match(cases[1]!.trace!, /at com\.example\.Calculator\.divide\(Calculator\.java:12\)/);
    assert.equal(cases[2]!.message, 'expected: <6> but was: <5>');
    assert.ok(!cases[2]!.trace!.includes('multiplying'), 'system-out is not part of the trace');
    assert.equal(cases[3]!.message, 'not implemented yet');
    assert.equal(cases[3]!.trace, null);
    assert.equal(cases[4]!.trace, null);
  });

  test('pytest: testsuites around one suite, error on setup, skip with its reason, unicode names', async () => {
    const cases = await parse(PYTEST);
    assert.deepEqual(
      cases.map((c) => [c.status, c.name]),
      [
        ['passed', 'test_add'],
        ['failed', 'test_div[0-1]'],
        ['skipped', 'test_gpu'],
        ['error', 'test_query'],
        ['passed', 'test_unicode_é漢'],
      ],
    );
    assert.ok(cases.every((c) => c.suite === 'pytest'));
    assert.equal(cases[1]!.message, 'ZeroDivisionError: division by zero');
    assert.match(cases[1]!.trace!, /^a = 0, b = 1\n[\s\S]*> {7}assert b \/ a\n/);
    assert.equal(cases[2]!.message, 'no GPU');
    assert.equal(cases[3]!.message, 'failed on setup with "ConnectionRefusedError: [Errno 111] Connection refused"');
    assert.equal(cases[3]!.classname, 'tests.test_db');
  });

  test('jest-junit: a failure without a message takes the first line of its text', async () => {
    const cases = await parse(JEST);
    assert.deepEqual(brief(cases), [
      'passed Cart | Cart adds an item | Cart adds an item',
      'failed Cart | Cart computes the total | Cart computes the total',
      'skipped Cart | Cart applies coupons | Cart applies coupons',
    ]);
    assert.equal(cases[1]!.message, 'Error: expect(received).toBe(expected) // Object.is equality');
    assert.match(cases[1]!.trace!, /Received: 25\n {4}at Object\.toBe/);
    assert.equal(cases[2]!.message, null);
  });

  test('go-junit-report: the package as suite and class, the test output as trace', async () => {
    const cases = await parse(GO);
    assert.deepEqual(
      cases.map((c) => [c.status, c.suite, c.name, c.message]),
      [
        ['passed', 'example.com/shop/cart', 'TestAdd', null],
        ['failed', 'example.com/shop/cart', 'TestTotal', 'Failed'],
        ['skipped', 'example.com/shop/cart', 'TestCoupon', 'Skipped'],
      ],
    );
    assert.equal(cases[1]!.trace, '    cart_test.go:21: total = 25, want 30');
    assert.equal(cases[1]!.timeSeconds, 0.01);
  });

  test('rspec_junit_formatter: the file attribute and a message spanning lines', async () => {
    const cases = await parse(RSPEC);
    assert.deepEqual(brief(cases), [
      'failed rspec | spec.models.cart_spec | Cart#total sums the prices',
      'passed rspec | spec.models.cart_spec | Cart#add adds an item',
      'skipped rspec | spec.models.cart_spec | Cart#coupon is pending',
    ]);
    assert.ok(cases.every((c) => c.file === './spec/models/cart_spec.rb'));
    assert.match(cases[0]!.message!, /expected: 30\s+got: 25/);
    assert.match(cases[0]!.trace!, /cart_spec\.rb:8:in `block \(3 levels\) in <top \(required\)>'$/);
  });

  test('nested suites: a case belongs to its innermost named suite', async () => {
    const cases = await parse(
      '<testsuites><testsuite name="outer"><testsuite name="inner"><testcase name="a"/></testsuite>' +
        '<testsuite><testcase name="b"/></testsuite><testcase name="c" time="oops"/></testsuite><testcase name="d"/></testsuites>',
    );
    assert.deepEqual(
      cases.map((c) => [c.suite, c.name, c.timeSeconds]),
      [
        ['inner', 'a', null],
        ['outer', 'b', null],
        ['outer', 'c', null],
        ['', 'd', null],
      ],
    );
  });

  test('caps messages, traces and names, saying so', async () => {
    const limits: JunitLimits = { ...DEFAULT_JUNIT_LIMITS, maxNameChars: 10, maxMessageChars: 20, maxTraceChars: 100 };
    const [c] = await parse(
      `<testsuite><testcase name="${'n'.repeat(50)}"><failure message="${'m'.repeat(50)}"><![CDATA[${'t'.repeat(1000)}]]>${'u'.repeat(1000)}</failure></testcase></testsuite>`,
      limits,
    );
    assert.equal(c!.name, `${'n'.repeat(10)}\n… (truncated)`);
    assert.equal(c!.message, `${'m'.repeat(20)}\n… (truncated)`);
    assert.equal(c!.trace, `${'t'.repeat(100)}\n… (truncated)`);
  });

  test('malformed XML is refused with the file, line and column', async () => {
    const err = await refusal('<testsuite name="s">\n  <testcase name="a">\n</testsuite>');
    assert.equal(err.file, 'report.xml');
    assert.equal(err.line, 3);
    assert.match(err.message, /^report\.xml:3:12: unexpected close tag/);
  });

  test('a document that is no JUnit report is refused at its root element', async () => {
    const err = await refusal('<?xml version="1.0"?>\n<html><body/></html>');
    assert.equal(err.line, 2);
    assert.match(err.message, /<html> is no JUnit report/);
  });

  test('an empty file and an oversized one are refused', async () => {
    assert.match((await refusal('')).message, /^report\.xml:\d+:\d+: /);
    const limits: JunitLimits = { ...DEFAULT_JUNIT_LIMITS, xml: { ...DEFAULT_JUNIT_LIMITS.xml, maxBytes: 1000 } };
    const big = `<testsuite>${'<testcase name="x"/>'.repeat(100)}</testsuite>`;
    assert.match((await refusal(big, limits)).message, /larger than 1000 bytes/);
  });
});
