// The agents table: registration, what an agent announces about itself, its tags (an admin's
// decision: they choose which jobs, and so which repositories' secrets, reach its host), liveness
// and its presence stream. Claims and leases live in claim-job.ts and extend-lease.ts.
import type { Kysely } from 'kysely';
import { readAgentTags } from '../../store/index.js';
import type { Database } from '../../store/index.js';

export interface AgentRegistration {
  name: string;
  tokenHash: string;
  tags: string[];
  concurrency: number;
  version: string;
  now: number;
}

/** A new agent row; returns its id. */
export async function registerAgent(db: Kysely<Database>, input: AgentRegistration): Promise<number> {
  const row = await db
    .insertInto('agents')
    .values({
      name: input.name,
      token_hash: input.tokenHash,
      tags: JSON.stringify(input.tags),
      concurrency: input.concurrency,
      version: input.version,
      last_seen_at: input.now,
      created_at: input.now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Another agent, heard from since `onlineSince` and not disconnected, that has this name. */
export async function onlineAgentNamed(
  db: Kysely<Database>,
  input: { name: string; onlineSince: number; exceptId: number | null },
): Promise<{ id: number; last_seen_at: number | null } | undefined> {
  let q = db
    .selectFrom('agents')
    .select(['id', 'last_seen_at'])
    .where('name', '=', input.name)
    .where('last_seen_at', '>=', input.onlineSince)
    .where('disconnected_at', 'is', null);
  if (input.exceptId !== null) q = q.where('id', '!=', input.exceptId);
  return q.executeTakeFirst();
}

/** What a replica keeps of an agent to authenticate it and dispatch to it (src/server/agent-directory.ts). */
export interface AgentCredentials {
  id: number;
  tokenHash: string;
  tags: string[];
}

const credentialsOf = (row: { id: number; token_hash: string; tags: string }): AgentCredentials => ({
  id: row.id,
  tokenHash: row.token_hash,
  tags: readAgentTags(row),
});

/** The agent holding this token; undefined when it is unknown or was removed. */
export async function agentWithToken(db: Kysely<Database>, tokenHash: string): Promise<AgentCredentials | undefined> {
  const row = await db.selectFrom('agents').select(['id', 'token_hash', 'tags']).where('token_hash', '=', tokenHash).executeTakeFirst();
  return row && credentialsOf(row);
}

/** These agents as they are now, 500 per statement; a removed agent is absent. */
export async function agentsNow(db: Kysely<Database>, agentIds: number[]): Promise<AgentCredentials[]> {
  const found: AgentCredentials[] = [];
  for (let i = 0; i < agentIds.length; i += 500) {
    const rows = await db
      .selectFrom('agents')
      .select(['id', 'token_hash', 'tags'])
      .where('id', 'in', agentIds.slice(i, i + 500))
      .execute();
    found.push(...rows.map(credentialsOf));
  }
  return found;
}

/** An agent's own announcement at start (name, concurrency, version); its tags are not its to change. Returns the tags it has. */
export async function announceAgent(
  db: Kysely<Database>,
  input: { agentId: number; name: string; concurrency: number; version: string; now: number },
): Promise<string[]> {
  await db
    .updateTable('agents')
    .set({ name: input.name, concurrency: input.concurrency, version: input.version, last_seen_at: input.now })
    .where('id', '=', input.agentId)
    .execute();
  return (await claimingAgent(db, input.agentId)).tags;
}

/** What a claim needs of its agent: the tags it may run, and when it was last seen (see markAgentSeen). */
export async function claimingAgent(db: Kysely<Database>, agentId: number): Promise<{ tags: string[]; lastSeenAt: number | null }> {
  const agent = await db.selectFrom('agents').select(['id', 'tags', 'last_seen_at']).where('id', '=', agentId).executeTakeFirstOrThrow();
  return { tags: readAgentTags(agent), lastSeenAt: agent.last_seen_at === null ? null : Number(agent.last_seen_at) };
}

/** The agent's name, for pages that say where a job ran; null when it was removed since. */
export async function agentName(db: Kysely<Database>, agentId: number): Promise<string | null> {
  return (await db.selectFrom('agents').select('name').where('id', '=', agentId).executeTakeFirst())?.name ?? null;
}

/** An admin's setting of an agent's tags; false when there is no such agent. */
export async function setAgentTags(db: Kysely<Database>, input: { agentId: number; tags: string[] }): Promise<boolean> {
  const result = await db
    .updateTable('agents')
    .set({ tags: JSON.stringify(input.tags) })
    .where('id', '=', input.agentId)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Removes an agent, and with it its token; false when there was none. */
export async function removeAgent(db: Kysely<Database>, agentId: number): Promise<boolean> {
  const result = await db.deleteFrom('agents').where('id', '=', agentId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/**
 * Notes that the agent was heard from, unless that was noted less than `everyMs` ago: an agent
 * claiming short jobs back to back would otherwise rewrite its row once per job, where being shown
 * online (seen within a lease) needs a write now and then.
 */
/**
 * Many agents seen at once (those waiting on a replica), in one statement per 500: each row is
 * rewritten only when its last_seen_at is older than `everyMs`, so rows are written once per that
 * interval however often this runs.
 */
export async function markAgentsSeen(db: Kysely<Database>, input: { agentIds: number[]; now: number; everyMs: number }): Promise<void> {
  for (let i = 0; i < input.agentIds.length; i += 500) {
    await db
      .updateTable('agents')
      .set({ last_seen_at: input.now })
      .where('id', 'in', input.agentIds.slice(i, i + 500))
      .where((eb) => eb.or([eb('last_seen_at', 'is', null), eb('last_seen_at', '<=', input.now - input.everyMs)]))
      .execute();
  }
}

/** One agent seen (a request of its own), under the same once-per-`everyMs` rule. */
export async function markAgentSeen(db: Kysely<Database>, input: { agentId: number; now: number; everyMs: number }): Promise<void> {
  await markAgentsSeen(db, { agentIds: [input.agentId], now: input.now, everyMs: input.everyMs });
}

/** A new presence stream of the agent: the newest one is the one whose break counts. */
export async function openPresence(db: Kysely<Database>, input: { agentId: number; presenceId: string; now: number }): Promise<void> {
  await db
    .updateTable('agents')
    .set({ presence_id: input.presenceId, disconnected_at: null, last_seen_at: input.now })
    .where('id', '=', input.agentId)
    .execute();
}

/** A presence stream broke on the agent's side; ignored when a newer stream of the agent has opened since. */
export async function breakPresence(db: Kysely<Database>, input: { agentId: number; presenceId: string; now: number }): Promise<void> {
  await db
    .updateTable('agents')
    .set({ disconnected_at: input.now })
    .where('id', '=', input.agentId)
    .where('presence_id', '=', input.presenceId)
    .execute();
}
