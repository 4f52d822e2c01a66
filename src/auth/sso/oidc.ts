// OpenID Connect login: the authorization code flow with PKCE (S256), state and nonce, and the ID
// token's signature checked against the provider's published keys. Nothing is kept in memory between
// the two halves: the caller stores what beginLogin returns (in the database, so any replica can take
// the callback) and hands it back to finishLogin.
import type * as OpenId from 'openid-client';
import type { OidcConfig } from './config.js';
import { SsoError, type ExternalIdentity, type SsoLog } from './types.js';

/** What the caller stores between beginLogin and finishLogin, once, for a few minutes. */
export interface OidcPendingLogin {
  state: string;
  codeVerifier: string;
  nonce: string;
}

export interface OidcLoginStart extends OidcPendingLogin {
  /** Where to send the browser. */
  url: string;
}

export interface OidcClient {
  readonly issuer: string;
  readonly redirectUri: string;
  beginLogin(): Promise<OidcLoginStart>;
  /**
   * Exchanges the code in the callback URL (the full URL the browser came back to, with its query) and
   * returns who logged in. The caller must delete the pending login first, so a callback works once.
   */
  finishLogin(callbackUrl: URL, pending: OidcPendingLogin): Promise<ExternalIdentity>;
}

export interface DiscoverOidcOptions {
  /** Used when oidc.redirectUri is not set: the server's external URL + /api/v1/login/oidc/callback. */
  defaultRedirectUri?: string;
  log?: SsoLog;
  /** For each request to the provider; default 10 s. */
  timeoutSeconds?: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Reads the provider's discovery document; call at start (and again later when it failed). */
export async function discoverOidc(config: OidcConfig, options: DiscoverOidcOptions = {}): Promise<OidcClient> {
  const log = options.log ?? (() => {});
  const redirectUri = config.redirectUri ?? options.defaultRedirectUri;
  if (!redirectUri) throw new SsoError('config', 'oidc.redirectUri is not set and the server has no external URL to derive it from');
  const issuer = new URL(config.issuer);
  // openid-client refuses plain http; a provider on this machine (a test, a local Dex) needs no TLS.
  const plainHttp = issuer.protocol === 'http:';
  if (plainHttp && !LOOPBACK.has(issuer.hostname)) {
    throw new SsoError('config', `oidc.issuer ${config.issuer} must be an https URL (plain http is accepted on loopback only)`);
  }

  // Loaded here, not with the module: every command imports src/auth, few log anyone in.
  const oidc = await import('openid-client');
  let configuration: OpenId.Configuration;
  try {
    configuration = await oidc.discovery(issuer, config.clientId, undefined, oidc.ClientSecretBasic(config.clientSecret), {
      timeout: options.timeoutSeconds ?? 10,
      // Verify ID token signatures too: TLS alone vouches for the provider only where TLS is used.
      execute: plainHttp ? [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks] : [oidc.enableNonRepudiationChecks],
    });
  } catch (err) {
    const detail = `OpenID Connect discovery at ${config.issuer} failed: ${describe(err, oidc)}`;
    log(detail);
    throw new SsoError(isNetworkError(err) ? 'unavailable' : 'config', detail, detail, { cause: err });
  }

  return {
    issuer: configuration.serverMetadata().issuer,
    redirectUri,
    async beginLogin() {
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(configuration, {
        redirect_uri: redirectUri,
        scope: config.scopes.join(' '),
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      return { url: url.href, state, codeVerifier, nonce };
    },
    async finishLogin(callbackUrl, pending) {
      const refused = (kind: 'refused' | 'unavailable' | 'config', detail: string, cause?: unknown): SsoError => {
        log(`OpenID Connect login refused: ${detail}`);
        const message =
          kind === 'refused'
            ? 'the login could not be verified: start it again'
            : kind === 'unavailable'
              ? 'the identity provider cannot be reached'
              : 'OpenID Connect login is misconfigured: the server log says why';
        return new SsoError(kind, message, detail, { cause });
      };
      let tokens: Awaited<ReturnType<typeof OpenId.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(
          configuration,
          callbackUrl,
          { pkceCodeVerifier: pending.codeVerifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true },
          // The registered URI, not the callback as this replica saw it (a proxy may have rewritten it).
          { redirect_uri: redirectUri },
        );
      } catch (err) {
        if (isNetworkError(err)) throw refused('unavailable', `the token request to ${config.issuer} failed: ${describe(err, oidc)}`, err);
        // A token endpoint answers a client it cannot authenticate with invalid_client, or with 401 and a challenge.
        if (
          (err instanceof oidc.ResponseBodyError && err.error === 'invalid_client') ||
          (err instanceof oidc.WWWAuthenticateChallengeError && err.status === 401)
        ) {
          throw refused(
            'config',
            `the provider does not accept client ${config.clientId}: check oidc.clientId and oidc.clientSecret (${describe(err, oidc)})`,
            err,
          );
        }
        throw refused('refused', describe(err, oidc), err);
      }
      const idToken = tokens.claims();
      if (!idToken) throw refused('refused', 'the token response has no ID token');
      let claims: Record<string, unknown> = idToken;
      if (configuration.serverMetadata().userinfo_endpoint) {
        try {
          const userinfo = await oidc.fetchUserInfo(configuration, tokens.access_token, idToken.sub);
          // The ID token's signed claims win; userinfo adds those the provider keeps out of ID tokens.
          claims = { ...userinfo, ...idToken };
        } catch (err) {
          throw refused(isNetworkError(err) ? 'unavailable' : 'refused', `the userinfo request failed: ${describe(err, oidc)}`, err);
        }
      }
      return identityFromClaims(config, claims, (detail) => refused('config', detail));
    },
  };
}

function identityFromClaims(
  config: OidcConfig,
  claims: Record<string, unknown>,
  misconfigured: (detail: string) => SsoError,
): ExternalIdentity {
  const names = Object.keys(claims).sort().join(', ');
  const username = claims[config.usernameClaim];
  if (typeof username !== 'string' || username === '') {
    throw misconfigured(`the provider sent no ${config.usernameClaim} claim (oidc.usernameClaim); it sent: ${names}`);
  }
  const rawGroups = claims[config.groupsClaim] ?? [];
  const groups = typeof rawGroups === 'string' ? [rawGroups] : rawGroups;
  if (!Array.isArray(groups) || !groups.every((g): g is string => typeof g === 'string')) {
    throw misconfigured(`the ${config.groupsClaim} claim (oidc.groupsClaim) is not a list of names: ${JSON.stringify(rawGroups)}`);
  }
  const text = (name: string): string | null => (typeof claims[name] === 'string' && claims[name] !== '' ? (claims[name] as string) : null);
  return {
    provider: 'oidc',
    subject: String(claims.sub),
    username,
    email: claims.email_verified === false ? null : text('email'),
    name: text('name'),
    groups: [...new Set(groups)].sort(),
  };
}

/** The request never got an answer: connection refused, DNS, timeout. */
function isNetworkError(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError' || (e instanceof TypeError && e.message === 'fetch failed')) return true;
  }
  return false;
}

function describe(err: unknown, oidc: typeof OpenId): string {
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) {
    return `${err.error}${err.error_description ? ` (${err.error_description})` : ''}`;
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    const challenge = err.cause[0];
    return `HTTP ${err.status}, ${challenge ? `${challenge.scheme} challenge: ${JSON.stringify(challenge.parameters)}` : 'no challenge'}`;
  }
  if (!(err instanceof Error)) return String(err);
  const code = (err as Error & { code?: unknown }).code;
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${typeof code === 'string' ? ` [${code}]` : ''}${cause}`;
}
