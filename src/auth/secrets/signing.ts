// Keys that sign the tokens Tandem issues (job ID tokens). One key signs at a time; after
// `rotationDays` a new one takes over and the old one stays published in the JWKS for as long
// again. Tokens may live at most one rotation period, so every token still valid finds its key.
import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { JSONWebKeySet, JWTPayload } from 'jose';
import type { SigningKey, Store } from '../../store/index.js';
import { readPublicJwk } from '../columns.js';
import { SIGNING_KEY_PRIVATE, type Keyring } from './keyring.js';
import { SecretsError } from './master-key.js';

export const SIGNING_ALG = 'RS256';
const DAY_MS = 86_400_000;
const generateRsa = promisify(generateKeyPair);

export interface SignOptions {
  issuer: string;
  audience: string | string[];
  subject: string;
  lifetimeSeconds: number;
}

export class TokenSigner {
  private readonly privateKeys = new Map<string, KeyObject>();

  constructor(
    private readonly store: Store,
    private readonly keyring: Keyring,
    private readonly opts: { rotationDays: number; now: () => number },
  ) {}

  private get periodMs(): number {
    return this.opts.rotationDays * DAY_MS;
  }

  /** The longest lifetime a token may have: a retired key is published one rotation period more. */
  get maxLifetimeSeconds(): number {
    return this.opts.rotationDays * 86_400;
  }

  /** A signed JWT with the given claims; `iat`, `nbf`, `exp` come from the database clock. */
  async sign(claims: JWTPayload, opts: SignOptions): Promise<string> {
    if (opts.lifetimeSeconds > this.maxLifetimeSeconds) {
      throw new SecretsError(
        `a token lifetime of ${opts.lifetimeSeconds} s is longer than the signing key rotation period (signingKeyRotationDays: ${this.opts.rotationDays})`,
      );
    }
    const { kid, key } = await this.activeKey();
    const now = Math.floor(this.opts.now() / 1000);
    // jose is loaded by the first token signed: commands that sign none (a client, `tandem exec`) skip it.
    const { SignJWT } = await import('jose');
    return new SignJWT(claims)
      .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: 'JWT' })
      .setIssuer(opts.issuer)
      .setAudience(opts.audience)
      .setSubject(opts.subject)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + opts.lifetimeSeconds)
      .sign(key);
  }

  /** The public keys that verify tokens still valid: the active key and retired ones still published. */
  async jwks(): Promise<JSONWebKeySet> {
    await this.activeKey();
    const rows = await this.store.db
      .selectFrom('signing_keys')
      .select(['kid', 'public_jwk'])
      .where((eb) => eb.or([eb('state', '=', 'active'), eb('publish_until', '>', this.opts.now())]))
      .orderBy('created_at', 'desc')
      .execute();
    return { keys: rows.map(readPublicJwk) };
  }

  /** The key that signs now, rotated first when it is older than the rotation period. */
  private async activeKey(): Promise<{ kid: string; key: KeyObject }> {
    const row = await this.activeRow();
    if (row && row.created_at + this.periodMs > this.opts.now()) return { kid: row.kid, key: await this.privateKey(row) };
    await this.replace(row?.kid ?? null);
    const fresh = await this.activeRow();
    if (!fresh) throw new SecretsError('no active signing key after rotation');
    return { kid: fresh.kid, key: await this.privateKey(fresh) };
  }

  private activeRow(): Promise<SigningKey | undefined> {
    return this.store.db.selectFrom('signing_keys').selectAll().where('state', '=', 'active').executeTakeFirst();
  }

  private async privateKey(row: SigningKey): Promise<KeyObject> {
    let key = this.privateKeys.get(row.kid);
    if (!key) {
      key = createPrivateKey(await this.keyring.open(row.private_key, row.data_key_id, SIGNING_KEY_PRIVATE, row));
      this.privateKeys.set(row.kid, key);
    }
    return key;
  }

  /** A new signing key now (an operator's rotation); returns its kid. */
  async rotate(): Promise<string> {
    await this.replace((await this.activeRow())?.kid ?? null);
    const row = await this.activeRow();
    if (!row) throw new SecretsError('no active signing key after rotation');
    return row.kid;
  }

  /**
   * Replaces the active key `current` (null: there is none) by a new one. Replicas racing here
   * all try; the update of `current` (or, for the first key, the unique active index) lets one win.
   */
  private async replace(current: string | null): Promise<void> {
    const { publicKey, privateKey } = await generateRsa('rsa', { modulusLength: 2048 });
    const { calculateJwkThumbprint, exportJWK } = await import('jose');
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    const publicJwk = JSON.stringify({ ...jwk, kid, alg: SIGNING_ALG, use: 'sig' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const sealed = await this.keyring.seal(pem, SIGNING_KEY_PRIVATE, { kid });
    const now = this.opts.now();
    await this.store.transaction(async (trx) => {
      if (current !== null) {
        const retired = await trx
          .updateTable('signing_keys')
          .set({ state: 'retired', retired_at: now, publish_until: now + this.periodMs })
          .where('kid', '=', current)
          .where('state', '=', 'active')
          .executeTakeFirst();
        if (Number(retired.numUpdatedRows) === 0) return;
      }
      await trx
        .insertInto('signing_keys')
        .values({
          kid,
          alg: SIGNING_ALG,
          public_jwk: publicJwk,
          private_key: sealed.value,
          data_key_id: sealed.keyId,
          state: 'active',
          created_at: now,
          retired_at: null,
          publish_until: null,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await trx.deleteFrom('signing_keys').where('state', '=', 'retired').where('publish_until', '<=', now).execute();
    });
  }
}
