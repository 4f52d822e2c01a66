// Who may read a repository's badges without a token (issue 18, item 4): 'private' (the default:
// only callers who can read the repository) or 'public' (anyone, for a README on a public forge).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('repos')
    .addColumn('visibility', 'text', (c) => c.notNull().defaultTo('private'))
    .execute();
}
