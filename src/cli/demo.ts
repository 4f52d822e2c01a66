// `tandem up --demo`: turn examples/demo into a real git repository, register it, build it.
import { cp, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { findRepoByName, insertRepo } from '../repos/index.js';
import { triggerPipeline } from '../scheduler/index.js';
import type { RunningServer } from '../server/index.js';
import { publishChanges } from '../server/index.js';

const run = promisify(execFile);
const DEMO_SOURCE = fileURLToPath(new URL('../../../examples/demo', import.meta.url));

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Tandem Demo',
  GIT_AUTHOR_EMAIL: 'demo@tandem.invalid',
  GIT_COMMITTER_NAME: 'Tandem Demo',
  GIT_COMMITTER_EMAIL: 'demo@tandem.invalid',
};

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Creates (once) the demo repository and the `demo` repo entry, then starts a pipeline; returns its id. */
export async function registerDemo(server: RunningServer): Promise<number> {
  const { ctx } = server;
  const repoDir = join(ctx.config.dataDir, 'demo-repo');
  if (!(await exists(join(repoDir, '.git')))) {
    await mkdir(repoDir, { recursive: true });
    await cp(DEMO_SOURCE, repoDir, { recursive: true });
    await run('git', ['init', '-q', '-b', 'main'], { cwd: repoDir, env: gitEnv });
    await run('git', ['add', '-A'], { cwd: repoDir, env: gitEnv });
    await run('git', ['commit', '-q', '-m', 'Demo project'], { cwd: repoDir, env: gitEnv });
  }
  const repo =
    (await findRepoByName(ctx.store.db, 'demo')) ??
    (await insertRepo(ctx.store.db, {
      name: 'demo',
      url: repoDir,
      defaultBranch: 'main',
      pollIntervalSeconds: 10,
      branchFilter: null,
      tagFilter: null,
      forkPullRequests: 'approval',
      now: Date.now(),
    }));
  const result = await triggerPipeline(ctx, { repo, ref: 'main', source: 'web' });
  publishChanges(ctx, result.changes);
  if (result.pipelineId === null) throw new Error(`the demo pipeline was not created: ${result.skippedReason}`);
  return result.pipelineId;
}
