// JUnit reports as the common tools write them, hand-written here in each tool's exact output format
// (element order, attributes, CDATA or escaped text, whitespace), so the parser is tested against the
// shapes it meets. Each says which tool and version it follows.

/** Maven Surefire 3.2 running JUnit 5 (TEST-com.example.CalculatorTest.xml): a bare <testsuite>. */
export const SUREFIRE = `<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report-3.0.xsd" version="3.0" name="com.example.CalculatorTest" time="1,204.052" tests="4" errors="1" skipped="1" failures="1">
  <properties>
    <property name="java.version" value="17.0.9"/>
    <property name="surefire.test.class.path" value="/builds/calc/target/test-classes"/>
  </properties>
  <testcase name="addsTwoNumbers" classname="com.example.CalculatorTest" time="1,200.011"/>
  <testcase name="dividesByZero" classname="com.example.CalculatorTest" time="0.004">
    <error message="/ by zero" type="java.lang.ArithmeticException"><![CDATA[java.lang.ArithmeticException: / by zero
	at com.example.Calculator.divide(Calculator.java:12)
	at com.example.CalculatorTest.dividesByZero(CalculatorTest.java:25)
]]></error>
  </testcase>
  <testcase name="multiplies" classname="com.example.CalculatorTest" time="0.003">
    <failure message="expected: &lt;6&gt; but was: &lt;5&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[org.opentest4j.AssertionFailedError: expected: <6> but was: <5>
	at org.junit.jupiter.api.AssertionFailureBuilder.build(AssertionFailureBuilder.java:151)
	at com.example.CalculatorTest.multiplies(CalculatorTest.java:31)
]]></failure>
    <system-out><![CDATA[multiplying 2 and 3
]]></system-out>
  </testcase>
  <testcase name="subtracts" classname="com.example.CalculatorTest" time="0">
    <skipped message="not implemented yet"/>
  </testcase>
  <testcase name="retriedOnce" classname="com.example.CalculatorTest" time="0.020">
    <flakyFailure message="timeout" type="java.util.concurrent.TimeoutException"><stackTrace><![CDATA[java.util.concurrent.TimeoutException]]></stackTrace></flakyFailure>
  </testcase>
</testsuite>
`;

/** pytest 8 --junitxml (xunit2 family, the default): one line, <testsuites> around one "pytest" suite. */
export const PYTEST =
  '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.087" timestamp="2026-12-06T18:00:00.123456+00:00" hostname="ci-runner">' +
  '<testcase classname="tests.test_math" name="test_add" time="0.001" />' +
  '<testcase classname="tests.test_math" name="test_div[0-1]" time="0.002"><failure message="ZeroDivisionError: division by zero">a = 0, b = 1\n\n' +
  '    @pytest.mark.parametrize("a,b", [(0, 1)])\n    def test_div(a, b):\n&gt;       assert b / a\nE       ZeroDivisionError: division by zero\n\ntests/test_math.py:9: ZeroDivisionError</failure></testcase>' +
  '<testcase classname="tests.test_math" name="test_gpu" time="0.000"><skipped type="pytest.skip" message="no GPU">/builds/app/tests/test_math.py:12: no GPU</skipped></testcase>' +
  '<testcase classname="tests.test_db" name="test_query" time="0.003"><error message="failed on setup with &quot;ConnectionRefusedError: [Errno 111] Connection refused&quot;">' +
  '@pytest.fixture\n    def conn():\n&gt;       return psycopg.connect(DSN)\nE       ConnectionRefusedError: [Errno 111] Connection refused\n\ntests/conftest.py:7: ConnectionRefusedError</error></testcase>' +
  '<testcase classname="tests.test_text" name="test_unicode_\u00e9\u6f22" time="0.001"><system-out>--- captured stdout ---\nhello</system-out><system-err>warning</system-err></testcase>' +
  '</testsuite></testsuites>';

/** jest-junit 16 (Jest 29): <testsuites> of one suite per test file; failures carry no message attribute. */
export const JEST = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="3" failures="1" errors="0" time="1.234">
  <testsuite name="Cart" errors="0" failures="1" skipped="1" timestamp="2026-12-06T18:00:00" time="0.512" tests="3">
    <testcase classname="Cart adds an item" name="Cart adds an item" time="0.004">
    </testcase>
    <testcase classname="Cart computes the total" name="Cart computes the total" time="0.006">
      <failure>Error: expect(received).toBe(expected) // Object.is equality

