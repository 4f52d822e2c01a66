// Each replica's copy of the agents that talk to it: token hash → agent id and tags. An idle agent
// renews its long-poll every 25 s; reading its token and tags from the database for each renewal
// would cost statements in proportion to the fleet (200 a second at 5,000 agents). The copy is
// re-read instead for all its agents at once, one statement per 500 every `refreshMs`, and a
// removal or a change of tags reaches every replica at once as a hub event (relayed by
// LISTEN/NOTIFY). A removal whose event was lost is seen at the next re-read; until then the claim
// itself refuses an agent that no longer exists (claim-job.ts), so a stale copy never hands a job
// to a revoked token.
import { CredentialError, hashToken, type Principal } from '../auth/index.js';
import type { AgentCredentials } from '../scheduler/index.js';

/** A removal whose hub event was lost is seen this late at most. */
export const AGENT_DIRECTORY_REFRESH_MS = 10_000;
/** Longer than an agent's long-poll renewal, so an agent that waits stays held. */
export const AGENT_DIRECTORY_FORGET_MS = 5 * 60_000;

export interface AgentDirectoryOptions {
  /** The agent holding a token hash, read from the database; undefined when there is none. */
  lookup(tokenHash: string): Promise<AgentCredentials | undefined>;
  /** These agents as stored now (a removed one is absent). */
  reread(agentIds: number[]): Promise<AgentCredentials[]>;
  /** An agent was removed or its tags changed: its waits end, so it asks again with what it is now. */
  onChange(agentId: number): void;
  onError(err: unknown): void;
  now(): number;
  refreshMs: number;
  /** An agent not heard from for this long leaves the copy (memory stays bounded by the agents that talk). */
  forgetAfterMs: number;
}

interface Entry extends AgentCredentials {
  usedAt: number;
}

export class AgentDirectory {
  readonly #byHash = new Map<string, Entry>();
  readonly #byId = new Map<number, Entry>();
  /** One database read per token, however many of its requests arrive before it answers. */
  readonly #reading = new Map<string, Promise<Entry | undefined>>();
  readonly #timer: NodeJS.Timeout;
  #refreshing = false;

  constructor(private readonly opts: AgentDirectoryOptions) {
    this.#timer = setInterval(() => void this.refresh(), opts.refreshMs).unref();
  }

  get size(): number {
    return this.#byId.size;
  }

  /** The principal of an agent token; throws CredentialError for one that is unknown or revoked. */
  async principal(token: string): Promise<Principal> {
    const entry = await this.#entry(hashToken(token));
    if (!entry) throw new CredentialError('unknown or revoked agent token');
    entry.usedAt = this.opts.now();
    return { kind: 'agent', agentId: entry.id };
  }

  /** The tags of an agent that authenticated through this copy; undefined when it is not held. */
  tags(agentId: number): string[] | undefined {
    return this.#byId.get(agentId)?.tags;
  }

  /** An agent was removed or its tags changed (a hub event, or seen at the re-read): dropped, and its waits end. */
  changed(agentId: number): void {
    this.forget(agentId);
    this.opts.onChange(agentId);
  }

  /** Drops an agent from the copy: its next request reads it again. */
  forget(agentId: number): void {
    const entry = this.#byId.get(agentId);
    if (!entry) return;
    this.#byId.delete(agentId);
    this.#byHash.delete(entry.tokenHash);
  }

  async #entry(tokenHash: string): Promise<Entry | undefined> {
    const held = this.#byHash.get(tokenHash);
    if (held) return held;
    let reading = this.#reading.get(tokenHash);
    if (!reading) {
      reading = this.opts
        .lookup(tokenHash)
        .then((found) => {
          if (!found) return undefined;
          const entry: Entry = { ...found, usedAt: this.opts.now() };
          this.forget(entry.id);
          this.#byHash.set(entry.tokenHash, entry);
          this.#byId.set(entry.id, entry);
          return entry;
        })
        .finally(() => this.#reading.delete(tokenHash));
      this.#reading.set(tokenHash, reading);
    }
    return reading;
  }

  /** Re-reads every agent held: removed ones and changed tags are applied, idle ones forgotten. */
  async refresh(): Promise<void> {
    if (this.#refreshing) return;
    this.#refreshing = true;
    try {
      const idleSince = this.opts.now() - this.opts.forgetAfterMs;
      for (const entry of [...this.#byId.values()]) if (entry.usedAt < idleSince) this.forget(entry.id);
      const held = [...this.#byId.values()];
      const stored = new Map((await this.opts.reread(held.map((entry) => entry.id))).map((agent) => [agent.id, agent]));
      for (const entry of held) {
        // Forgotten, or read again, while the re-read ran: what is held now is newer than this answer.
        if (this.#byId.get(entry.id) !== entry) continue;
        const agent = stored.get(entry.id);
        if (agent && agent.tokenHash === entry.tokenHash && sameTags(agent.tags, entry.tags)) continue;
        this.changed(entry.id);
      }
    } catch (err) {
      this.opts.onError(err);
    } finally {
      this.#refreshing = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

const sameTags = (a: string[], b: string[]) => a.length === b.length && a.every((tag, i) => tag === b[i]);
