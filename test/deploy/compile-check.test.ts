// The deploy block check the pipeline compiler takes from its callers: the same errors in place
// (`tandem exec`, `tandem lint`) and in the server's worker thread.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkDeployBlock, PIPELINE_COMPILE_WORKER } from '../../src/deploy/index.js';
import { compileIsolated, compilePipeline, type CompileResult } from '../../src/pipeline/index.js';
import { PUSH_MAIN } from '../pipeline/helpers.js';

const FILE =
  'deploy:\n  script: [make]\n  environment: production\n  deploy:\n    source: dist/\n    target:\n      local: { dir: srv/app }\n';
const context = { variables: PUSH_MAIN, readFile: async () => null, changedFiles: async () => null };
const errorsOf = (result: CompileResult): [number, number, string][] =>
  !result.ok && !result.skipped ? result.errors.map((e) => [e.line, e.column, e.message]) : [];
const EXPECTED: [number, number, string][] = [[7, 21, 'deploy.deploy.target.local.dir: must be an absolute path, got "srv/app"']];

describe('the deploy block check in the pipeline compiler', () => {
  it('reports a bad deploy block at its key, in place and in the worker thread', async () => {
    assert.deepEqual(errorsOf(await compilePipeline('.gitlab-ci.yml', FILE, { ...context, checkDeployBlock })), EXPECTED);
    assert.deepEqual(errorsOf(await compileIsolated('.gitlab-ci.yml', FILE, { ...context, worker: PIPELINE_COMPILE_WORKER })), EXPECTED);
  });

  it('takes `source: .` as the workspace itself', async () => {
    // Psych (GitLab's YAML reader) keeps a lone `.` a string; a YAML 1.1 float reading made it NaN.
    const file = FILE.replace('dist/', '.').replace('srv/app', '/srv/app');
    const result = await compilePipeline('.gitlab-ci.yml', file, { ...context, checkDeployBlock });
    assert.ok(result.ok, JSON.stringify(errorsOf(result)));
    assert.equal((result.pipeline.jobs[0].deploy as { source: unknown }).source, '.');
  });

  it('leaves a block naming job variables to the agent', async () => {
    const file = FILE.replace('srv/app', '$DEPLOY_DIR');
    assert.ok((await compilePipeline('.gitlab-ci.yml', file, { ...context, checkDeployBlock })).ok);
    assert.ok((await compileIsolated('.gitlab-ci.yml', file, { ...context, worker: PIPELINE_COMPILE_WORKER })).ok);
  });
});
