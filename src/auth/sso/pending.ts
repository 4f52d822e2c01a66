// Logins between their two halves, kept in the database (migration 011): the redirect to the
// provider is served by one replica and the browser's way back may reach another. Each row is used
// once: the DELETE that takes it decides, so of two replicas given the same callback only one
// proceeds. Expired rows are removed whenever a new login starts.
import type { Kysely } from 'kysely';
import type { Database } from '../../store/index.js';
import { MAX_PENDING_PER_ADDRESS, refuseOverPendingLimit } from '../pending-limit.js';
import type { OidcPendingLogin } from './oidc.js';
import type { SamlRequestStore } from './saml.js';

export interface PendingOidcLogin extends OidcPendingLogin {
  /** Where the browser goes once signed in: a path on this server, checked before it is stored. */
  returnTo: string;
}

async function forgetExpired(db: Kysely<Database>, now: number): Promise<void> {
  await db.deleteFrom('sso_oidc_logins').where('expires_at', '<=', now).execute();
  await db.deleteFrom('sso_saml_requests').where('expires_at', '<=', now).execute();
}

/** Refuses (429) a start from an address with too many OpenID Connect sign-ins waiting: anyone may start one. */
export async function refuseOverOidcLimit(db: Kysely<Database>, address: string, now: number): Promise<void> {
  await refuseOverPendingLimit(db, 'sso_oidc_logins', {
    address,
    now,
    max: MAX_PENDING_PER_ADDRESS,
    what: 'OpenID Connect sign-ins waiting',
  });
}

export async function saveOidcLogin(
  db: Kysely<Database>,
  login: PendingOidcLogin,
  opts: { now: number; ttlMs: number; address: string },
): Promise<void> {
  await forgetExpired(db, opts.now);
  await db
    .insertInto('sso_oidc_logins')
    .values({
      state: login.state,
      code_verifier: login.codeVerifier,
      nonce: login.nonce,
      return_to: login.returnTo,
      created_at: opts.now,
      expires_at: opts.now + opts.ttlMs,
      address: opts.address,
    })
    .execute();
}

/** The login started with this state, deleted by this call; null when unknown, already used or expired. */
export async function takeOidcLogin(db: Kysely<Database>, state: string, now: number): Promise<PendingOidcLogin | null> {
  const row = await db.deleteFrom('sso_oidc_logins').where('state', '=', state).returningAll().executeTakeFirst();
  if (!row || row.expires_at <= now) return null;
  return { state: row.state, codeVerifier: row.code_verifier, nonce: row.nonce, returnTo: row.return_to };
}

/**
 * The SAML requests of the whole cluster. One instance serves one HTTP request: created with the
 * return path when a login starts (saved with the request's ID), or without when a response comes
 * in, after which `returnTo` holds the path saved with the request the response answered.
 */
export class DatabaseSamlRequests implements SamlRequestStore {
  /** Set by a successful `take`. */
  returnTo: string | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly opts: { ttlMs: number; now: () => number; returnTo?: string; address?: string },
  ) {}

  /** Refuses (429) a start from an address with too many SAML sign-ins waiting: anyone may start one. */
  async refuseOverLimit(): Promise<void> {
    if (this.opts.address === undefined) return;
    await refuseOverPendingLimit(this.db, 'sso_saml_requests', {
      address: this.opts.address,
      now: this.opts.now(),
      max: MAX_PENDING_PER_ADDRESS,
      what: 'SAML sign-ins waiting',
    });
  }

  async save(id: string, issuedAt: Date): Promise<void> {
    const now = this.opts.now();
    await forgetExpired(this.db, now);
    await this.db
      .insertInto('sso_saml_requests')
      .values({
        id,
        return_to: this.opts.returnTo ?? '/',
        issued_at: issuedAt.getTime(),
        expires_at: now + this.opts.ttlMs,
        address: this.opts.address ?? null,
      })
      .execute();
  }

  async get(id: string): Promise<Date | null> {
    const row = await this.db.selectFrom('sso_saml_requests').select('issued_at').where('id', '=', id).executeTakeFirst();
    return row ? new Date(row.issued_at) : null;
  }

  async take(id: string): Promise<boolean> {
    const row = await this.db.deleteFrom('sso_saml_requests').where('id', '=', id).returning('return_to').executeTakeFirst();
    if (!row) return false;
    this.returnTo = row.return_to;
    return true;
  }
}
