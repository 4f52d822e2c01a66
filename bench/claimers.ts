// The agents of the claims benchmark, in a process of their own so they do not share the server's
// event loop (real agents run on other hosts). Each registers as an agent does and then loops as a
// busy agent's slot does: the agent's job request, then at once the agent's completion with the
// claim's fencing token. Started by bench/claims.ts with `fork`; talks to it over IPC.
import { ServerClient } from '../src/agent/client.js';
import { serverOutboxTarget } from '../src/agent/http-backend.js';
import type { JobPayload, RegisterAgentResponse } from '../src/api/protocol.js';

export interface ClaimersTask {
  url: string;
  /** The admin token, which registers agents (as `tandem agent --token` does on first start). */
  adminToken: string;
  agents: number;
  namePrefix: string;
  /** Claims before the window are not counted: connections and JIT warm up. */
  warmupMs: number;
  windowMs: number;
}

export interface ClaimersResult {
  /** Jobs whose claim response arrived inside the window. */
  claims: number;
  /** Claim and completion round trips started inside the window, in ms. */
  claimMs: number[];
  completeMs: number[];
  /** Requests answered "no job" (204): the queue ran dry, so the run does not count. */
  empty: number;
  /** This process's CPU seconds inside the window. */
  cpuSeconds: number;
}

export type ClaimersMessage = { type: 'window-start' } | { type: 'window-end' } | { type: 'result'; result: ClaimersResult };

/** The agent's long-poll wait (src/agent/agent.ts); the queue is never empty here, so it never waits. */
const LONG_POLL_MS = 25_000;

async function register(task: ClaimersTask, index: number): Promise<ServerClient> {
  const client = new ServerClient({ servers: [task.url], token: task.adminToken, userAgent: 'tandem-agent/bench' });
  const res = await client.json<RegisterAgentResponse>('POST', '/api/v1/agents', {
    name: `${task.namePrefix}-${index}`,
    tags: [],
    concurrency: 1,
    version: 'bench',
  });
  if (!res) throw new Error('registration returned no agent token');
  client.token = res.token;
  return client;
}

async function run(task: ClaimersTask): Promise<ClaimersResult> {
  const clients = await Promise.all(Array.from({ length: task.agents }, (_, i) => register(task, i)));
  const send = (m: ClaimersMessage) => process.send?.(m);
  const t0 = performance.now();
  const windowStart = t0 + task.warmupMs;
  const windowEnd = windowStart + task.windowMs;
  const result: ClaimersResult = { claims: 0, claimMs: [], completeMs: [], empty: 0, cpuSeconds: 0 };
  let cpuAtStart = process.cpuUsage();
  let ended = false;
  // The slots stop at windowEnd by their own clock and may get there before this timer runs.
  const endWindow = () => {
    if (ended) return;
    ended = true;
    const d = process.cpuUsage(cpuAtStart);
    result.cpuSeconds = (d.user + d.system) / 1e6;
    send({ type: 'window-end' });
  };
  const marks = [
    setTimeout(() => {
      cpuAtStart = process.cpuUsage();
      send({ type: 'window-start' });
    }, task.warmupMs),
    setTimeout(endWindow, task.warmupMs + task.windowMs),
  ];

  const slot = async (client: ServerClient) => {
    const target = serverOutboxTarget(client);
    while (performance.now() < windowEnd) {
      const started = performance.now();
      const inWindow = started >= windowStart;
      const payload = await client.json<JobPayload>(
        'POST',
        '/api/v1/agent/jobs/request',
        { waitMs: LONG_POLL_MS },
        { timeoutMs: LONG_POLL_MS + 10_000 },
      );
      const claimed = performance.now();
      if (!payload) {
        result.empty++;
        continue;
      }
      if (claimed >= windowStart && claimed < windowEnd) result.claims++;
      if (inWindow) result.claimMs.push(claimed - started);
      await target.complete(payload.jobId, { fencingToken: payload.fencingToken, status: 'success', exitCode: 0, failureReason: null });
      if (inWindow) result.completeMs.push(performance.now() - claimed);
    }
  };
  try {
    await Promise.all(clients.map(slot));
    endWindow();
  } finally {
    for (const m of marks) clearTimeout(m);
  }
  return result;
}

process.once('message', (task: ClaimersTask) => {
  run(task).then(
    (result) => {
      process.send?.({ type: 'result', result } satisfies ClaimersMessage, () => process.disconnect());
    },
    (err: unknown) => {
      console.error(`claimers: ${(err as Error).stack ?? String(err)}`);
      process.exit(1);
    },
  );
});
