// Resource attacks on a server, each held open while a test measures it: slow headers and bodies
// (slowloris), idle connections, large bodies sent without credentials, a flood of event streams.
// Bounded in count; `stop` closes every socket. The client runs in a worker thread (attack-worker.ts).
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

export interface AttackSpec {
  kind: 'slow-headers' | 'slow-body' | 'idle' | 'large-body' | 'event-streams';
  /** The server's base URL. */
  url: string;
  connections: number;
  /** The attacker's own loopback address (127.0.0.2...), so a per-address cap is the attacker's alone. */
  sourceAddress?: string;
  /** The route attacked (slow-body: a public one; large-body: one that needs credentials; event-streams: a stream). */
  path?: string;
  /** event-streams: the one token every stream uses. */
  token?: string;
  /** slow-*: the time between two bytes. */
  trickleMs?: number;
  bodyBytes?: number;
  /** Each connection the server closes is opened again this long after, until `stop`: a sustained attack. */
  repeatAfterMs?: number;
  /** How long to wait for the server's answers once every connection is open. */
  settleMs?: number;
}

export interface AttackReport {
  /** Connections the kernel accepted. */
  opened: number;
  /** Connections the server closed (before `stop`), and when, counted from each one's start. */
  closedByServer: number;
  closedAfterMs: number[];
  /** The first status code each connection got back. */
  statuses: Record<string, number>;
  bytesSent: number;
}

export interface RunningAttack {
  /** What the attacker saw once the attack was in place. */
  ready: AttackReport;
  /** What it saw so far; the attack goes on. */
  current(): Promise<AttackReport>;
  /** Closes every socket and reports; later calls return the same report. */
  stop(): Promise<AttackReport>;
}

/** Starts an attack and resolves once it is in place; `stop` ends it and reports. */
export async function startAttack(spec: AttackSpec): Promise<RunningAttack> {
  const worker = new Worker(new URL('./attack-worker.js', import.meta.url), { workerData: spec });
  const messages: { type: string; report?: AttackReport; message?: string }[] = [];
  const next = async (type: string): Promise<AttackReport> => {
    for (;;) {
      const found = messages.find((m) => m.type === type || m.type === 'error');
      if (found) {
        if (found.type === 'error') throw new Error(`attack ${spec.kind}: ${found.message}`);
        messages.splice(messages.indexOf(found), 1);
        return found.report!;
      }
      const [message] = (await once(worker, 'message')) as [{ type: string; report?: AttackReport; message?: string }];
      messages.push(message);
    }
  };
  const ready = await next('ready');
  let stopped: Promise<AttackReport> | null = null;
  return {
    ready,
    current() {
      worker.postMessage('report');
      return next('report');
    },
    stop() {
      stopped ??= (async () => {
        worker.postMessage('stop');
        const report = await next('done');
        await worker.terminate();
        return report;
      })();
      return stopped;
    },
  };
}
