// The distinct tag lists of the jobs waiting for an agent. The dispatcher's repair round reads them
// (one statement, on the status index) to decide whether any waiting agent could run something
// that no event announced; only then does it spend claims.
import type { Kysely } from 'kysely';
import type { Database } from '../../store/index.js';
import { readJobTags } from '../../store/index.js';

/** At most `limit` distinct tag lists of pending jobs; more lists than that are treated as "some fit" by the caller. */
export async function pendingTagSets(db: Kysely<Database>, limit: number): Promise<string[][]> {
  const rows = await db
    .selectFrom('jobs')
    .select((eb) => ['tags', eb.fn.min('id').as('id')])
    .where('status', '=', 'pending')
    .where('is_trigger', '=', 0)
    .groupBy('tags')
    .limit(limit)
    .execute();
  return rows.map((row) => readJobTags({ id: Number(row.id), tags: row.tags }));
}