Expected: 30
Received: 25
    at Object.toBe (/builds/shop/src/cart.test.js:14:25)
    at Promise.then.completed (/builds/shop/node_modules/jest-circus/build/utils.js:298:28)</failure>
    </testcase>
    <testcase classname="Cart applies coupons" name="Cart applies coupons" time="0">
      <skipped/>
    </testcase>
  </testsuite>
</testsuites>
`;

/** go-junit-report v2.1: tabs, a suite per package, "Failed" as every failure's message. */
export const GO = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="3" failures="1" skipped="1">
	<testsuite name="example.com/shop/cart" tests="3" failures="1" errors="0" id="0" hostname="ci-runner" skipped="1" time="0.012" timestamp="2026-12-06T18:00:00Z">
		<properties>
			<property name="go.version" value="go1.22.1 linux/amd64"></property>
		</properties>
		<testcase name="TestAdd" classname="example.com/shop/cart" time="0.000"></testcase>
		<testcase name="TestTotal" classname="example.com/shop/cart" time="0.010">
			<failure message="Failed"><![CDATA[    cart_test.go:21: total = 25, want 30]]></failure>
		</testcase>
		<testcase name="TestCoupon" classname="example.com/shop/cart" time="0.000">
			<skipped message="Skipped"><![CDATA[    cart_test.go:30: coupons not ready]]></skipped>
		</testcase>
	</testsuite>
</testsuites>
`;

/** rspec_junit_formatter 0.6: a bare "rspec" suite, a file attribute, a message spanning lines. */
export const RSPEC = `<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="rspec" tests="3" skipped="1" failures="1" errors="0" time="0.021406" timestamp="2026-12-06T18:00:00+00:00" hostname="ci-runner">
<properties>
<property name="seed" value="12345"/>
</properties>
<testcase classname="spec.models.cart_spec" name="Cart#total sums the prices" file="./spec/models/cart_spec.rb" time="0.003125"><failure message="
expected: 30
     got: 25

(compared using ==)
" type="RSpec::Expectations::ExpectationNotMetError">Failure/Error: expect(cart.total).to eq(30)

  expected: 30
       got: 25

  (compared using ==)
./spec/models/cart_spec.rb:8:in \`block (3 levels) in &lt;top (required)&gt;'</failure></testcase>
<testcase classname="spec.models.cart_spec" name="Cart#add adds an item" file="./spec/models/cart_spec.rb" time="0.001020"></testcase>
<testcase classname="spec.models.cart_spec" name="Cart#coupon is pending" file="./spec/models/cart_spec.rb" time="0.000112"><skipped/></testcase>
</testsuite>
`;

/**
 * A Surefire-shaped report of `tests` cases, one in ten failing with a stack trace and each with some
 * captured output, about `bytesPerTest` bytes a case: the benchmark's 10,000-test, 20 MB report.
 */
export function* largeReport(tests: number, bytesPerTest = 2000): Generator<string> {
  yield `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n`;
  const perSuite = 100;
  for (let s = 0; s * perSuite < tests; s++) {
    const parts = [`<testsuite name="com.example.Suite${s}" tests="${perSuite}">\n`];
    for (let i = s * perSuite; i < Math.min(tests, (s + 1) * perSuite); i++) {
      const head = `  <testcase name="test${i}" classname="com.example.Suite${s}" time="0.0${i % 10}1">`;
      const failing = i % 10 === 0;
      const frame = `\tat com.example.Suite${s}.test${i}(Suite${s}.java:${i % 400})\n`;
      const body = failing
        ? `<failure message="expected: &lt;${i}&gt; but was: &lt;${i + 1}&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[org.opentest4j.AssertionFailedError\n${frame.repeat(Math.max(1, Math.floor((bytesPerTest - 300) / frame.length)))}]]></failure>`
        : `<system-out><![CDATA[${'x'.repeat(Math.max(0, bytesPerTest - 200))}]]></system-out>`;
      parts.push(`${head}${body}</testcase>\n`);
    }
    parts.push('</testsuite>\n');
    yield parts.join('');
  }
  yield '</testsuites>\n';
}
