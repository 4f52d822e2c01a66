// `tandem schedule add|list|edit|run|rm` against a real server, as a user runs them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PipelineJson, ScheduleJson } from '../../src/api/index.js';
import { AuthServer } from '../auth/helpers.js';
import { tandem as cli } from '../cli/helpers.js';

let server: AuthServer;
before(async () => {
  server = await AuthServer.start();
  await server.repo('app', { '.gitlab-ci.yml': 'nightly:\n  rules:\n    - if: $CI_PIPELINE_SOURCE == "schedule"\n  script: [echo ok]\n' }, [
    'feature',
  ]);
});
after(() => server.close());

const run = async (...args: string[]) => {
  const result = await cli(['schedule', ...args, '--server', server.url, '--token', server.adminToken]);
  assert.equal(result.code, 0, `tandem schedule ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
};

test('add, list (--json), edit, run and rm a schedule', async () => {
  const added = await run(
    'add',
    'app',
    '--cron',
    '15 2 * * *',
    '--timezone',
    'America/New_York',
    '--ref',
    'feature',
    '--variable',
    'A=1',
    'B=two',
    '--description',
    'nightly',
  );
  const id = Number(/^Schedule #(\d+) on app feature: "15 2 \* \* \*" America\/New_York, next \S+Z$/m.exec(added)?.[1]);
  assert.ok(id > 0, added);

  const listed = JSON.parse(await run('list', 'app', '--json')) as ScheduleJson[];
  assert.deepEqual(
    listed.map((s) => [s.id, s.description, s.variables, s.active]),
    [[id, 'nightly', ['A', 'B'], true]],
  );
  const table = await run('list', 'app');
  assert.match(table, /^ID\s+DESCRIPTION\s+CRON\s+TIMEZONE\s+REF\s+ACTIVE\s+OWNER\s+NEXT\s+LAST$/m);
  assert.match(table, new RegExp(`^${id}\\s+nightly\\s+15 2 \\* \\* \\*\\s+America/New_York\\s+feature\\s+yes\\s+admin`, 'm'));

  const edited = JSON.parse(await run('edit', String(id), '--inactive', '--cron', '0 4 * * 1-5', '--json')) as ScheduleJson;
  assert.equal(edited.active, false);
  assert.equal(edited.cron, '0 4 * * 1-5');

  const started = await run('run', String(id));
  const pipelineId = Number(/^Pipeline #(\d+) created$/m.exec(started)?.[1]);
  const pipeline = await server.api<PipelineJson>('GET', `/api/v1/pipelines/${pipelineId}`);
  assert.equal(pipeline.body.source, 'schedule');

  const bad = await cli(['schedule', 'add', 'app', '--cron', 'every day', '--server', server.url, '--token', server.adminToken]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /cron: "every day"/);

  assert.match(await run('rm', String(id)), new RegExp(`Removed schedule #${id}`));
  assert.deepEqual(JSON.parse(await run('list', 'app', '--json')), []);
});
