// The terminal's log lines: pino's JSON turned into time, level, message and key=value fields.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { PassThrough } from 'node:stream';
import { formatLogLine, prettyDestination, prettyLogs } from '../../src/cli/log-format.js';

const TIME = Date.parse('2026-05-01T12:04:05.123Z');

test('a JSON line becomes time, level, message and fields; pid and hostname go', () => {
  const line = JSON.stringify({ level: 30, time: TIME, pid: 7, hostname: 'h', msg: 'job claimed', jobId: 12, agent: 'local 1' });
  assert.equal(formatLogLine(line, false), '12:04:05.123 INFO  job claimed jobId=12 agent="local 1"');
});

test('colour marks the level on a terminal only', () => {
  const line = JSON.stringify({ level: 50, time: TIME, msg: 'boom' });
  assert.ok(formatLogLine(line, true).includes('\x1b[31mERROR\x1b[0m'));
  assert.ok(!formatLogLine(line, false).includes('\x1b'));
});

test("an error's stack is indented under its line; long values are cut; non-JSON passes through", () => {
  const line = JSON.stringify({
    level: 50,
    time: TIME,
    msg: 'failed',
    err: { type: 'Error', message: 'disk full', stack: 'Error: disk full\n    at write (x.js:1:1)' },
  });
  assert.equal(formatLogLine(line, false), '12:04:05.123 ERROR failed\n    Error: disk full\n    at write (x.js:1:1)');
  const long = formatLogLine(JSON.stringify({ level: 30, time: TIME, msg: 'm', body: 'x'.repeat(500) }), false);
  assert.ok(long.length < 160 && long.endsWith('…'), long);
  assert.equal(formatLogLine('not json {', false), 'not json {');
});

test('pretty on a terminal by default, JSON elsewhere, either when asked', () => {
  assert.equal(prettyLogs('auto', { isTTY: true }), true);
  assert.equal(prettyLogs('auto', {}), false);
  assert.equal(prettyLogs('json', { isTTY: true }), false);
  assert.equal(prettyLogs('pretty', {}), true);
});

test('pino writes through the destination, one formatted line per entry', () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const log = pino({ level: 'info' }, prettyDestination(out));
  log.info({ repo: 'shop' }, 'polled');
  log.debug('hidden below the level');
  log.child({ agent: 'local-1' }).warn('slow');
  assert.match(text, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}polled repo=shop\n\d\d:\d\d:\d\d\.\d{3} WARN {2}slow agent=local-1\n$/);
});
