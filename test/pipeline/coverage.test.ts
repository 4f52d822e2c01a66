// GitLab's job `coverage:` (https://docs.gitlab.com/ci/yaml/#coverage, pinned here as of 2026-12):
// "If there is more than one matched line in the job output, the last line is used (the first result
// of reverse search). If there are multiple matches in a single line, the last match is searched for
// the coverage number. If there are multiple coverage numbers found in the matched fragment, the
// first number is used. Leading zeros are removed." The value must be a regex between slashes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COVERAGE_SCAN_CHARS, extractCoverage } from '../../src/pipeline/index.js';
import { compileOk, expectError, job } from './helpers.js';

describe('extractCoverage', () => {
  it('takes the first number of the match', () => {
    assert.equal(extractCoverage('/Lines: \\d+(?:\\.\\d+)?%/', 'build\nLines: 87.5%\ndone\n'), 87.5);
  });

  it('takes the last matching line', () => {
    assert.equal(extractCoverage('/Lines: \\d+/', 'Lines: 10%\nLines: 20%\nno\n'), 20);
  });

  it('takes the last match within a line, and its first number', () => {
    assert.equal(extractCoverage('/[a-z]+ \\d+ \\d+/', 'a 1 2, b 33 44, c'), 33);
  });

  it('removes leading zeros and reads integers', () => {
    assert.equal(extractCoverage('/Total: \\d+/', 'Total: 007'), 7);
  });

  it('goes on to earlier lines when a matched fragment holds no number', () => {
    assert.equal(extractCoverage('/Total:.*/', 'Total: 42%\nTotal: n/a\n'), 42);
  });

  it('is null without a match, or for a value that is not a valid /regex/', () => {
    assert.equal(extractCoverage('/Lines: \\d+/', 'no coverage here\n'), null);
    assert.equal(extractCoverage('/Lines: (/', 'Lines: 1'), null);
    assert.equal(extractCoverage('Lines', 'Lines: 1'), null);
  });

  it('honours the flags and CRLF line ends', () => {
    assert.equal(extractCoverage('/^lines: \\d+%$/i', 'LINES: 55%\r\n'), 55);
  });

  it('searches only the last COVERAGE_SCAN_CHARS of the log', () => {
    const old = 'Lines: 99%\n';
    assert.equal(extractCoverage('/Lines: \\d+/', old + 'x'.repeat(COVERAGE_SCAN_CHARS)), null);
    assert.equal(extractCoverage('/Lines: \\d+/', old + 'x'.repeat(COVERAGE_SCAN_CHARS - old.length)), 99);
  });

  it('runs a pathological pattern in linear time (RE2, no backtracking)', () => {
    // /(a+)+$/ on "aaaa…b" backtracks exponentially with a JavaScript RegExp.
    const log = `${'a'.repeat(100_000)}b\n`.repeat(5);
    const started = performance.now();
    assert.equal(extractCoverage('/(a+)+$/', log), null);
    assert.ok(performance.now() - started < 5000, 'took too long');
  });
});

describe('coverage: in the pipeline file', () => {
  it('is kept in the compiled job', async () => {
    const p = await compileOk("test:\n  script: [make]\n  coverage: '/Lines: \\d+%/'\n");
    assert.equal(job(p, 'test').coverage, '/Lines: \\d+%/');
  });

  it('refuses a regex RE2 cannot compile, at its position', async () => {
    const e = await expectError("test:\n  script: [make]\n  coverage: '/(a/'\n", 3, 15, 'invalid regular expression in `test.coverage`');
    assert.match(e.message, /RE2/);
  });

  it('refuses a value without slashes', async () => {
    await expectError(
      'test:\n  script: [make]\n  coverage: Lines\n',
      3,
      13,
      '`test.coverage` must be a regular expression between slashes',
    );
  });
});
