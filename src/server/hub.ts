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

  private relay: Notifications | null = null;
  /** A notification is `{"from":"<replica>","events":[...]}`; its events may fill the rest. */
  private readonly relayPrefix: string;
  private readonly relayRoom: number;
  /** Events published since the last notification left, serialized, waiting to be relayed together. */
  private unrelayed: string[] = [];
  /** A notification is on its way (or about to leave at the end of this turn). */
  private relaying = false;

  constructor(private readonly replicaId: string) {
    // Every open SSE stream and waiting agent is a listener; the default cap of 10 is meant for leaks
    // in small programs, not for servers.
    this.emitter.setMaxListeners(0);
    this.relayPrefix = `{"from":${JSON.stringify(replicaId)},"events":[`;
    this.relayRoom = MAX_NOTIFY_PAYLOAD - this.relayPrefix.length - 2;
  }

  /**
   * Delivers an event to this replica's subscribers and, when relayed, to every other replica's.
   * Relayed events go out together, as few notifications as fit, one notification at a time: those
   * of one turn of the event loop, and those published while the last notification was on its way.
   * A burst of jobs publishes several events per job, and each notification is a database round
   * trip (and a transaction); under load a notification then carries many turns' events.
   */
  publish(event: HubEvent): void {
    this.emitLocal(event);
    if (!this.relay) return;
    let json = JSON.stringify(event);
    if (json.length > this.relayRoom && event.type === 'log') json = JSON.stringify({ ...event, data: undefined });
    this.unrelayed.push(json);
    if (this.relaying) return;
    this.relaying = true;
    setImmediate(() => void this.relayUnrelayed());
  }

  private async relayUnrelayed(): Promise<void> {
    try {
      for (let relay = this.relay; relay && this.unrelayed.length > 0; relay = this.relay) {
        const events = this.unrelayed;
        this.unrelayed = [];
        for (const batch of this.notificationsOf(events)) {
          // Best effort, as the notifications themselves: what another replica must not miss is
          // made good by its own timers (the dispatcher's repair round, the leader's duties).
          await relay.publish(`${this.relayPrefix}${batch.join(',')}]}`).catch(() => undefined);
        }
      }
    } finally {
      this.relaying = false;
      // Relaying stopped: what was left is not sent later through another relay.
      if (!this.relay) this.unrelayed = [];
    }
  }

  /** The events, in order, in as few notifications as fit. */
  private *notificationsOf(events: string[]): Generator<string[]> {
    let batch: string[] = [];
    let size = 0;
    for (const json of events) {
      if (batch.length > 0 && size + json.length + 1 > this.relayRoom) {
        yield batch;
        batch = [];
        size = 0;
      }
      batch.push(json);
      size += json.length + 1;
    }
    if (batch.length > 0) yield batch;
  }

  /** Relays events through the database's notifications; returns a function that stops relaying. */
  async relayThrough(notifications: Notifications): Promise<() => Promise<void>> {
    this.relay = notifications;
    const subscription = await notifications.subscribe((payload) => {
      try {
        // `event`: one event per notification, as replicas of earlier versions send them.
        const { from, event, events } = JSON.parse(payload) as { from: string; event?: HubEvent; events?: HubEvent[] };
        if (from === this.replicaId) return;
        for (const e of events ?? (event ? [event] : [])) this.emitLocal(e);
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
