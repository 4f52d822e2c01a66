// Forge statuses: pipeline and job state changes on a `tandem up` become commit statuses on a
// contract server standing in for GitHub (requests checked against GitHub's OpenAPI description).
// Latency is a status's outbox row written (the commit of the state change, the database's clock)
// → the contract server received it. Then a 60 s forge outage (every write answered 503): the
// statuses are delayed and collapse to their newest states, none is lost and none is posted twice.
import path from 'node:path';
import Database from 'better-sqlite3';
import { makeRemote } from '../test/support/git.js';
import { GitHubContractServer } from '../test/forges/github-contract.js';
import { GITHUB_STATUS_STATE, type CommitState } from '../src/source/index.js';
import { fmt, LiveServer, percentile, sleep, tempDir, type BenchResult } from './common.js';

const CHANGES = 1000;
const OUTAGE_MS = 60_000;
const OUTAGE_PIPELINES = 20;
const FILE = ['a', 'b', 'c', 'd'].map((j) => `${j}:\n  script: [echo ok]\n`).join('');

interface OutboxRow {
  key: string;
  payload: string;
  status: string;
  result: string | null;
  created_at: number;
}

/** (sha, context, state, description) posted more than once: each state must arrive once. */
function duplicates(gh: GitHubContractServer): number {
  const seen = new Set<string>();
  let dup = 0;
  for (const s of gh.received) {
    const id = `${s.sha} ${s.context} ${s.state} ${s.description}`;
    if (seen.has(id)) dup++;
    seen.add(id);
  }
  return dup;
}

