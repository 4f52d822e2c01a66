// Shared by the disaster-recovery tests: a repository whose pipelines leave every kind of data a
// restore must bring back (logs, artifacts, a secret, a release), backup keys, and checks of a
// restored instance.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { FsBlobStore } from '../../src/artifacts/index.js';
import { postgresSkipReason } from '../support/postgres.js';
import { serviceSkip } from '../support/skip.js';
import type { TestTandem } from '../support/tandem.js';

export const SECRET = 'tdm-secret-4f9a27c1';

/** Skips `what` (loudly, and never under TANDEM_REQUIRE_ALL) without PostgreSQL and its client tools. */
export function pgToolsSkip(what: string): () => string | false {
  return serviceSkip(what, () => {
    try {
      execFileSync('pg_dump', ['--version'], { stdio: 'ignore' });
      return postgresSkipReason() || null;
    } catch {
      return 'pg_dump is not installed (Debian: postgresql-client-15): run scripts/services.sh install';
    }
  });
}

/**
 * Build (logs, a 64 KiB artifact), then a deploy to a local target (a release). The build takes
 * about 3 s, so that a backup started once a job runs (a CLI process starting) still finds it
 * running on a loaded machine.
 */
export function pipelineFile(deployDir: string): string {
  return `stages: [build, deploy]
build:
  stage: build
  script:
    - test "$DEPLOY_TOKEN" = "${SECRET}"
    - echo "token $DEPLOY_TOKEN"
    - mkdir -p app && echo "version $CI_PIPELINE_ID" > app/VERSION && head -c 65536 /dev/urandom > app/blob.bin
    - for i in 1 2 3; do echo "line $i"; sleep 1; done
  artifacts: { paths: [app] }
deploy:
  stage: deploy
  script: [echo deploying]
  environment: { name: production }
  deploy: { source: app, target: { local: { dir: "${deployDir}" } } }
`;
}

/** A repository with that pipeline and its masked secret, on `tandem`. */
export async function drRepo(tandem: TestTandem): Promise<string> {
  const deployDir = path.join(tandem.dataDir, 'deployed');
  await mkdir(deployDir, { recursive: true });
  const { name } = await tandem.repo({ '.gitlab-ci.yml': pipelineFile(deployDir) }, { name: 'app' });
  const res = await tandem.api('POST', `/api/v1/repos/${name}/variables`, { key: 'DEPLOY_TOKEN', value: SECRET, masked: true });
  assert.equal(res.status, 201, res.text);
  return name;
}

export async function writeBackupKey(dir: string, name = 'backup.key'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  return file;
}

interface PipelineSummary {
  id: number;
  status: string;
}

/**
 * What a restored instance must serve of a pipeline that succeeded before the backup: its status,
 * its build log (with the secret masked), its artifact, its release; and a new pipeline must run
 * on it (which needs the secret to decrypt under the restored master key).
 */
export async function assertServesOldData(restored: TestTandem, repo: string, pipelineId: number, version: string): Promise<void> {
  const p = await restored.pipeline(pipelineId);
  assert.equal(p.status, 'success');
  const build = p.jobs.find((j) => j.name === 'build')!;
  const log = await restored.log(build.id);
  assert.match(log, /line 3/);
  assert.match(log, /token \[MASKED\]/);
  assert.ok(!log.includes(SECRET));
  const artifact = await restored.api('GET', `/api/v1/jobs/${build.id}/artifacts/app/VERSION`);
  assert.equal(artifact.status, 200, artifact.text);
  assert.equal(artifact.text.trim(), version);
  const releases = await restored.api<{ version: string; status: string }[]>(
    'GET',
    `/api/v1/repos/${repo}/environments/production/releases`,
  );
  assert.equal(releases.status, 200, releases.text);
  assert.ok(
    releases.body.some((r) => r.status === 'live'),
    JSON.stringify(releases.body),
  );
  const vars = await restored.api<{ key: string; masked: boolean }[]>('GET', `/api/v1/repos/${repo}/variables`);
  assert.deepEqual(
    vars.body.map((v) => [v.key, v.masked]),
    [['DEPLOY_TOKEN', true]],
  );
  const again = await restored.waitForPipeline(await restored.trigger(repo), undefined, 30_000);
  assert.equal(again.status, 'success', JSON.stringify(again.jobs.map((j) => [j.name, j.status])));
}

export async function pipelinesOf(tandem: TestTandem, repo: string): Promise<PipelineSummary[]> {
  const res = await tandem.api<PipelineSummary[]>('GET', `/api/v1/repos/${repo}/pipelines?limit=100`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** Every blob the restored database refers to is in the restored artifact store, intact. */
export async function assertBlobsPresent(digests: Iterable<string>, artifactsDir: string): Promise<number> {
  const store = new FsBlobStore(artifactsDir);
  let n = 0;
  for (const digest of new Set(digests)) {
    const stream = await store.get(digest);
    for await (const _ of stream) void _;
    n++;
  }
  return n;
}

/**
 * Waits until every finished job's log has moved to the artifact store (the server moves it just
 * after the job ends): a backup taken before would count blobs that the next one finds new.
 */
export async function logsMoved(dataDir: string, timeoutMs = 15_000): Promise<void> {
  const db = new BetterSqlite3(path.join(dataDir, 'tandem.db'), { readonly: true });
  try {
    const waiting = db.prepare(
      "select count(*) as n from jobs where status in ('success', 'failed', 'canceled') and log_blob is null and exists (select 1 from job_logs where job_logs.job_id = jobs.id)",
    );
    for (const deadline = Date.now() + timeoutMs; (waiting.get() as { n: number }).n > 0;) {
      if (Date.now() > deadline) assert.fail(`finished jobs' logs still in the database after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    db.close();
  }
}
