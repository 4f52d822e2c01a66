// Agents hold a presence stream open (GET /api/v1/agent/presence). The replica serving it records
// which stream is current and when an agent's stream broke without the server closing it, so the
// leader can free a dead agent's jobs long before their leases run out.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('presence_id', 'text').execute();
  await db.schema.alterTable('agents').addColumn('disconnected_at', 'bigint').execute();
}
