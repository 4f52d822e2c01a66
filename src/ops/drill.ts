// `tandem dr drill`: proves the newest backup can bring Tandem back. It is restored into a scratch
// instance (a temp data dir, and a scratch PostgreSQL database for PostgreSQL backups), a server
// is started on it, and the drill checks what a real recovery needs: the row counts of the
// snapshot, an artifact served with its checksum, and a new pipeline run to success by an agent.
// RPO is the drill's start minus the backup's snapshot (what a disaster then would have lost),
// RTO the time from the drill's start until the restored server was ready.
//
// The scratch instance must never act on the real world: before it starts, every unfinished job
// of the copy is canceled and repository polling turned off, and its agent takes only jobs
// tagged for the drill, so no restored deploy job runs again.
//
// An orchestration over src/dr, src/server and src/agent, so it lives above all three (src/ops).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { Agent } from '../agent/index.js';
import type { MasterKey } from '../auth/index.js';
import { loadConfig } from '../config/index.js';
import { startServer, type RunningServer } from '../server/index.js';
import { openStore } from '../store/index.js';
import { createScratchDatabase, findBackup, openDestination, restoreBackup, type BackupKey, type BackupManifest } from '../dr/index.js';

const run = promisify(execFile);
const DRILL_TAG = 'tandem-dr-drill';
const UNFINISHED_JOBS = ['created', 'pending', 'running', 'scheduled'] as const;
const UNFINISHED_PIPELINES = ['created', 'pending', 'running', 'scheduled'] as const;

export interface DrillStep {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface DrillReport {
  ok: boolean;
  destination: string;
  backupId: string | null;
  startedAt: number;
  finishedAt: number;
  /** Drill start minus the backup's snapshot time. */
  rpoMs: number | null;
  /** Drill start until the restored server answered /readyz. */
  rtoMs: number | null;
  steps: DrillStep[];
  error: string | null;
}

export interface DrillOptions {
  from: string;
  backupId?: string;
  backupKey: BackupKey | null;
  masterKey?: MasterKey | null;
  /** A PostgreSQL server for the scratch database, needed for PostgreSQL backups. */
  scratchDatabaseUrl?: string;
  /** Longest wait for the drill's pipeline. */
  pipelineTimeoutMs?: number;
  now?: () => number;
}

class DrillFailure extends Error {}

async function api<T>(server: RunningServer, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new DrillFailure(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return (res.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as T) : (text as T);
}

/** A local git repository whose one job, tagged for the drill, leaves an artifact. */
async function drillRepository(dir: string, id: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, '.tandem.yml'),
    `drill:\n  tags: [${DRILL_TAG}]\n  script:\n    - echo "drill ${id}" > drill.txt\n  artifacts: { paths: [drill.txt] }\n`,
  );
  const git = (...args: string[]) =>
    run('git', ['-C', dir, '-c', 'user.name=Tandem drill', '-c', 'user.email=drill@tandem.invalid', ...args]);
  await git('init', '-q', '-b', 'main');
  await git('add', '.');
  await git('commit', '-q', '-m', 'drill');
  return dir;
}

/** Cancels what the copy would otherwise run again (real deploys among it) and stops polling real remotes. */
async function quiesce(databaseUrl: string, now: number): Promise<{ jobs: number; pipelines: number }> {
  const store = await openStore(databaseUrl);
  try {
    const jobs = await store.db
      .updateTable('jobs')
      .set({ status: 'canceled', finished_at: now, lease_expires_at: null })
      .where('status', 'in', UNFINISHED_JOBS)
      .executeTakeFirst();
    const pipelines = await store.db
      .updateTable('pipelines')
      .set({ status: 'canceled', finished_at: now })
      .where('status', 'in', UNFINISHED_PIPELINES)
      .executeTakeFirst();
    await store.db.updateTable('repos').set({ poll_interval_seconds: 0 }).execute();
    return { jobs: Number(jobs.numUpdatedRows), pipelines: Number(pipelines.numUpdatedRows) };
  } finally {
    await store.close();
  }
}

