// SAML 2.0 login (service-provider initiated): an AuthnRequest by HTTP-Redirect, the identity
// provider's answer by HTTP-POST. Signatures are checked with the configured IdP certificate(s); the
// audience, the validity window and the issuer are checked; a response is only taken in answer to a
// request this cluster sent and not answered yet, which the caller's store (in the database: any
// replica may receive the answer) remembers.
import type { CacheProvider, Profile, SAML } from '@node-saml/node-saml';
// node-saml's own XML layer (@xmldom/xmldom and xpath), so the response is read as node-saml reads it.
import { lazyRequire } from '../../lazy-require.js';

const nodeSaml = lazyRequire<typeof import('@node-saml/node-saml')>('@node-saml/node-saml');
const samlXml = lazyRequire<typeof import('@node-saml/node-saml/lib/xml.js')>('@node-saml/node-saml/lib/xml.js');
import type { SamlConfig } from './config.js';
import { SsoError, type ExternalIdentity, type SsoLog } from './types.js';

/** The caller's record of AuthnRequests sent and not answered yet. */
export interface SamlRequestStore {
  save(id: string, issuedAt: Date): Promise<void>;
  /** When the request was sent, or null for an unknown (or already answered) one. */
  get(id: string): Promise<Date | null>;
  /**
   * Deletes the request and says whether this call deleted it. It must be atomic (DELETE … and look at
   * the row count), so that of two replicas given the same response at once only one accepts it.
   */
  take(id: string): Promise<boolean>;
}

export interface SamlFinishOptions {
  log?: SsoLog;
}

/** The identity provider's URL to send the browser to; the request's ID is saved in `requests`. */
export async function samlLoginUrl(config: SamlConfig, relayState: string, requests: SamlRequestStore): Promise<string> {
  return samlFor(config, requests).getAuthorizeUrlAsync(relayState, undefined, {});
}

/** Checks the identity provider's POSTed answer and returns who logged in. */
export async function samlFinishLogin(
  config: SamlConfig,
  body: { SAMLResponse: string; RelayState?: string },
  requests: SamlRequestStore,
  options: SamlFinishOptions = {},
): Promise<ExternalIdentity> {
  const refused = (kind: 'refused' | 'config', detail: string, cause?: unknown): SsoError => {
    options.log?.(`SAML login refused: ${detail}`);
    const message =
      kind === 'refused' ? 'the login could not be verified: start it again' : 'SAML login is misconfigured: the server log says why';
    return new SsoError(kind, message, detail, { cause });
  };
  if (typeof body.SAMLResponse !== 'string' || body.SAMLResponse === '') throw refused('refused', 'the POST carries no SAMLResponse');

  let profile: Profile | null;
  try {
    ({ profile } = await samlFor(config, requests).validatePostResponseAsync({ SAMLResponse: body.SAMLResponse }));
  } catch (err) {
    throw refused('refused', err instanceof Error ? err.message : String(err), err);
  }
  if (!profile) throw refused('refused', 'the response holds no assertion (a logout response?)');
  // node-saml checks neither where the response was addressed nor whom the assertion was for.
  const misaddressed = await wrongRecipient(profile, config.callbackUrl);
  if (misaddressed !== null) throw refused('refused', misaddressed);
  // node-saml checks the issuer of logout messages only.
  if (config.idpIssuer !== undefined && profile.issuer !== config.idpIssuer) {
    throw refused(
      'refused',
      `the assertion was issued by ${JSON.stringify(profile.issuer)}, not by saml.idpIssuer ${JSON.stringify(config.idpIssuer)}`,
    );
  }
  // validateInResponseTo is "always", so a valid profile answers a request; only one caller may use it.
  const requestId = typeof profile.inResponseTo === 'string' ? profile.inResponseTo : null;
  if (requestId === null || !(await requests.take(requestId)))
    throw refused('refused', `the response to request ${requestId} was already used`);

  if (!profile.nameID) throw refused('refused', 'the assertion has no NameID');
  const username = config.usernameAttribute === undefined ? profile.nameID : first(profile[config.usernameAttribute]);
  if (!username) {
    throw refused(
      'config',
      `the assertion has no ${config.usernameAttribute} attribute (saml.usernameAttribute); it has: ${attributeNames(profile)}`,
    );
  }
  return {
    provider: 'saml',
    subject: profile.nameID,
    username,
    email: first(profile[config.emailAttribute]),
    name: first(profile[config.nameAttribute]),
    groups: [...new Set(values(profile[config.groupsAttribute]))].sort(),
  };
}

