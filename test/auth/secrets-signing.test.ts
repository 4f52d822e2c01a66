// Signing keys on SQLite and PostgreSQL: one key signs at a time, rotation by age or on demand
// keeps the old key published until its tokens have expired, private halves are stored encrypted,
// and replicas rotating at the same moment end with one active key.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import pino from 'pino';
import { openSecrets, TokenSigner, type Secrets } from '../../src/auth/secrets/index.js';
import { configSchema } from '../../src/config/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { backends } from '../store/helpers.js';

const DAY = 86_400_000;
const ISSUER = 'https://tandem.example';

for (const backend of backends()) {
  describe(`signing keys on ${backend.name}`, { skip: backend.skip }, () => {
    let db: { url: string; cleanup(): Promise<void> };
    let dataDir: string;
    let store: Store;
    let secrets: Secrets;
    /** The clock the signer sees; tests move it forward. */
    let clock: number;
    const signer = (rotationDays = 30) => new TokenSigner(store, secrets.keyring, { rotationDays, now: () => clock });
    const sign = (s: TokenSigner, aud = 'vault') =>
      s.sign({ project_path: 'app' }, { issuer: ISSUER, audience: aud, subject: 'project_path:app', lifetimeSeconds: 600 });

    beforeEach(async () => {
      db = await backend.fresh();
      dataDir = await mkdtemp(join(tmpdir(), 'tandem-signing-'));
      store = await openStore(db.url);
      clock = Date.now();
      secrets = await openSecrets(store, { ...configSchema.parse({}), dataDir }, { now: () => clock, log: pino({ level: 'silent' }) });
    });
    afterEach(async () => {
      await store.close();
      await db.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('signs with the published key; the private half is stored encrypted', async () => {
      const s = signer();
      const token = await sign(s);
      const jwks = await s.jwks();
      assert.equal(jwks.keys.length, 1);
      const [key] = jwks.keys;
      assert.deepEqual([key.kty, key.alg, key.use, key.kid], ['RSA', 'RS256', 'sig', decodeProtectedHeader(token).kid]);
      assert.equal(key.d, undefined, 'a private part is published');
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), {
        issuer: ISSUER,
        audience: 'vault',
        currentDate: new Date(clock),
      });
      assert.equal(payload.project_path, 'app');
      assert.equal(payload.exp! - payload.iat!, 600);
      const row = await store.db.selectFrom('signing_keys').selectAll().executeTakeFirstOrThrow();
      assert.match(row.private_key, /^tdx1:dk_/);
      assert.doesNotMatch(row.private_key, /PRIVATE KEY/);
    });

    it('rotates after signingKeyRotationDays; the old key stays published one period more, then goes', async () => {
      const s = signer(10);
      const oldToken = await sign(s);
      const oldKid = decodeProtectedHeader(oldToken).kid;
      clock += 9 * DAY;
      assert.equal(decodeProtectedHeader(await sign(s)).kid, oldKid, 'not yet due');
      clock += 1 * DAY + 1;
      const newToken = await sign(s);
      const newKid = decodeProtectedHeader(newToken).kid;
      assert.notEqual(newKid, oldKid);
      assert.deepEqual(
        (await s.jwks()).keys.map((k) => k.kid),
        [newKid, oldKid],
      );
      // A token signed just before the rotation still verifies while it is valid.
      const jwks = createLocalJWKSet(await s.jwks());
      await jwtVerify(newToken, jwks, { issuer: ISSUER, audience: 'vault', currentDate: new Date(clock) });
      // One period later the old key's tokens have expired: it goes as the next rotation comes.
      clock += 10 * DAY;
      const published = (await s.jwks()).keys.map((k) => k.kid);
      assert.equal(published.length, 2);
      assert.equal(published[1], newKid);
      assert.ok(!published.includes(oldKid), 'the old key is still published');
      assert.equal(
        await store.db.selectFrom('signing_keys').select('kid').where('kid', '=', oldKid!).executeTakeFirst(),
        undefined,
        'the old key is still stored',
      );
    });

    it('an operator rotation: new tokens use the new key, old tokens still verify', async () => {
      const s = signer();
      const before = await sign(s);
      const kid = await s.rotate();
      const after = await sign(s);
      assert.equal(decodeProtectedHeader(after).kid, kid);
      assert.notEqual(decodeProtectedHeader(before).kid, kid);
      const jwks = createLocalJWKSet(await s.jwks());
      for (const token of [before, after])
        await jwtVerify(token, jwks, { issuer: ISSUER, audience: 'vault', currentDate: new Date(clock) });
      await assert.rejects(jwtVerify(after, jwks, { issuer: ISSUER, audience: 'other', currentDate: new Date(clock) }), {
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'aud',
      });
    });

    it('refuses a token lifetime longer than the rotation period', async () => {
      await assert.rejects(
        signer(1).sign({}, { issuer: ISSUER, audience: 'a', subject: 's', lifetimeSeconds: 86_401 }),
        /lifetime of 86401 s is longer than the signing key rotation period \(signingKeyRotationDays: 1\)/,
      );
    });

    it('replicas that find the key due at the same moment end with one active key', async () => {
      await sign(signer(1));
      clock += 2 * DAY;
      const tokens = await Promise.all([sign(signer(1)), sign(signer(1))]);
      const active = await store.db.selectFrom('signing_keys').select('kid').where('state', '=', 'active').execute();
      assert.equal(active.length, 1);
      assert.deepEqual(new Set(tokens.map((t) => decodeProtectedHeader(t).kid)), new Set([active[0].kid]));
    });
  });
}
