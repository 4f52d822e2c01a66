// Hands queued jobs to the agents whose long-polls wait on this replica. A waiting agent costs
// nothing while there is no work: no claim and no write of its own. When work is queued (an event
// on this replica, or relayed from another through LISTEN/NOTIFY), one round tries the waiters
// oldest first, one claim each, and stops trying a tag set once a claim for it found nothing: a
// burst of N jobs costs about N claims, not one per waiter, and only as many waiters wake as there
// are jobs. A missed event (a relay lost in a failover, a job queued by a process that is no
// server) is made good by a round every `repairMs` while anyone waits: one claim per distinct tag
// set, however many agents wait. The waiting agents' last_seen_at is written for all at once.
import type { ClaimedJob } from '../scheduler/index.js';

/** An agent's last_seen_at is rewritten at most this often: a small part of the lease that decides whether it shows online. */
export const agentSeenEveryMs = (leaseSeconds: number): number => Math.min(1000, (leaseSeconds * 1000) / 4);

/**
 * Rounds when no event came, while agents wait: they cover what no event announces (a relay lost in
 * a failover, jobs queued by another process); each costs one claim per distinct tag set.
 */
export const DISPATCH_REPAIR_MS = 1000;

export interface DispatcherOptions {
  /** One claim for one agent; null when nothing it may run is queued. */
  claim(agentId: number, tags: string[]): Promise<ClaimedJob | null>;
  /** Records that these agents are alive (they are waiting here). */
  markSeen(agentIds: number[]): Promise<void>;
  onAttempt(result: 'claimed' | 'empty'): void;
  onError(err: unknown): void;
  repairMs: number;
  seenMs: number;
}

interface Waiter {
  agentId: number;
  tags: string[];
  /** Waiters with the same tags can run the same jobs: one empty claim answers for all of them. */
  tagKey: string;
  /** Ends the wait with a job or without; only the first call counts. */
  settle(job: ClaimedJob | null): void;
  /** Set while a round claims for this waiter: a timeout then waits for the claim, so a job claimed for it is not dropped. */
  claiming: boolean;
  /** The wait ran out, or the agent left, while its claim was under way. */
  ended: boolean;
}

export class Dispatcher {
  readonly #waiting = new Set<Waiter>();
  #round: Promise<void> | null = null;
  #again = false;
  #stopped = false;
  #flushing = false;
  /** Counts wake-ups, so a waiter that arrives just after one does not sleep through its work. */
  #wakes = 0;
  readonly #timers: NodeJS.Timeout[];

  constructor(private readonly opts: DispatcherOptions) {
    this.#timers = [
      setInterval(() => {
        if (this.#waiting.size > 0) this.wake();
      }, opts.repairMs).unref(),
      setInterval(() => void this.#flushSeen(), opts.seenMs).unref(),
    ];
  }

  /** Agents' requests waiting on this replica now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Pass to `wait`: a wake-up between reading this and waiting makes the wait start with a round. */
  get wakes(): number {
    return this.#wakes;
  }

  /** A claim for an agent that asks now, counted as the rounds' are. */
  async claim(agentId: number, tags: string[]): Promise<ClaimedJob | null> {
    if (this.#stopped) return null;
    const job = await this.opts.claim(agentId, tags);
    this.opts.onAttempt(job ? 'claimed' : 'empty');
    return job;
  }

  /** Waits up to `ms` for a job claimed for this agent; null when the time runs out, `signal` aborts or the dispatcher stops. */
  wait(agentId: number, tags: string[], ms: number, signal: AbortSignal, wakesSeen: number): Promise<ClaimedJob | null> {
    if (this.#stopped || signal.aborted || ms <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      const end = () => {
        if (waiter.claiming) waiter.ended = true;
        else waiter.settle(null);
      };
      const timer = setTimeout(end, ms);
      const waiter: Waiter = {
        agentId,
        tags,
        tagKey: [...tags].sort().join('\n'),
        claiming: false,
        ended: false,
        settle: (job) => {
          if (!this.#waiting.delete(waiter)) return;
          clearTimeout(timer);
          signal.removeEventListener('abort', end);
          resolve(job);
        },
      };
      signal.addEventListener('abort', end, { once: true });
      this.#waiting.add(waiter);
      if (this.#wakes !== wakesSeen) this.wake();
    });
  }

  /** Work may be queued: a round now, or another right after the one under way. */
  wake(): void {
    this.#wakes++;
    if (this.#stopped) return;
    if (this.#round) {
      this.#again = true;
      return;
    }
    this.#round = (async () => {
      try {
        do {
          this.#again = false;
          await this.#tryWaiters();
        } while (this.#again && !this.#stopped);
      } finally {
        this.#round = null;
      }
    })();
  }

  async #tryWaiters(): Promise<void> {
    const empty = new Set<string>();
    for (const waiter of [...this.#waiting]) {
      if (this.#stopped) return;
      if (!this.#waiting.has(waiter) || waiter.ended || empty.has(waiter.tagKey)) continue;
      waiter.claiming = true;
      let job: ClaimedJob | null;
      try {
        job = await this.claim(waiter.agentId, waiter.tags);
      } catch (err) {
        // The database is away (a failover): the next wake-up or repair round tries again.
        this.opts.onError(err);
        waiter.claiming = false;
        if (waiter.ended) waiter.settle(null);
        return;
      }
      waiter.claiming = false;
      if (job) waiter.settle(job);
      else {
        empty.add(waiter.tagKey);
        if (waiter.ended) waiter.settle(null);
      }
    }
  }

  async #flushSeen(): Promise<void> {
    if (this.#flushing || this.#waiting.size === 0) return;
    this.#flushing = true;
    try {
      await this.opts.markSeen([...new Set([...this.#waiting].map((w) => w.agentId))]);
    } catch (err) {
      this.opts.onError(err);
    } finally {
      this.#flushing = false;
    }
  }

  /** Ends every wait without a job (the replica drains) and stops the timers. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const waiter of [...this.#waiting]) if (!waiter.claiming) waiter.settle(null);
    await this.#round;
  }
}
