// What a single sign-on provider says about the person who just logged in. Login routes turn it into
// a Tandem user (found by provider + subject, so a renamed account stays the same user) and map its
// groups to roles with rolesForGroups.

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
 * - credentials: wrong username or password (HTTP 401)
 * - refused: the provider's answer failed a check: state, nonce, signature, audience, replay (HTTP 400)
 * - unavailable: the provider cannot be reached (HTTP 502)
 * - config: Tandem's configuration does not fit the provider (HTTP 500; an operator must act)
 */
export type SsoErrorKind = 'credentials' | 'refused' | 'unavailable' | 'config';

export class SsoError extends Error {
  constructor(
    readonly kind: SsoErrorKind,
    message: string,
    readonly detail: string = message,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SsoError';
  }
}

/** Receives the detail of a failed login, for the server log. */
export type SsoLog = (detail: string) => void;
