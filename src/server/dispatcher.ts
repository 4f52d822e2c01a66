// Hands queued jobs to the agents whose long-polls wait on this replica. Every claim of the replica
// is made here, a bounded number at a time: thousands of agents asking at once cost a few database
// connections for claims, not one each, so the pool stays free for completions and heartbeats. A
// waiting agent costs nothing while there is no work: no claim and no write of its own. When work
// is queued (an event on this replica, or relayed from another through LISTEN/NOTIFY), one round
// tries the waiters oldest first, a job each, and stops trying a tag set once a claim for it found
// nothing: a burst of N jobs costs about N claims, not one per waiter, and only as many waiters
// wake as there are jobs. Waiters in a row with the same tags share one claim transaction. An
// agent that asks again (its long-poll renews every 25 s) costs no claim either while no work was
// announced since a claim for its tags found nothing. A missed
// event (a relay lost in a failover, a resource group that frees up) is made good by a repair every
// `repairMs` while anyone waits: one statement lists the tags of pending jobs, and only if a
// waiting agent could run one does a round start. The waiting agents' last_seen_at is written for
// all of them at once.
import type { ClaimedJob, Claims } from '../scheduler/index.js';

/** An agent's last_seen_at is rewritten at most this often: a quarter of the lease that decides whether it shows online. */
export const agentSeenEveryMs = (leaseSeconds: number): number => (leaseSeconds * 1000) / 4;

/**
 * Repairs while agents wait: they cover what no event announces (a relay lost in a failover, a
 * resource group freed by a finished job); each costs one statement, and claims only when a pending
 * job fits a waiting agent.
 */
export const DISPATCH_REPAIR_MS = 1000;

/** Claim lanes on PostgreSQL: 4 of the pool's 10 connections, the rest left to completions, heartbeats and the API. */
export const POSTGRES_CLAIM_LANES = 4;

/**
 * Waiters with the same tags served by one claim transaction, at most. They share its BEGIN and
 * COMMIT; the first of them waits for the last one's claim, ~0.2 ms each on SQLite.
 */
export const CLAIM_BATCH = 16;

/** More distinct tag lists than this among pending jobs: the repair assumes one fits and starts a round. */
const REPAIR_TAG_SETS = 200;

export interface DispatcherOptions {
  /** A claim for each of these agents, which all have these tags, in one transaction. */
  claim(agentIds: number[], tags: string[]): Promise<Claims>;
  /** The distinct tag lists of pending jobs, at most `limit` of them. */
  pendingTagSets(limit: number): Promise<string[][]>;
  /** Records that these agents are alive (they are waiting here). */
  markSeen(agentIds: number[]): Promise<void>;
  onAttempt(result: 'claimed' | 'empty'): void;
  onError(err: unknown): void;
  /**
   * Claims under way at once. One on SQLite, whose transactions run one at a time anyway; a few on
   * PostgreSQL, where claimers pass each other by (SKIP LOCKED) and each claim waits on round trips,
   * but always fewer than the pool's connections, which completions and heartbeats need too.
   */
  claimLanes: number;
  /** Waiters with the same tags served by one claim, at most. */
  claimBatch: number;
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
  /** Tag key → the wake count when a claim for those tags found nothing: until the next wake-up, asking again is pointless. */
  readonly #emptyAt = new Map<string, number>();
  #repairing = false;
  readonly #timers: NodeJS.Timeout[];

  constructor(private readonly opts: DispatcherOptions) {
    this.#timers = [
      setInterval(() => void this.#repair(), opts.repairMs).unref(),
      setInterval(() => void this.#flushSeen(), opts.seenMs).unref(),
    ];
  }

  /** Agents' requests waiting on this replica now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** A claim for these tags found nothing, and no work was announced since. */
  #knownEmpty(tagKey: string): boolean {
    return this.#emptyAt.get(tagKey) === this.#wakes;
  }

