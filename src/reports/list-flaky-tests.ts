// A repository's flaky test cases, the most recently seen flipping first.
import type { FlakyTest, Store } from '../store/index.js';

export interface ListFlakyTestsInput {
  repoId: number;
  limit: number;
  offset: number;
}

export async function listFlakyTests(store: Store, input: ListFlakyTestsInput): Promise<{ tests: FlakyTest[]; total: number }> {
  const { db } = store;
  const counted = await db
    .selectFrom('flaky_tests')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('repo_id', '=', input.repoId)
    .executeTakeFirstOrThrow();
  const tests = await db
    .selectFrom('flaky_tests')
    .selectAll()
    .where('repo_id', '=', input.repoId)
    .orderBy('last_seen_at', 'desc')
    .orderBy('id', 'desc')
    .limit(input.limit)
    .offset(input.offset)
    .execute();
  return { tests, total: Number(counted.n) };
}
