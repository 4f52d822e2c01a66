// In-process publish/subscribe for live updates (SSE clients, long-polling agents). Each replica has
// its own hub; the HA work fans events out across replicas through the database, so nothing that
// matters lives only here: a subscriber that misses an event re-reads the database.
import { EventEmitter } from 'node:events';

export type HubEvent =
  | { type: 'log'; jobId: number; seq: number; data: string }
  | { type: 'job'; jobId: number; pipelineId: number; status: string }
  | { type: 'pipeline'; pipelineId: number; repoId: number; status: string }
  | { type: 'queue' };

export class Hub {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every open SSE stream and waiting agent is a listener; the default cap of 10 is meant for leaks
    // in small programs, not for servers.
    this.emitter.setMaxListeners(0);
  }

  publish(event: HubEvent): void {
    for (const topic of topicsOf(event)) this.emitter.emit(topic, event);
  }

  /** Topics: `log:<jobId>`, `job:<jobId>`, `pipeline:<pipelineId>` (its jobs too), `queue`, `*`. */
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
  }
}
