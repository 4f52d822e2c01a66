// Latency: a push webhook accepted → the job's first command running, on an idle `tandem up`. The
// job's first command writes `date +%s%N`; the bench notes the realtime clock just before the POST.
// Beside it, in the same run, the server's git work for one push the way it was done before the
// mirror kept a cat-file process and fetched the pushed ref alone, and the way it is done now.
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { MirrorCache } from '../src/source/index.js';
import { git, makeRemote, type TestRemote } from '../test/support/git.js';
import { fmt, LiveServer, median, nowMs, percentile, sleep, tempDir, type BenchResult } from './common.js';

const PUSHES = 100;
const GIT_PUSHES = 50;
const TARGET_P50_MS = 20;
const TARGET_P99_MS = 60;
const run = promisify(execFile);

/**
 * ms per push for the server's git work on a pushed commit (fetch it, read the pipeline file and
 * the commit), in two mirrors of one repository, the two ways taking turns to go first:
 * `before`, a git process per question and every ref fetched (as MirrorCache did until
 * 2026-12-06), and `now`, MirrorCache as it is.
 */
async function gitWorkPerPush(dir: string): Promise<{ before: number[]; now: number[] }> {
  await mkdir(dir, { recursive: true });
  const remote: TestRemote = await makeRemote(dir);
  await remote.commit({ '.gitlab-ci.yml': 'job:\n  script: [echo]\n' }, 'initial');
  // Some branches and tags, as a real repository has: a full fetch hears of every one.
  for (let i = 0; i < 20; i++) await git(remote.work, 'branch', `topic-${i}`);
  for (let i = 0; i < 20; i++) await git(remote.work, 'tag', `v0.${i}`);
  await remote.push('--all');
  await remote.push('--tags');
  const oldMirror = path.join(dir, 'before.git');
  await git(dir, 'clone', '--quiet', '--mirror', remote.bare, oldMirror);
  const cache = new MirrorCache(path.join(dir, 'mirrors'));
  await cache.ensure(remote.bare);
  const gitIn = (args: string[], input?: string) => {
    const child = run('git', ['--git-dir', oldMirror, ...args]);
    if (input !== undefined) child.child.stdin?.end(input);
    return child;
  };
  const before = async (sha: string) => {
    const present = await gitIn(['cat-file', '-e', `${sha}^{commit}`]).catch(() => null);
    if (present === null) await gitIn(['fetch', '--prune', '--quiet', 'origin']);
    await gitIn(['cat-file', '-e', `${sha}^{commit}`]);
    await Promise.all([gitIn(['cat-file', '--batch'], `${sha}:.tandem.yml\n${sha}:.gitlab-ci.yml\n`), gitIn(['cat-file', 'commit', sha])]);
  };
  const now = async (sha: string) => {
    await cache.ensure(remote.bare, { sha, ref: 'refs/heads/main' });
    await Promise.all([cache.readFirstFile(remote.bare, sha, ['.tandem.yml', '.gitlab-ci.yml']), cache.commitInfo(remote.bare, sha)]);
  };
  const samples = { before: [] as number[], now: [] as number[] };
  const timed = async (way: 'before' | 'now', sha: string) => {
    const t0 = performance.now();
    await (way === 'before' ? before(sha) : now(sha));
    samples[way].push(performance.now() - t0);
  };
  try {
    for (let i = 0; i < GIT_PUSHES; i++) {
      const sha = await remote.commit({ 'counter.txt': `${i}\n` }, `push ${i}`);
      await remote.push('main');
      const order: ('before' | 'now')[] = i % 2 === 0 ? ['before', 'now'] : ['now', 'before'];
      for (const way of order) await timed(way, sha);
    }
  } finally {
    await cache.close();
  }
  return samples;
}

/** Polls the job's stamp file (cheaply, without touching the server); returns its time in ms. */
async function waitForStamp(file: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    // The shell may have created the file but not yet written it.
    if (text.endsWith('\n')) return Number(BigInt(text.trim()) / 1000n) / 1000;
    if (Date.now() > deadline) throw new Error(`${file} never appeared`);
    await sleep(2);
  }
}
const SECRET = 'bench-secret';