function samlFor(config: SamlConfig, requests: SamlRequestStore): SAML {
  const ttlMs = config.requestTtlSeconds * 1000;
  const cacheProvider: CacheProvider = {
    async saveAsync(key, value) {
      const issuedAt = new Date(value);
      await requests.save(key, issuedAt);
      return { value, createdAt: issuedAt.getTime() };
    },
    async getAsync(key) {
      const issuedAt = await requests.get(key);
      return issuedAt && Date.now() - issuedAt.getTime() <= ttlMs ? issuedAt.toISOString() : null;
    },
    // node-saml forgets a request before it has checked all of the response; samlFinishLogin takes it
    // from the store once the response has passed every check.
    async removeAsync(key) {
      return key;
    },
  };
  return new (nodeSaml().SAML)({
    entryPoint: config.entryPoint,
    issuer: config.issuer,
    audience: config.issuer,
    callbackUrl: config.callbackUrl,
    idpCert: config.idpCert,
    wantAssertionsSigned: config.wantAssertionsSigned,
    wantAuthnResponseSigned: config.wantResponseSigned,
    acceptedClockSkewMs: config.clockSkewSeconds * 1000,
    validateInResponseTo: nodeSaml().ValidateInResponseTo.always,
    requestIdExpirationPeriodMs: ttlMs,
    cacheProvider,
    // Let the identity provider choose the NameID format and how the user authenticates (MFA included).
    identifierFormat: null,
    disableRequestedAuthnContext: true,
  });
}

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

/**
 * Why a response is not addressed to this service provider, or null when it is: the Response's
 * Destination (when given) and the Recipient of the signed assertion's bearer SubjectConfirmationData
 * (required by the Web Browser SSO profile) must be our assertion consumer URL. Otherwise an
 * assertion the identity provider issued for another service provider that shares our entity ID
 * (a staging instance, another replica set) would sign people in here.
 */
async function wrongRecipient(profile: Profile, callbackUrl: string): Promise<string | null> {
  const response = await samlXml().parseDomFromString(profile.getSamlResponseXml?.() ?? '');
  const destination = samlXml().xpath.selectAttributes(response, "/*[local-name()='Response']/@Destination")[0]?.value;
  if (destination !== undefined && destination !== callbackUrl)
    return `the response is addressed to ${JSON.stringify(destination)}, not to saml.callbackUrl ${JSON.stringify(callbackUrl)}`;
  const assertion = await samlXml().parseDomFromString(profile.getAssertionXml?.() ?? '');
  const recipients = samlXml()
    .xpath.selectAttributes(
      assertion,
      `//*[local-name()='SubjectConfirmation'][@Method='${BEARER}']/*[local-name()='SubjectConfirmationData']/@Recipient`,
    )
    .map((a) => a.value);
  if (!recipients.includes(callbackUrl))
    return `the assertion is for recipient ${recipients.map((r) => JSON.stringify(r)).join(', ') || '(none)'}, not for saml.callbackUrl ${JSON.stringify(callbackUrl)}`;
  return null;
}

function values(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
  return list.filter((v): v is string => typeof v === 'string' && v !== '');
}

function first(value: unknown): string | null {
  return values(value)[0] ?? null;
}

function attributeNames(profile: Profile): string {
  const attributes = profile.attributes;
  return attributes && typeof attributes === 'object' ? Object.keys(attributes).join(', ') || '(none)' : '(none)';
}