export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const steps: DrillStep[] = [];
  const report: DrillReport = {
    ok: false,
    destination: '',
    backupId: null,
    startedAt,
    finishedAt: startedAt,
    rpoMs: null,
    rtoMs: null,
    steps,
    error: null,
  };
  const step = async <T>(name: string, work: () => Promise<{ value: T; detail: string }>): Promise<T> => {
    const t0 = now();
    try {
      const { value, detail } = await work();
      steps.push({ name, ok: true, ms: now() - t0, detail });
      return value;
    } catch (err) {
      steps.push({ name, ok: false, ms: now() - t0, detail: (err as Error).message });
      throw err;
    }
  };

  const scratch = await mkdtemp(join(tmpdir(), 'tandem-drill-'));
  const cleanups: (() => Promise<void>)[] = [() => rm(scratch, { recursive: true, force: true })];
  try {
    const dest = openDestination(options.from);
    report.destination = dest.name;
    let manifest: BackupManifest;
    try {
      manifest = await findBackup(dest, options.backupId);
    } finally {
      dest.close();
    }
    report.backupId = manifest.id;
    report.rpoMs = startedAt - manifest.snapshotAt;
    if (!manifest.keys?.contents.includes('adminToken')) {
      throw new DrillFailure(
        `backup ${manifest.id} holds no admin token (made without a backup key): a drill needs one to drive the restored instance`,
      );
    }

    let databaseUrl: string | undefined;
    if (manifest.dialect === 'postgres') {
      if (!options.scratchDatabaseUrl)
        throw new DrillFailure(
          `backup ${manifest.id} is of PostgreSQL: pass --scratch-database-url postgresql://… (a user with CREATEDB) for the scratch database`,
        );
      const db = await createScratchDatabase(options.scratchDatabaseUrl);
      cleanups.unshift(db.drop);
      databaseUrl = db.url;
    }
    const dataDir = join(scratch, 'data');
    const restored = await step('restore', async () => {
      const r = await restoreBackup({
        from: options.from,
        backupId: manifest.id,
        dataDir,
        databaseUrl,
        backupKey: options.backupKey,
        masterKey: options.masterKey,
      });
      return {
        value: r,
        detail: `backup ${r.backupId}: ${r.blobs.restored} blob(s), ${r.counts.pipelines ?? 0} pipeline(s), migrated to ${r.migratedTo}`,
      };
    });
    const url = databaseUrl ?? join(dataDir, 'tandem.db');
    await step('counts', async () => {
      const differing = Object.entries(manifest.counts).filter(([table, n]) => restored.counts[table] !== n);
      if (differing.length > 0)
        throw new DrillFailure(
          differing.map(([t, n]) => `table ${t}: ${restored.counts[t]} rows restored, the snapshot had ${n}`).join('; '),
        );
      return { value: null, detail: `${Object.keys(manifest.counts).length} tables as in the snapshot` };
    });
    await step('isolate', async () => {
      const q = await quiesce(url, now());
      return { value: null, detail: `${q.pipelines} unfinished pipeline(s) and ${q.jobs} job(s) of the copy canceled, polling off` };
    });

    const config = loadConfig({ dataDir, databaseUrl: url, port: 0, listen: '127.0.0.1', logLevel: 'silent', leaseSeconds: 5 }, {});
    const server = await step('ready', async () => {
      const s = await startServer(config, pino({ level: 'silent' }));
      cleanups.unshift(() => s.close());
      const res = await fetch(`${s.url}/readyz`);
      if (res.status !== 200) throw new DrillFailure(`/readyz answered ${res.status}`);
      report.rtoMs = now() - startedAt;
      return { value: s, detail: `${s.url} ready ${((report.rtoMs ?? 0) / 1000).toFixed(1)} s after the drill began` };
    });
    const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();

    await step('artifact', async () => {
      const newest = manifest.blobs.find((b) => b.ref.startsWith('artifact '));
      if (!newest) return { value: null, detail: 'the backup holds no artifacts' };
      const m = /^artifact (.+) of job (\d+)$/.exec(newest.ref);
      if (!m) throw new DrillFailure(`cannot read the artifact reference "${newest.ref}"`);
      const res = await fetch(`${server.url}/api/v1/jobs/${m[2]}/artifacts/${m[1].split('/').map(encodeURIComponent).join('/')}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200) throw new DrillFailure(`job ${m[2]}'s ${m[1]}: HTTP ${res.status}`);
      const digest = createHash('sha256').update(body).digest('hex');
      if (digest !== newest.digest)
        throw new DrillFailure(`job ${m[2]}'s ${m[1]} came back with sha256 ${digest}, expected ${newest.digest}`);
      return { value: null, detail: `job ${m[2]}'s ${m[1]} served with its sha256` };
    });

    await step('pipeline', async () => {
      const agent = new Agent({
        servers: [server.url],
        token,
        concurrency: 1,
        workDir: join(scratch, 'agent'),
        tags: [DRILL_TAG],
        executor: 'shell',
        name: `drill-${manifest.id}`,
        hiddenPaths: [dataDir],
        log: pino({ level: 'silent' }),
        version: server.ctx.version,
      });
      await agent.start();
      cleanups.unshift(() => agent.stop({ cancelRunning: true }));
      const name = `dr-drill-${Date.now().toString(36)}`;
      await api(server, token, 'POST', '/api/v1/repos', { name, url: await drillRepository(join(scratch, 'repo'), manifest.id) });
      const { id } = await api<{ id: number }>(server, token, 'POST', `/api/v1/repos/${name}/pipelines`, {});
      const deadline = now() + (options.pipelineTimeoutMs ?? 60_000);
      for (;;) {
        const p = await api<{ status: string; jobs: { id: number; status: string }[] }>(server, token, 'GET', `/api/v1/pipelines/${id}`);
        if (p.status === 'success') {
          const artifact = await api<string>(server, token, 'GET', `/api/v1/jobs/${p.jobs[0].id}/artifacts/drill.txt`);
          if (artifact.trim() !== `drill ${manifest.id}`)
            throw new DrillFailure(`the drill pipeline's artifact reads "${artifact.trim()}"`);
          return { value: null, detail: `pipeline ${id} ran on the restored instance and stored its artifact` };
        }
        if (['failed', 'canceled', 'skipped'].includes(p.status)) throw new DrillFailure(`the drill pipeline ${id} ended ${p.status}`);
        if (now() > deadline)
          throw new DrillFailure(`the drill pipeline ${id} is still ${p.status} after ${options.pipelineTimeoutMs ?? 60_000} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    report.ok = true;
  } catch (err) {
    report.error = (err as Error).message;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    report.finishedAt = now();
  }
  return report;
}
