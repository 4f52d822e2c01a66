// The `tandem_agents` gauge from the database, so every replica reports the whole cluster's agents
// as they are at the scrape, not as one replica last saw them.
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import type { AgentCounts } from './metrics.js';

/** Online: heard from within a lease period (a waiting agent polls every second) with its presence stream unbroken. Busy: online and running a job. */
export async function countAgents(db: Kysely<Database>, now: number, leaseMs: number): Promise<AgentCounts> {
  const since = now - leaseMs;
  const online = await db
    .selectFrom('agents')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('last_seen_at', '>=', since)
    .where('disconnected_at', 'is', null)
    .executeTakeFirstOrThrow();
  const busy = await db
    .selectFrom('jobs')
    .innerJoin('agents', 'agents.id', 'jobs.agent_id')
    .select((eb) => eb.fn.count<number>('jobs.agent_id').distinct().as('n'))
    .where('jobs.status', '=', 'running')
    .where('agents.last_seen_at', '>=', since)
    .where('agents.disconnected_at', 'is', null)
    .executeTakeFirstOrThrow();
  return { online: Number(online.n), busy: Number(busy.n) };
}