  /** One claim for these waiters (they share a tag key), counted: each job is an attempt, and so is running out. */
  async #claim(batch: Waiter[]): Promise<(ClaimedJob | null)[]> {
    const [{ tags, tagKey }] = batch as [Waiter];
    const wakes = this.#wakes;
    const { jobs, exhausted } = await this.opts.claim(
      batch.map((w) => w.agentId),
      tags,
    );
    for (const job of jobs) if (job) this.opts.onAttempt('claimed');
    if (exhausted) {
      this.opts.onAttempt('empty');
      this.#emptyAt.set(tagKey, wakes);
    }
    return jobs;
  }

  /**
   * Waits up to `ms` for a job claimed for this agent; null when the time runs out, `signal` aborts
   * or the dispatcher stops. A round starts for it unless a claim for its tags found nothing since
   * the last announcement of work.
   */
  wait(agentId: number, tags: string[], ms: number, signal: AbortSignal): Promise<ClaimedJob | null> {
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
        tagKey: tagKeyOf(tags),
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
      if (!this.#knownEmpty(waiter.tagKey)) this.#startRound();
    });
  }

  /** Work may be queued: a round now, or another right after the one under way. */
  wake(): void {
    this.#wakes++;
    this.#startRound();
  }

  #startRound(): void {
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

  /** Ends this agent's waits without a job (it was removed, or its tags changed): it asks again as it is now. */
  release(agentId: number): void {
    for (const waiter of [...this.#waiting]) {
      if (waiter.agentId !== agentId) continue;
      if (waiter.claiming) waiter.ended = true;
      else waiter.settle(null);
    }
  }

  /** A round when a pending job fits a waiting agent; nothing when none does (the usual idle case). */
  async #repair(): Promise<void> {
    if (this.#repairing || this.#stopped || this.#waiting.size === 0) return;
    this.#repairing = true;
    try {
      const pending = await this.opts.pendingTagSets(REPAIR_TAG_SETS);
      const waitingTags = new Map([...this.#waiting].map((w) => [w.tagKey, new Set(w.tags)]));
      const fits =
        pending.length >= REPAIR_TAG_SETS ||
        pending.some((jobTags) => [...waitingTags.values()].some((agent) => jobTags.every((t) => agent.has(t))));
      if (fits) this.wake();
    } catch (err) {
      this.opts.onError(err);
    } finally {
      this.#repairing = false;
    }
  }

  /**
   * Claims for the waiters, oldest first, in `claimLanes` claims at a time, each for up to
   * `claimBatch` waiters in a row that share their tags. The set is walked live: an agent that
   * starts waiting during the round (it just completed a job) is served in this round too.
   */
  async #tryWaiters(): Promise<void> {
    const walk = this.#waiting.values();
    // The waiter that ended the last batch (its tags differ): it starts the next.
    let held: Waiter | undefined;
    // Synchronous, so the lanes share one walk: each waiter comes up once a round.
    const takeBatch = (): Waiter[] => {
      const batch: Waiter[] = [];
      while (batch.length < this.opts.claimBatch) {
        const waiter = held ?? (walk.next().value as Waiter | undefined);
        held = undefined;
        if (!waiter) break;
        if (waiter.ended || this.#knownEmpty(waiter.tagKey)) continue;
        if (batch.length > 0 && waiter.tagKey !== batch[0]!.tagKey) {
          held = waiter;
          break;
        }
        batch.push(waiter);
      }
      return batch;
    };
    let failed = false;
    const lane = async (): Promise<void> => {
      for (let batch = takeBatch(); batch.length > 0; batch = takeBatch()) {
        if (this.#stopped || failed) return;
        for (const waiter of batch) waiter.claiming = true;
        let jobs: (ClaimedJob | null)[];
        try {
          jobs = await this.#claim(batch);
        } catch (err) {
          // The database is away (a failover) or busy: the next wake-up or repair round tries again.
          failed = true;
          this.opts.onError(err);
          for (const waiter of batch) {
            waiter.claiming = false;
            if (waiter.ended) waiter.settle(null);
          }
          return;
        }
        batch.forEach((waiter, i) => {
          const job = jobs[i] ?? null;
          waiter.claiming = false;
          if (job || waiter.ended) waiter.settle(job);
        });
      }
    };
    await Promise.all(Array.from({ length: this.opts.claimLanes }, lane));
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
    // A claim under way at the stop was left to finish: a job it got is handed over, else the wait ends too.
    for (const waiter of [...this.#waiting]) waiter.settle(null);
  }
}

/** Agents with the same tags can run the same jobs. */
const tagKeyOf = (tags: string[]): string => [...tags].sort().join('\n');