export async function latency(log: (line: string) => void): Promise<BenchResult> {
  const tmp = await tempDir('latency');
  // The shell executor: the stamp file lies outside the job's workspace, which the sandbox hides.
  const server = await LiveServer.start('up', path.join(tmp.dir, 'data'), ['--executor', 'shell']);
  try {
    const stamps = path.join(tmp.dir, 'stamps');
    const remote = await makeRemote(tmp.dir);
    const pipeline = `stamp:\n  script:\n    - date +%s%N > "${stamps}-$CI_COMMIT_SHA"\n`;
    let before = await remote.commit({ '.gitlab-ci.yml': pipeline }, 'initial');
    await remote.push('main');
    await server.api('POST', '/api/v1/repos', { name: 'bench', url: remote.bare, webhookSecret: SECRET });

    const samples: number[] = [];
    // Where the time goes, from the server's own (millisecond) timestamps.
    const phases = { stored: [] as number[], claimed: [] as number[], running: [] as number[] };
    for (let i = 0; i < PUSHES; i++) {
      const sha = await remote.commit({ 'counter.txt': `${i}\n` }, `push ${i}`);
      await remote.push('main');
      const body = JSON.stringify({ object_kind: 'push', ref: 'refs/heads/main', before, after: sha, checkout_sha: sha });
      const headers = { 'x-gitlab-token': SECRET, 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': `bench-${i}-${sha}` };
      const t0 = nowMs();
      const accepted = await server.api<{ accepted: boolean; pipelineId: number }>('POST', '/api/v1/hooks/gitlab/bench', body, {
        ...headers,
        'content-type': 'application/json',
      });
      if (!accepted.accepted) throw new Error(`push ${i} not accepted: ${JSON.stringify(accepted)}`);
      const stampMs = await waitForStamp(`${stamps}-${sha}`);
      // Wait for the pipeline to end, so every push meets an idle server.
      const p = await server.waitForPipeline(accepted.pipelineId, 30_000);
      if (p.status !== 'success') throw new Error(`pipeline ${accepted.pipelineId} ended ${p.status}`);
      const job = (await server.api<{ jobs: { startedAt: string }[] }>('GET', `/api/v1/pipelines/${accepted.pipelineId}`)).jobs[0];
      samples.push(stampMs - t0);
      phases.stored.push(Date.parse(p.createdAt) - t0);
      phases.claimed.push(Date.parse(job.startedAt) - Date.parse(p.createdAt));
      phases.running.push(stampMs - Date.parse(job.startedAt));
      before = sha;
      if (i % 25 === 24) log(`latency: ${i + 1}/${PUSHES} pushes, p50 so far ${fmt(median(samples), 1)} ms`);
      await sleep(20);
    }
    const p50 = percentile(samples, 50);
    const p99 = percentile(samples, 99);
    log("latency: the server's git work per push, before and now");
    const work = await gitWorkPerPush(path.join(tmp.dir, 'git-work'));
    const ratio = (p: number) => fmt(percentile(work.now, p) / percentile(work.before, p));
    return {
      id: 'latency',
      title: `Latency: webhook POST → first job command running (${PUSHES} pushes)`,
      header: ['percentile', 'ms', 'target ms', 'ratio to target'],
      rows: [
        ['p50', fmt(p50, 1), String(TARGET_P50_MS), fmt(p50 / TARGET_P50_MS)],
        ['p90', fmt(percentile(samples, 90), 1), '-', '-'],
        ['p99', fmt(p99, 1), String(TARGET_P99_MS), fmt(p99 / TARGET_P99_MS)],
        ['min', fmt(Math.min(...samples), 1), '-', '-'],
        ['max', fmt(Math.max(...samples), 1), '-', '-'],
      ],
      notes: [
        `Targets: p50 ≤ ${TARGET_P50_MS} ms — ${p50 <= TARGET_P50_MS ? 'met' : 'missed'}; p99 ≤ ${TARGET_P99_MS} ms — ${p99 <= TARGET_P99_MS ? 'met' : 'missed'}. ` +
          'Each push is a real commit pushed to a bare repository; the time includes reading the pipeline file from the mirror, ' +
          'compiling it, storing the pipeline, an agent claiming the job, preparing the workspace and starting the shell.',
        `Median split: webhook POST → pipeline stored ${fmt(median(phases.stored), 1)} ms; stored → job claimed by an agent ${fmt(median(phases.claimed), 1)} ms; ` +
          `claimed → first command running ${fmt(median(phases.running), 1)} ms (server timestamps have millisecond resolution).`,
      ],
      tables: [
        {
          caption:
            `The server's git work for one push (fetch the pushed commit, read the pipeline file and the commit), ms, ${GIT_PUSHES} pushes to a repository ` +
            "with 20 branches and 20 tags, the two ways taking turns: before, a git process per question and every ref fetched; now, the mirror's " +
            'cat-file process and a fetch of the pushed ref alone.',
          header: ['percentile', 'before ms', 'now ms', 'now ÷ before'],
          rows: [50, 90, 99].map((p) => [`p${p}`, fmt(percentile(work.before, p), 1), fmt(percentile(work.now, p), 1), ratio(p)]),
        },
      ],
    };
  } finally {
    await server.stop();
    await tmp.remove();
  }
}
