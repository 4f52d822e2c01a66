// Latency: a push webhook accepted → the job's first command running, on an idle `tandem up`. The
// job's first command writes `date +%s%N`; the bench notes the realtime clock just before the POST.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeRemote } from '../test/support/git.js';
import { fmt, LiveServer, median, nowMs, percentile, sleep, tempDir, type BenchResult } from './common.js';

const PUSHES = 100;

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
    return {
      id: 'latency',
      title: `Latency: webhook POST → first job command running (${PUSHES} pushes)`,
      header: ['percentile', 'ms', 'target ms', 'ratio to target'],
      rows: [
        ['p50', fmt(p50, 1), '50', fmt(p50 / 50)],
        ['p90', fmt(percentile(samples, 90), 1), '-', '-'],
        ['p99', fmt(p99, 1), '200', fmt(p99 / 200)],
        ['min', fmt(Math.min(...samples), 1), '-', '-'],
        ['max', fmt(Math.max(...samples), 1), '-', '-'],
      ],
      notes: [
        `Targets: p50 ≤ 50 ms — ${p50 <= 50 ? 'met' : 'missed'}; p99 ≤ 200 ms — ${p99 <= 200 ? 'met' : 'missed'}. ` +
          'Each push is a real commit pushed to a bare repository; the time includes reading the pipeline file from the mirror, ' +
          'compiling it, storing the pipeline, an agent claiming the job, preparing the workspace and starting the shell.',
        `Median split: webhook POST → pipeline stored ${fmt(median(phases.stored), 1)} ms; stored → job claimed by an agent ${fmt(median(phases.claimed), 1)} ms; ` +
          `claimed → first command running ${fmt(median(phases.running), 1)} ms (server timestamps have millisecond resolution).`,
      ],
    };
  } finally {
    await server.stop();
    await tmp.remove();
  }
}
