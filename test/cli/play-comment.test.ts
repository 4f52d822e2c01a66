// `tandem run play JOB --comment TEXT`: the approver's note goes with the play (POST
// /api/v1/jobs/:id/play {comment}), into the audit log with who played it; a comment over 1000
// characters is refused naming the field.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEntryJson } from '../../src/api/index.js';
import { TestTandem } from '../support/tandem.js';
import { tandem as cli } from './helpers.js';

describe('tandem run play --comment', () => {
  let server: TestTandem;

  before(async () => {
    server = await TestTandem.start({ agents: 1 });
  });
  after(async () => {
    await server?.close();
  });

  it('plays the job with the comment, recorded in the audit log', async () => {
    await server.repo({ '.tandem.yml': 'ship:\n  when: manual\n  script: [echo shipped]\n' }, { name: 'gate' });
    const id = await server.trigger('gate');
    const waiting = await server.waitForPipeline(id, (p) => p.jobs[0]?.status === 'manual');
    const job = waiting.jobs[0].id;

    const tooLong = await server.api('POST', `/api/v1/jobs/${job}/play`, { comment: 'x'.repeat(1001) });
    assert.equal(tooLong.status, 422);
    assert.match(tooLong.text, /comment: at most 1000 characters/);
    assert.equal((await server.pipeline(id)).jobs[0].status, 'manual', 'a refused play leaves the job waiting');

    const env = { TANDEM_SERVER: server.url, TANDEM_TOKEN: server.token };
    const played = await cli(['run', 'play', String(job), '--comment', 'Release notes checked'], { env });
    assert.equal(played.code, 0, played.stderr);
    assert.match(played.stdout, new RegExp(`Job #${job} \\(ship\\)`));
    assert.equal((await server.waitForPipeline(id)).status, 'success');

    const audit = await server.api<AuditEntryJson[]>('GET', '/api/v1/audit?action=job.play');
    const entry = audit.body.find((e) => e.params?.id === String(job));
    assert.deepEqual([entry?.actor, entry?.details?.comment], ['admin', 'Release notes checked']);
  });
});
