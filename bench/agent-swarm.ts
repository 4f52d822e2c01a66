// The simulated agents of the agents benchmark: thousands in one process, so that the machine's two
// cores are left to the servers. Each speaks the agent protocol as src/agent/agent.ts does (register,
// announce, a presence stream held open, long-polls of 25 s for jobs, a completion with the claim's
// fencing token) but runs nothing: a job is completed the moment it arrives. node:http rather than
// fetch: a fetch costs several times the CPU per request, and one http.Agent pool can bind each
// simulated agent to a loopback address of its own (the pool is keyed by local address), so the
// server sees as many client addresses as agents, as it would with real hosts, and its
// per-address connection cap applies as it would in production. Started by bench/agents.ts with
// `fork`; talks to it over IPC.
import { setMaxListeners } from 'node:events';
import http from 'node:http';
import type { CompleteRequest, JobPayload, RegisterAgentRequest, RegisterAgentResponse } from '../src/api/protocol.js';

export interface SwarmTask {
  /** Replica URLs; agent g talks to servers[g % servers.length], so agents are spread evenly. */
  servers: string[];
  adminToken: string;
  /** Global index of this process's first agent, and how many it runs. */
  first: number;
  count: number;
  namePrefix: string;
  /** Registrations in flight at once from this process (the admin's side of setting up a fleet). */
  registerConcurrency: number;
}

export interface SwarmReady {
  registered: number;
  presenceOpen: number;
  /** Wall-clock ms (performance.timeOrigin-based) when the last agent began polling. */
  at: number;
}

export interface SwarmCounts {
  claimed: number;
  completed: number;
  /** Completions refused with 409: the claim was stale, someone else holds the job. */
  fencingRejected: number;
  /** Any other failed request (network error, 4xx/5xx), by a short description. */
  errors: Record<string, number>;
  /** Presence streams that ended while the benchmark did not stop them. */
  presenceBroken: number;
  /** Long-polls answered 204 (the wait ran out with no job). */
  emptyPolls: number;
  /** CPU seconds this process has used so far. */
  cpuSeconds: number;
}

export interface SwarmResult extends SwarmCounts {
  /**
   * Per job handed out: its id, and wall-clock ms of the long-poll's sending, of its answer with the
   * job, and of the completion's answer.
   */
  jobs: { jobId: number; polledAt: number; claimedAt: number; completedAt: number | null }[];
}

export type SwarmCommand = { type: 'start'; task: SwarmTask } | { type: 'counts' } | { type: 'stop' };
export type SwarmMessage =
  | { type: 'ready'; ready: SwarmReady }
  | { type: 'counts'; counts: SwarmCounts }
  | { type: 'result'; result: SwarmResult }
  | { type: 'failed'; message: string };

/** As src/agent/agent.ts: the long-poll's wait, and the client's own timeout beyond it. */
const LONG_POLL_MS = 25_000;
const LONG_POLL_TIMEOUT_MS = LONG_POLL_MS + 10_000;

const nowMs = () => performance.timeOrigin + performance.now();

// Sockets are never capped: each simulated agent holds at most two (presence and one request).
const pool = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: Infinity, scheduling: 'lifo' });

/** Agent g's own client address: 127.1.x.y, y in 1..250 (the whole of 127/8 is loopback on Linux). */
function localAddressOf(g: number): string {
  return `127.1.${Math.floor(g / 250)}.${1 + (g % 250)}`;
}

interface Reply {
  status: number;
  body: string;
}

