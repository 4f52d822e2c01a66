// Every replica sends the outbox: each round claims what is due (a kick after a local commit, or the
// poll timer for messages written by other replicas and for retries), hands each message to its
// topic's handler, and records the outcome. Messages of different keys go out side by side.
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import { claimDueMessages, markAttemptFailed, markSent, type OutboxDelivery } from './outbox.js';

/** The receiver said "not now": try again at `retryAt` without growing the backoff (rate limits). */
export class DeliveryDeferred extends Error {
  override name = 'DeliveryDeferred';
  constructor(
    readonly retryAt: number,
    reason: string,
  ) {
    super(reason);
  }
}

/** The message can never be delivered (a refused credential, a gone repository): failed at once. */
export class DeliveryRefused extends Error {
  override name = 'DeliveryRefused';
}

export interface OutboxHandler {
  topic: string;
  /** Delivers one message (one attempt); resolves with what it did ("sent", "unchanged"...). */
  deliver(delivery: OutboxDelivery): Promise<string>;
}

/** What each attempt came to, for metrics: the handler's result, or deferred, retry, failed. */
export type DeliveryObserver = (topic: string, result: string, delivery: OutboxDelivery) => void;

export interface OutboxSenderOptions {
  store: Store;
  handlers: readonly OutboxHandler[];
  /** This replica's id, recorded in its claims. */
  replica: string;
  now: () => number;
  log: Logger;
  observe?: DeliveryObserver;
  /** How often messages written elsewhere (and retries) are looked for. */
  pollMs?: number;
  /** How long a claim lasts: longer than a handler's slowest attempt (its timeouts). */
  claimMs?: number;
  /** Messages sent side by side (different keys). */
  concurrency?: number;
}

const NO_HANDLER_RETRY_MS = 60_000;

export class OutboxSender {
  private readonly handlers: ReadonlyMap<string, OutboxHandler>;
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private again = false;
  private stopped = true;

  constructor(private readonly opts: OutboxSenderOptions) {
    this.handlers = new Map(opts.handlers.map((h) => [h.topic, h]));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
    this.kick();
  }

  /** Sends what is due now (after a commit that wrote messages); rounds never overlap. */
  kick(): void {
    if (this.stopped) return;
    if (this.round) {
      this.again = true;
      return;
    }
    this.round = this.rounds().finally(() => {
      this.round = null;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.round;
  }

  /** One round: claims and sends what is due; returns how many messages it attempted. */
  async runOnce(): Promise<number> {
    const claimed = await claimDueMessages(this.opts.store.db, {
      now: this.opts.now(),
      replica: this.opts.replica,
      claimMs: this.opts.claimMs ?? 60_000,
      limit: 100,
    });
    const queue = [...claimed];
    const worker = async () => {
      for (let d = queue.shift(); d; d = queue.shift()) await this.deliver(d);
    };
    await Promise.all(Array.from({ length: Math.min(queue.length, this.opts.concurrency ?? 8) }, worker));
    return claimed.length;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.kick();
      if (!this.stopped) this.schedule();
    }, this.opts.pollMs ?? 1000);
    this.timer.unref();
  }

  private async rounds(): Promise<void> {
    do {
      this.again = false;
      try {
        // A full batch means more may be due: go on at once.
        while (!this.stopped && (await this.runOnce()) >= 100);
      } catch (err) {
        // The database is away (a failover): the poll timer tries again.
        this.opts.log.warn({ err }, 'outbox: claiming due messages failed');
      }
    } while (this.again && !this.stopped);
  }

  private async deliver(d: OutboxDelivery): Promise<void> {
    const { db } = this.opts.store;
    const handler = this.handlers.get(d.topic);
    const observe = (result: string) => this.opts.observe?.(d.topic, result, d);
    try {
      if (!handler) throw new DeliveryDeferred(this.opts.now() + NO_HANDLER_RETRY_MS, `no handler for topic "${d.topic}" on this replica`);
      const result = await handler.deliver(d);
      await markSent(db, { id: d.id, now: this.opts.now(), result });
      observe(result);
    } catch (err) {
      const error = (err as Error).message;
      const retryAt = err instanceof DeliveryDeferred ? err.retryAt : undefined;
      const status = await markAttemptFailed(db, {
        id: d.id,
        now: this.opts.now(),
        error,
        ...(retryAt === undefined ? {} : { retryAt }),
        permanent: err instanceof DeliveryRefused,
      }).catch((markErr: unknown) => {
        // The claim expires and another round takes the message again.
        this.opts.log.warn({ err: markErr, outboxId: d.id }, 'outbox: recording a failed attempt failed');
        return 'pending' as const;
      });
      observe(retryAt !== undefined ? 'deferred' : status === 'failed' ? 'failed' : 'retry');
      this.opts.log[status === 'failed' ? 'error' : 'warn'](
        { outboxId: d.id, topic: d.topic, key: d.key, attempts: d.attempts, error },
        status === 'failed' ? 'outbox: message given up' : 'outbox: delivery failed, will retry',
      );
    }
  }
}
