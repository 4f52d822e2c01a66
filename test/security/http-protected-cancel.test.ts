// Issue 14, item 17: a developer could cancel pipelines and jobs on protected branches (a release
// branch's deploy, say). Cancelling there now takes the branch's allowed role (maintainer unless
// set otherwise), as retrying and playing already did and as GitLab's protected branches ask.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PipelineView } from '../support/tandem.js';
import { AuthServer } from '../auth/helpers.js';

describe('cancelling on a protected branch', () => {
  let tandem: AuthServer;
  let dev: string;
  let maintainer: string;
  before(async () => {
    tandem = await AuthServer.start();
    await tandem.repo('shop', { '.gitlab-ci.yml': 'build:\n  script: [sleep 60]\n' }, ['feature']);
    dev = (await tandem.user('dev')).token;
    maintainer = (await tandem.user('keeper')).token;
    await tandem.member('shop', 'dev', 'developer');
    await tandem.member('shop', 'keeper', 'maintainer');
  });
  after(() => tandem.close());

  /** A pipeline waiting for an agent (none runs here), on `ref`. */
  async function pipelineOn(ref: string): Promise<PipelineView> {
    const made = await tandem.api<{ id: number }>('POST', '/api/v1/repos/shop/pipelines', { as: { token: maintainer }, body: { ref } });
    assert.equal(made.status, 201, made.text);
    return (await tandem.api<PipelineView>('GET', `/api/v1/pipelines/${made.body.id}`, { as: { token: maintainer } })).body;
  }

  test('a developer cancels neither a pipeline nor a job on main (protected); the pipeline keeps running', async () => {
    const main = await pipelineOn('main');
    const pipeline = await tandem.api<{ message: string }>('POST', `/api/v1/pipelines/${main.id}/cancel`, { as: { token: dev } });
    assert.equal(pipeline.status, 403);
    assert.match(
      pipeline.body.message,
      /missing permission pipeline\.cancel on protected branch main: it needs the maintainer role on repository shop/,
    );
    const job = await tandem.api<{ message: string }>('POST', `/api/v1/jobs/${main.jobs[0].id}/cancel`, { as: { token: dev } });
    assert.equal(job.status, 403);
    assert.match(job.body.message, /missing permission job\.cancel on protected branch main/);
    const after = await tandem.api<PipelineView>('GET', `/api/v1/pipelines/${main.id}`, { as: { token: dev } });
    assert.notEqual(after.body.status, 'canceled');
    // The branch's role may.
    assert.equal((await tandem.api('POST', `/api/v1/jobs/${main.jobs[0].id}/cancel`, { as: { token: maintainer } })).status, 200);
    assert.equal((await tandem.api('POST', `/api/v1/pipelines/${main.id}/cancel`, { as: { token: maintainer } })).status, 200);
  });

  test('on an unprotected branch a developer still cancels both', async () => {
    const feature = await pipelineOn('feature');
    assert.equal((await tandem.api('POST', `/api/v1/jobs/${feature.jobs[0].id}/cancel`, { as: { token: dev } })).status, 200);
    const canceled = await tandem.api<PipelineView>('POST', `/api/v1/pipelines/${feature.id}/cancel`, { as: { token: dev } });
    assert.equal(canceled.status, 200);
    assert.equal(canceled.body.status, 'canceled');
  });
});
