// What a single sign-on provider says about the person who just logged in. Login routes turn it into
// a Tandem user (found by provider + subject, so a renamed account stays the same user) and map its
// groups to roles with rolesForGroups.

import { DomainError, type ErrorKind } from '../../errors.js';

export type SsoProvider = 'oidc' | 'ldap' | 'saml';

export interface ExternalIdentity {
  provider: SsoProvider;
  /** Stable id at the provider: the OIDC `sub`, the LDAP entryUUID (else the DN), the SAML NameID. */
  subject: string;
  /** The login name shown in Tandem (preferred_username, uid, or the configured attribute). */
  username: string;
  /** Null when the provider gave none or said it is not verified: never link accounts on an unverified address. */
  email: string | null;
  name: string | null;
  groups: string[];
}

/**
 * Why a login failed. `message` is safe to show to the person logging in; `detail` is for the log only
 * (it may say whether an account exists, which the login page must not).
 * - credentials: wrong username or password (unauthenticated)
 * - refused: the provider's answer failed a check: state, nonce, signature, audience, replay (malformed)
 * - unavailable: the provider cannot be reached (upstream)
 * - config: Tandem's configuration does not fit the provider (misconfigured; an operator must act)
 */
export type SsoFailure = 'credentials' | 'refused' | 'unavailable' | 'config';

const KIND_OF_FAILURE: Record<SsoFailure, ErrorKind> = {
  credentials: 'unauthenticated',
  refused: 'malformed',
  unavailable: 'upstream',
  config: 'misconfigured',
};

export class SsoError extends DomainError {
  constructor(
    readonly reason: SsoFailure,
    message: string,
    readonly detail: string = message,
    options?: { cause?: unknown },
  ) {
    super(KIND_OF_FAILURE[reason], message);
    this.name = 'SsoError';
    if (options) this.cause = options.cause;
  }
}

/** Receives the detail of a failed login, for the server log. */
export type SsoLog = (detail: string) => void;
