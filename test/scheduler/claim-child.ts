// A separate agent-facing server process for the concurrency test: claims and completes jobs from
// the shared database (a SQLite file, or PostgreSQL through its own pool) until the queue is empty,
// then reports the job ids and tokens it got.
import { claimJob, completeJob } from '../../src/scheduler/index.js';
import { openStore } from '../../src/store/index.js';

const [url, agent] = process.argv.slice(2);
const store = await openStore(url);
process.send?.('ready');
await new Promise((resolve) => process.once('message', resolve));
const claimed: { jobId: number; token: number }[] = [];
for (;;) {
  const c = await claimJob(store, { agentId: Number(agent), agentTags: [], leaseMs: 60_000, now: Date.now() });
  if (!c) break;
  claimed.push({ jobId: c.job.id, token: c.fencingToken });
  // "Run" the job: leaves the write lock free for the other process, like a real agent would.
  await new Promise((resolve) => setTimeout(resolve, 1));
  await completeJob(store, {
    jobId: c.job.id,
    agentId: c.job.agent_id!,
    fencingToken: c.fencingToken,
    status: 'success',
    exitCode: 0,
    now: Date.now(),
  });
}
await store.close();
process.send?.(claimed, () => process.exit(0));
