// Which registered repositories a pipeline may include files from (docs/security.md): every member
// of the including repository must be a member of the included one; a fork's pipeline reads its own
// repository only. Repositories are found by project path, or by name when they have none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { includableProject, insertRepo } from '../../src/repos/index.js';
import type { RegisteredProject } from '../../src/source/index.js';
import { openStore } from '../../src/store/index.js';

const refusal = (found: RegisteredProject): string => (found && 'refused' in found ? found.refused : '');

test('include access: by path or name, members a subset, forks only their own repository', async (t) => {
  const store = await openStore(':memory:');
  t.after(() => store.close());
  const db = store.db;
  const repo = (name: string, path: string | null) =>
    insertRepo(db, {
      name,
      path,
      url: `/srv/${name}`,
      defaultBranch: 'main',
      pollIntervalSeconds: 0,
      branchFilter: null,
      tagFilter: null,
      forkPullRequests: 'approval',
      now: 0,
    });
  const app = await repo('app', 'team/app');
  const templates = await repo('templates', 'team/ci-templates');
  const plain = await repo('plain', null);
  const user = async (username: string) =>
    (
      await db
        .insertInto('users')
        .values({
          username,
          email: null,
          password_hash: null,
          admin: 0,
          admin_from_groups: 0,
          created_at: 0,
          updated_at: 0,
          last_login_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  const member = (repoId: number, userId: number) =>
    db
      .insertInto('memberships')
      .values({ repo_id: repoId, user_id: userId, role: 'developer', source: 'manual', created_at: 0, updated_at: 0 })
      .execute();
  const alice = await user('alice');
  const bob = await user('bob');
  await member(app.id, alice);
  await member(templates.id, alice);
  await member(templates.id, bob);

  assert.deepEqual(await includableProject(db, app, 'team/ci-templates', { fork: false }), {
    url: '/srv/templates',
    defaultBranch: 'main',
  });
  assert.equal(await includableProject(db, app, 'templates', { fork: false }), null, 'a repository with a path is not found by its name');
  assert.deepEqual(await includableProject(db, app, 'plain', { fork: false }), {
    refused: 'project `plain`: this repository has members who are not members of `plain`, so its pipelines may not include its files',
  });
  await member(plain.id, alice);
  assert.deepEqual(await includableProject(db, app, 'plain', { fork: false }), { url: '/srv/plain', defaultBranch: 'main' });
  // bob is a member of templates only: templates may not read app.
  assert.match(refusal(await includableProject(db, templates, 'team/app', { fork: false })), /members who are not members of `app`/);

  assert.match(
    refusal(await includableProject(db, app, 'team/ci-templates', { fork: true })),
    /a fork's pipeline may include files of its own repository only/,
  );
  assert.deepEqual(await includableProject(db, app, 'team/app', { fork: true }), { url: '/srv/app', defaultBranch: 'main' });
  assert.equal(await includableProject(db, app, 'nobody/here', { fork: false }), null);
});
