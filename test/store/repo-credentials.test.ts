// A repository's credential at rest, on SQLite and PostgreSQL: one at a time, sealed and bound to
// the repository's id (a copy in another row does not decrypt), re-encrypted by a data key rotation,
// and found by URL for the server's mirrors.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, before, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { openSecrets, SSH_KEY, type Secrets } from '../../src/auth/index.js';
import { configSchema } from '../../src/config/index.js';
import { checkRepoCredential, gitCredentialsByUrl, gitCredentialsOf, insertRepo, saveRepoCredential } from '../../src/repos/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { backends } from './helpers.js';

const execFileP = promisify(execFile);
const URL = 'ssh://git@git.example.com:2222/team/app.git';

for (const backend of backends()) {
  describe(`repository credentials on ${backend.name}`, { skip: backend.skip }, () => {
    let db: { url: string; cleanup(): Promise<void> };
    let dataDir: string;
    let store: Store;
    let secrets: Secrets;
    let privateKey: string;
    let knownHosts: string;

    before(async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tandem-repo-key-'));
      await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')]);
      privateKey = await readFile(join(dir, 'key'), 'utf8');
      knownHosts = `[git.example.com]:2222 ${(await readFile(join(dir, 'key.pub'), 'utf8')).split(' ').slice(0, 2).join(' ')}\n`;
      await rm(dir, { recursive: true, force: true });
    });
    beforeEach(async () => {
      db = await backend.fresh();
      dataDir = await mkdtemp(join(tmpdir(), 'tandem-repo-credentials-'));
      store = await openStore(db.url);
      secrets = await openSecrets(store, { ...configSchema.parse({}), dataDir }, { now: Date.now, log: pino({ level: 'silent' }) });
    });
    afterEach(async () => {
      await store.close();
      await db.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    });

    const newRepo = (name: string, url = URL) =>
      insertRepo(store.db, {
        name,
        url,
        defaultBranch: 'main',
        pollIntervalSeconds: 0,
        branchFilter: null,
        tagFilter: null,
        forkPullRequests: 'approval',
        now: 0,
      });

    it('keeps one credential, sealed and bound to its repository, and finds it by URL', async () => {
      const ctx = { store, secrets };
      const [app, other] = [await newRepo('app'), await newRepo('other', 'https://git.example.com/other.git')];
      const ssh = checkRepoCredential(URL, { type: 'ssh', privateKey, knownHosts });
      const saved = await saveRepoCredential(ctx, app.id, ssh);
      assert.ok(saved.ssh_key?.startsWith('tdx1:'));
      assert.ok(!saved.ssh_key?.includes(privateKey.split('\n')[1]));
      assert.equal(saved.ssh_known_hosts, knownHosts);
      assert.deepEqual(await gitCredentialsOf(ctx, saved), { privateKey, knownHosts });
      assert.deepEqual(await gitCredentialsByUrl(ctx)(URL), { privateKey, knownHosts });
      assert.equal(await gitCredentialsByUrl(ctx)('ssh://git@git.example.com:2222/team/else.git'), null);

      // Copied into another repository's row, the ciphertext does not decrypt.
      await store.db
        .updateTable('repos')
        .set({ ssh_key: saved.ssh_key, ssh_key_key_id: saved.ssh_key_key_id })
        .where('id', '=', other.id)
        .execute();
      const copied = await store.db.selectFrom('repos').selectAll().where('id', '=', other.id).executeTakeFirstOrThrow();
      await assert.rejects(gitCredentialsOf(ctx, copied), /does not decrypt \(altered, or copied from another row\)/);
      await store.db.updateTable('repos').set({ ssh_key: null, ssh_key_key_id: null }).where('id', '=', other.id).execute();

      // A data key rotation re-encrypts it, and it still opens.
      await secrets.keyring.rotate();
      assert.equal(await secrets.keyring.reencrypt(SSH_KEY, { batchSize: 1 }), 1);
      const rotated = await store.db.selectFrom('repos').selectAll().where('id', '=', app.id).executeTakeFirstOrThrow();
      assert.notEqual(rotated.ssh_key_key_id, saved.ssh_key_key_id);
      assert.deepEqual(await gitCredentialsOf(ctx, rotated), { privateKey, knownHosts });

      // A token replaces the key whole; null removes everything.
      const token = await saveRepoCredential(
        ctx,
        other.id,
        checkRepoCredential('https://git.example.com/other.git', { type: 'token', token: 'glpat-xyz' }),
      );
      assert.deepEqual([token.ssh_key, token.ssh_public_key, token.ssh_known_hosts], [null, null, null]);
      assert.deepEqual(await gitCredentialsOf(ctx, token), { username: 'x-access-token', password: 'glpat-xyz' });
      const removed = await saveRepoCredential(ctx, app.id, null);
      assert.deepEqual([removed.ssh_key, removed.ssh_key_key_id, removed.url_credentials], [null, null, null]);
      assert.equal(await gitCredentialsOf(ctx, removed), null);
    });
  });
}