function request(
  url: string,
  opts: { method: string; path: string; token: string; localAddress: string; body?: unknown; timeoutMs: number; signal?: AbortSignal },
): Promise<Reply> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const target = new URL(opts.path, url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method: opts.method,
        hostname: target.hostname,
        port: target.port,
        path: target.pathname,
        agent: pool,
        localAddress: opts.localAddress,
        signal: opts.signal,
        headers: {
          authorization: `Bearer ${opts.token}`,
          'user-agent': 'tandem-agent/bench',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`timeout after ${opts.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

const stopping = new AbortController();
const counts: SwarmCounts = {
  claimed: 0,
  completed: 0,
  fencingRejected: 0,
  errors: {},
  presenceBroken: 0,
  emptyPolls: 0,
  cpuSeconds: 0,
};
const jobs: SwarmResult['jobs'] = [];

function countError(what: string): void {
  counts.errors[what] = (counts.errors[what] ?? 0) + 1;
}

// Every request of every simulated agent listens on this one signal.
setMaxListeners(Infinity, stopping.signal);

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(t);
      stopping.signal.removeEventListener('abort', wake);
      resolve();
    };
    const t = setTimeout(wake, ms);
    stopping.signal.addEventListener('abort', wake, { once: true });
  });

class SimulatedAgent {
  token = '';
  readonly localAddress: string;
  readonly url: string;
  readonly name: string;

  constructor(
    readonly g: number,
    task: SwarmTask,
  ) {
    this.localAddress = localAddressOf(g);
    this.url = task.servers[g % task.servers.length];
    this.name = `${task.namePrefix}-${g}`;
  }

  private call(method: string, path: string, body: unknown, timeoutMs = 60_000, token = this.token): Promise<Reply> {
    return request(this.url, { method, path, token, localAddress: this.localAddress, body, timeoutMs, signal: stopping.signal });
  }

  async register(adminToken: string): Promise<void> {
    const announcement: RegisterAgentRequest = { name: this.name, tags: [], concurrency: 1, version: 'bench' };
    const reg = await this.call('POST', '/api/v1/agents', announcement, 60_000, adminToken);
    if (reg.status !== 201) throw new Error(`registering ${this.name}: ${reg.status} ${reg.body}`);
    this.token = (JSON.parse(reg.body) as RegisterAgentResponse).token;
    // A real agent announces itself at every start (src/agent/agent.ts identify).
    const self = await this.call('PUT', '/api/v1/agent/self', announcement);
    if (self.status !== 200) throw new Error(`announcing ${this.name}: ${self.status} ${self.body}`);
  }

  /** Resolves once the first stream's headers arrived; reopens the stream whenever it ends, as the agent does. */
  openPresence(): Promise<void> {
    return new Promise((firstOpen, firstFailed) => {
      let opened = false;
      const connect = () => {
        if (stopping.signal.aborted) return;
        const req = http.request(
          {
            method: 'GET',
            hostname: new URL(this.url).hostname,
            port: new URL(this.url).port,
            path: '/api/v1/agent/presence',
            agent: pool,
            localAddress: this.localAddress,
            signal: stopping.signal,
            headers: { authorization: `Bearer ${this.token}`, 'user-agent': 'tandem-agent/bench', accept: 'text/event-stream' },
          },
          (res) => {
            if (res.statusCode !== 200) {
              res.resume();
              const err = new Error(`presence of ${this.name}: ${res.statusCode}`);
              if (!opened) firstFailed(err);
              else countError(`presence ${res.statusCode}`);
              return;
            }
            opened = true;
            firstOpen();
            // Heartbeats arrive every second; nothing in them matters here.
            res.on('data', () => undefined);
            res.on('close', () => {
              if (stopping.signal.aborted) return;
              counts.presenceBroken++;
              setTimeout(connect, 1000);
            });
          },
        );
        req.on('error', (err) => {
          if (stopping.signal.aborted) return;
          if (!opened) firstFailed(err);
          else {
            countError(`presence: ${err.message}`);
            setTimeout(connect, 1000);
          }
        });
        req.end();
      };
      connect();
    });
  }

  /** The slot of an agent with concurrency 1: long-poll, complete at once, long-poll again. */
  async poll(): Promise<void> {
    while (!stopping.signal.aborted) {
      let reply: Reply;
      const polledAt = nowMs();
      try {
        reply = await this.call('POST', '/api/v1/agent/jobs/request', { waitMs: LONG_POLL_MS }, LONG_POLL_TIMEOUT_MS);
      } catch (err) {
        if (stopping.signal.aborted) return;
        countError(`request: ${(err as Error).message}`);
        await sleep(1000 + Math.random() * 1000);
        continue;
      }
      if (reply.status === 204) {
        counts.emptyPolls++;
        continue;
      }
      if (reply.status !== 200) {
        countError(`request ${reply.status}`);
        await sleep(1000 + Math.random() * 1000);
        continue;
      }
      const claimedAt = nowMs();
      const payload = JSON.parse(reply.body) as JobPayload;
      counts.claimed++;
      const job: SwarmResult['jobs'][number] = { jobId: payload.jobId, polledAt, claimedAt, completedAt: null };
      jobs.push(job);
      const body: CompleteRequest = { fencingToken: payload.fencingToken, status: 'success', exitCode: 0, failureReason: null };
      // As the agent's outbox: a completion that fails for want of a server is sent again; a 409 is final.
      for (let attempt = 0; !stopping.signal.aborted; attempt++) {
        try {
          const done = await this.call('POST', `/api/v1/agent/jobs/${payload.jobId}/complete`, body);
          if (done.status === 200) {
            counts.completed++;
            job.completedAt = nowMs();
          } else if (done.status === 409) counts.fencingRejected++;
          else if (done.status >= 500 && attempt < 5) {
            countError(`complete ${done.status} (retried)`);
            await sleep(500);
            continue;
          } else countError(`complete ${done.status}`);
        } catch (err) {
          if (stopping.signal.aborted) return;
          countError(`complete: ${(err as Error).message}`);
          if (attempt < 5) {
            await sleep(500);
            continue;
          }
        }
        break;
      }
    }
  }
}

async function start(task: SwarmTask): Promise<SwarmReady> {
  const agents = Array.from({ length: task.count }, (_, i) => new SimulatedAgent(task.first + i, task));
  const polls: Promise<void>[] = [];
  let next = 0;
  let presenceOpen = 0;
  // Each agent starts as soon as it is registered, as a fleet that comes up one host after another.
  const registrar = async () => {
    while (next < agents.length && !stopping.signal.aborted) {
      const agent = agents[next++];
      await agent.register(task.adminToken);
      await agent.openPresence();
      presenceOpen++;
      polls.push(agent.poll());
    }
  };
  await Promise.all(Array.from({ length: task.registerConcurrency }, registrar));
  // The polls run until stop; their failures are counted inside.
  void Promise.all(polls);
  return { registered: agents.length, presenceOpen, at: nowMs() };
}

function snapshot(): SwarmCounts {
  const cpu = process.cpuUsage();
  return { ...counts, errors: { ...counts.errors }, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

function send(m: SwarmMessage): void {
  process.send?.(m);
}

process.on('message', (m: SwarmCommand) => {
  if (m.type === 'start')
    start(m.task).then(
      (ready) => send({ type: 'ready', ready }),
      (err: unknown) => send({ type: 'failed', message: (err as Error).stack ?? String(err) }),
    );
  else if (m.type === 'counts') send({ type: 'counts', counts: snapshot() });
  else {
    stopping.abort();
    pool.destroy();
    process.send?.({ type: 'result', result: { ...snapshot(), jobs } } satisfies SwarmMessage, () => process.disconnect());
  }
});
