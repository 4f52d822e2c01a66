// Publish/subscribe for live updates (SSE clients, long-polling agents). Each replica has its own
// hub; with PostgreSQL, events are relayed to the other replicas through LISTEN/NOTIFY. Nothing
// that matters lives only here: a subscriber that misses an event re-reads the database.
import { EventEmitter } from 'node:events';
import { MAX_NOTIFY_PAYLOAD, type Notifications } from '../store/index.js';

export type HubEvent =
  /** `data` is absent when the chunk was too big to relay: read it from the database. */
  | { type: 'log'; jobId: number; seq: number; data?: string }
  | { type: 'job'; jobId: number; pipelineId: number; status: string }
  | { type: 'pipeline'; pipelineId: number; repoId: number; status: string }
  | { type: 'queue' }
  /** A repository's forge settings changed: each replica's outbox writer reads them again. */
  | { type: 'repo_forge'; repoId: number }
  /** An agent was removed or its tags changed: each replica's copy of it is dropped. */
  | { type: 'agent'; agentId: number };

export class Hub {
  private readonly emitter = new EventEmitter();

  constructor(private readonly replicaId: string) {
    // Every open SSE stream and waiting agent is a listener; the default cap of 10 is meant for leaks
    // in small programs, not for servers.
    this.emitter.setMaxListeners(0);
  }

  private relay: Notifications | null = null;

  /** Delivers an event to this replica's subscribers and, when relayed, to every other replica's. */
  publish(event: HubEvent): void {
    this.emitLocal(event);
    if (!this.relay) return;
    let payload = JSON.stringify({ from: this.replicaId, event });
    if (payload.length > MAX_NOTIFY_PAYLOAD && event.type === 'log')
      payload = JSON.stringify({ from: this.replicaId, event: { ...event, data: undefined } });
    this.relay.publish(payload).catch(() => undefined);
  }

  /** Relays events through the database's notifications; returns a function that stops relaying. */
  async relayThrough(notifications: Notifications): Promise<() => Promise<void>> {
    this.relay = notifications;
    const subscription = await notifications.subscribe((payload) => {
      try {
        const { from, event } = JSON.parse(payload) as { from: string; event: HubEvent };
        if (from !== this.replicaId) this.emitLocal(event);
      } catch {
        // Not ours: another program on the same channel.
      }
    });
    return async () => {
      this.relay = null;
      await subscription.close();
    };
  }

  private emitLocal(event: HubEvent): void {
    for (const topic of topicsOf(event)) this.emitter.emit(topic, event);
  }

  /** Topics: `log:<jobId>`, `job:<jobId>`, `pipeline:<pipelineId>` (its jobs too), `queue`, `repo_forge`, `*`. */
  subscribe(topic: string, listener: (event: HubEvent) => void): () => void {
    this.emitter.on(topic, listener);
    return () => this.emitter.off(topic, listener);
  }

  /** Resolves on the next event of the topic, or after `ms` (false), or when `signal` aborts. */
  waitFor(topic: string, ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (hit: boolean) => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        resolve(hit);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      const unsubscribe = this.subscribe(topic, () => done(true));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function topicsOf(event: HubEvent): string[] {
  switch (event.type) {
    case 'log':
      return [`log:${event.jobId}`];
    case 'job':
      return [`job:${event.jobId}`, `pipeline:${event.pipelineId}`, '*'];
    case 'pipeline':
      return [`pipeline:${event.pipelineId}`, '*'];
    case 'queue':
      return ['queue'];
    case 'repo_forge':
      return ['repo_forge'];
    case 'agent':
      return ['agent'];
  }
}