export async function forgeStatuses(log: (line: string) => void): Promise<BenchResult> {
  const tmp = await tempDir('forge-statuses');
  const gh = await GitHubContractServer.start();
  const dataDir = path.join(tmp.dir, 'data');
  const server = await LiveServer.start('up', dataDir, ['--executor', 'shell']);
  try {
    const remote = await makeRemote(tmp.dir);
    await remote.commit({ '.gitlab-ci.yml': FILE }, 'initial');
    await remote.push('main');
    await server.api('POST', '/api/v1/repos', {
      name: 'bench',
      url: remote.bare,
      forge: { type: 'github', apiUrl: gh.url, project: 'octo/bench', token: gh.token, statuses: 'jobs' },
    });
    const db = new Database(path.join(dataDir, 'tandem.db'), { readonly: true, fileMustExist: true });
    const rows = () => db.prepare('select key, payload, status, result, created_at from outbox order by id').all() as OutboxRow[];
    const pendingCount = () => (db.prepare("select count(*) as n from outbox where status = 'pending'").get() as { n: number }).n;

    /** One commit per pipeline, so every (commit, context) belongs to one pipeline. */
    const runPipelines = async (count: number, gapMs: number): Promise<{ id: number; sha: string }[]> => {
      const shas: string[] = [];
      for (let i = 0; i < count; i++) shas.push(await remote.commit({ 'n.txt': `${Date.now()} ${i}\n` }, `change ${i}`));
      // A branch each: a newer pipeline on the same branch would cancel the older one.
      await remote.push(...shas.map((sha) => `${sha}:refs/heads/b-${sha.slice(0, 12)}`));
      const started: { id: number; sha: string }[] = [];
      for (const sha of shas) {
        const { id } = await server.api<{ id: number }>('POST', '/api/v1/repos/bench/pipelines', { ref: `b-${sha.slice(0, 12)}` });
        started.push({ id, sha });
        await sleep(gapMs);
      }
      for (const p of started) {
        const done = await server.waitForPipeline(p.id, 120_000);
        if (done.status !== 'success') throw new Error(`pipeline ${p.id} ended ${done.status}`);
      }
      return started;
    };
    const settle = async (timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (pendingCount() > 0) {
        if (Date.now() > deadline) throw new Error(`${pendingCount()} statuses still pending`);
        await sleep(50);
      }
    };

    // Steady state: pipelines until the outbox has seen CHANGES state changes.
    const t0 = Date.now();
    let steady: { id: number; sha: string }[] = [];
    while (rows().length < CHANGES) {
      steady = steady.concat(await runPipelines(10, 100));
      log(`forge-statuses: ${steady.length} pipelines, ${rows().length} state changes`);
    }
    await settle(60_000);
    const steadyMs = Date.now() - t0;
    const written = rows();
    const received = new Map(gh.received.map((s) => [`${s.sha} ${s.context} ${s.state} ${s.description}`, s.at]));
    const latencies: number[] = [];
    for (const r of written.filter((x) => x.status === 'sent' && x.result === 'sent')) {
      const p = JSON.parse(r.payload) as { sha: string; context: string; state: CommitState; description: string };
      const state = GITHUB_STATUS_STATE[p.state];
      const at = received.get(`${p.sha} ${p.context} ${state} ${p.description}`);
      if (at === undefined) throw new Error(`sent but never received: ${r.key} ${p.description}`);
      latencies.push(at - r.created_at);
    }
    const count = (status: string, result?: string) =>
      written.filter((r) => r.status === status && (result === undefined || r.result === result)).length;
    const steadyDup = duplicates(gh);
    log(`forge-statuses: steady p50 ${fmt(percentile(latencies, 50), 1)} ms over ${latencies.length} statuses`);

    // The outage: every write fails for OUTAGE_MS while pipelines keep running.
    gh.fault({ kind: 'error', count: Number.MAX_SAFE_INTEGER, status: 503 });
    const outageStart = Date.now();
    const before = written.length;
    const outagePipelines = await runPipelines(OUTAGE_PIPELINES, 200);
    await sleep(Math.max(0, outageStart + OUTAGE_MS - Date.now()));
    gh.faults.length = 0;
    const outageEnd = Date.now();
    log('forge-statuses: outage over');
    const finalKeys = outagePipelines.flatMap((p) =>
      ['tandem/pipeline', ...['a', 'b', 'c', 'd'].map((j) => `tandem/pipeline/${j}`)].map((c) => [p.sha, c] as const),
    );
    const arrived = () => finalKeys.filter(([sha, c]) => gh.statesOf(sha, c).at(-1)?.startsWith('success:')).length;
    const deadline = Date.now() + 180_000;
    while (arrived() < finalKeys.length && Date.now() < deadline) await sleep(50);
    const recoveredMs = Date.now() - outageEnd;
    await settle(30_000);
    const after = rows().slice(before);
    const lost = finalKeys.length - arrived();
    const outageDup = duplicates(gh) - steadyDup;
    const failed = rows().filter((r) => r.status === 'failed').length;
    db.close();

    const p50 = percentile(latencies, 50);
    return {
      id: 'forgeStatuses',
      title: `Forge statuses: ${written.length} state changes → GitHub commit statuses, and a ${OUTAGE_MS / 1000} s forge outage`,
      header: ['measure', 'value', 'target'],
      rows: [
        ['state changes written to the outbox (steady)', String(written.length), `≥ ${CHANGES}`],
        ['pipelines (4 jobs each, statuses: jobs)', String(steady.length), '-'],
        ['statuses posted', String(count('sent', 'sent')), '-'],
        ['not posted: same as the last sent (unchanged)', String(count('sent', 'unchanged')), '-'],
        ['collapsed into a newer state (superseded)', String(count('superseded')), '-'],
        ['delivery latency p50 (row written → GitHub received)', `${fmt(p50, 1)} ms`, '≤ 200 ms'],
        ['delivery latency p90', `${fmt(percentile(latencies, 90), 1)} ms`, '-'],
        ['delivery latency p99', `${fmt(percentile(latencies, 99), 1)} ms`, '-'],
        ['duplicate states per (commit, context)', String(steadyDup), '0'],
        ['wall time of the steady run', `${fmt(steadyMs / 1000, 1)} s`, '-'],
        [`outage: pipelines run while GitHub answered 503`, String(outagePipelines.length), '-'],
        ['outage: state changes written meanwhile', String(after.length), '-'],
        ['outage: final statuses lost', String(lost), '0'],
        ['outage: last final status arrived after the outage ended', `${fmt(recoveredMs / 1000, 1)} s`, '-'],
        ['outage: duplicate states', String(outageDup), '0'],
        ['messages given up (failed)', String(failed), '0'],
        ["requests outside GitHub's OpenAPI description", String(gh.violations.length), '0'],
      ],
      notes: [
        `Target p50 ≤ 200 ms — ${p50 <= 200 ? 'met' : 'missed'}; no duplicate state — ${steadyDup + outageDup === 0 ? 'met' : 'missed'}; ` +
          `the outage lost ${lost === 0 ? 'nothing' : `${lost} final statuses`}. ` +
          '`tandem up` (SQLite, two local agents, shell executor) with one repository reporting to a contract server standing in for GitHub ' +
          '(every request validated against @octokit/openapi); each pipeline runs on its own commit, so each (commit, context) belongs to one pipeline. ' +
          'Latency runs from the outbox row (written in the transaction of the state change) to the contract server receiving the status, ' +
          'for the statuses that were posted; states superseded by a newer one before their turn, and states equal to the last one sent, are not posted at all.',
        'During the outage each status is retried with the outbox backoff (1 s doubling, so up to 64 s after 60 s of failures); ' +
          'the older states of a (commit, context) collapse into the newest, so recovery posts one status per context rather than the whole backlog.',
      ],
    };
  } finally {
    await server.stop();
    await gh.close();
    await tmp.remove();
  }
}
