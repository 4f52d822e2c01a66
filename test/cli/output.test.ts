// CLI tables as people read them: headers in words, durations with units, relative times, and
// columns that stay aligned when a cell is coloured.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, formatTable, headerOf, relativeTime, stripAnsi, visibleLength } from '../../src/cli/output.js';

const NOW = Date.parse('2026-05-01T12:00:00Z');

test('headers are words: camelCase and snake_case split, a trailing "At" of a time dropped', () => {
  assert.equal(headerOf('failureReason'), 'FAILURE REASON');
  assert.equal(headerOf('failure_reason'), 'FAILURE REASON');
  assert.equal(headerOf('createdAt'), 'CREATED');
  assert.equal(headerOf('lastSeenAt'), 'LAST SEEN');
  assert.equal(headerOf('at'), 'AT');
  assert.equal(headerOf('id'), 'ID');
});

test('durations carry units', () => {
  assert.equal(formatDuration(0.42), '0.4s');
  assert.equal(formatDuration(42), '42s');
  assert.equal(formatDuration(59.6), '1m 00s');
  assert.equal(formatDuration(65), '1m 05s');
  assert.equal(formatDuration(7385), '2h 03m');
});

test('times are relative to now, past and future', () => {
  assert.equal(relativeTime(NOW - 3 * 60_000 - 5000, NOW), '3 minutes ago');
  assert.equal(relativeTime(NOW - 2000, NOW), 'just now');
  assert.equal(relativeTime(NOW + 2 * 86_400_000, NOW), 'in 2 days');
  assert.equal(relativeTime(NOW - 3600_000, NOW), '1 hour ago');
});

test('a table formats ISO times and durations; colour codes take no width', () => {
  const green = '\x1b[32msuccess\x1b[0m';
  const lines = formatTable(
    [
      { id: 1, status: green, createdAt: '2026-05-01T11:57:00.000Z', duration: 65, failureReason: null },
      { id: 22, status: 'failed', createdAt: '2026-04-30T12:00:00Z', duration: 3.21, failureReason: 'script_failure' },
    ],
    ['id', 'status', 'createdAt', 'duration', 'failureReason'],
    NOW,
  );
  assert.deepEqual(lines.map(stripAnsi), [
    'ID  STATUS   CREATED        DURATION  FAILURE REASON',
    '1   success  3 minutes ago  1m 05s    -',
    '22  failed   1 day ago      3.2s      script_failure',
  ]);
  // Every column starts at the same screen position in every row, coloured or not.
  const starts = (line: string) => [...stripAnsi(line).matchAll(/(?<=\s{2})\S/g)].map((m) => m.index);
  assert.deepEqual(starts(lines[1]).slice(0, 3), starts(lines[0]).slice(0, 3));
  assert.ok(lines[1].includes(green), 'the colour itself is kept');
  assert.equal(visibleLength(green), 'success'.length);
});

test('an empty listing says so', () => {
  assert.deepEqual(formatTable([], ['id'], NOW), ['(none)']);
});
