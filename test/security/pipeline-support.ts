// Shared by the pipeline attack tests: real pieces, set up small.
import { protectedRefRole } from '../../src/auth/repo-access.js';
import { openStore } from '../../src/store/index.js';

/** The role a branch needs once `pattern` protects it, from a real (in-memory SQLite) store. */
export async function refProtectionRoleForTest(pattern: string, branch: string): Promise<string | null> {
  const store = await openStore(':memory:');
  try {
    const repo = await store.db
      .insertInto('repos')
      .values({
        name: 'r',
        url: '/tmp/r',
        default_branch: 'main',
        poll_interval_seconds: 0,
        webhook_secret: null,
        branch_filter: null,
        tag_filter: null,
        known_refs: '{}',
        last_polled_at: null,
        created_at: 0,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await store.db
      .insertInto('protected_branches')
      .values({ repo_id: repo.id, pattern, allowed_role: 'maintainer', created_at: 0 })
      .execute();
    return await protectedRefRole(store.db, repo.id, { name: branch, isTag: false });
  } finally {
    await store.close();
  }
}
