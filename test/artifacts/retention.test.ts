import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DurationError, parseDuration } from '../../src/artifacts/index.js';

test('parseDuration reads GitLab expire_in forms', () => {
  const day = 86400;
  const cases: Array<[string | number, number | null]> = [
    ['never', null],
    ['Never', null],
    ['3600', 3600],
    [42, 42],
    ['42 seconds', 42],
    ['30 days', 30 * day],
    ['1 week', 7 * day],
    ['2 hrs 20 min', 2 * 3600 + 20 * 60],
    ['2h20min', 2 * 3600 + 20 * 60],
    ['3 mins 4 sec', 184],
    ['1 day, 2 hours', day + 7200],
    ['3 weeks and 2 days', 23 * day],
    ['6 mos 1 day', 181 * day],
    ['1 year', 365.25 * day],
    ['1.5 hours', 5400],
  ];
  for (const [input, expected] of cases) assert.equal(parseDuration(input), expected, String(input));
});

test('parseDuration names the bad text and the problem', () => {
  const cases: Array<[string | number, RegExp]> = [
    ['', /empty/],
    ['soon', /cannot read "soon"/],
    ['3 fortnights', /unknown unit "fortnights"/],
    ['3 constructor', /unknown unit "constructor"/],
    ['1 hour 30', /cannot read "30"/],
    ['-5 days', /cannot read "-5 days"/],
    [-1, /non-negative/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => parseDuration(input),
      (err: Error) => err instanceof DurationError && message.test(err.message) && err.message.includes(JSON.stringify(String(input))),
      String(input),
    );
  }
});
