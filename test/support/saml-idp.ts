// A SAML identity provider for tests: an HTTP endpoint on loopback that takes an AuthnRequest by
// HTTP-Redirect and answers, for the user the test chose, with the HTTP-POST form a browser would
// submit to the service provider. Responses are built here and signed with xml-crypto (what node-saml
// verifies with), by the IdP's own key or, to test refusals, by another.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';
import { selfSignedCertificate, type TestCertificate } from './certs.js';
import { freePort } from './ports.js';

export interface SamlIdpUser {
  nameId: string;
  attributes: Record<string, string | string[]>;
}

export interface SamlResponseOptions {
  /** Default: the service provider's entity ID from the request. */
  audience?: string;
  /** Default: the IdP's entity ID. */
  issuer?: string;
  /** The assertion's window; default: from a minute ago to five minutes from now. */
  notBefore?: Date;
  notOnOrAfter?: Date;
  /** Default: the request's ID; null leaves InResponseTo out (an IdP-initiated response). */
  inResponseTo?: string | null;
  /** What is signed; default: the assertion. */
  sign?: 'assertion' | 'response' | 'both' | 'none';
  /** Default: the IdP's key. */
  signer?: TestCertificate;
  /** The Response's Destination; default: the request's assertion consumer URL; null leaves it out. */
  destination?: string | null;
  /** The bearer SubjectConfirmationData's Recipient; default: the request's assertion consumer URL. */
  recipient?: string;
  /** Changes the XML after signing, as an attacker on the way would. */
  tamper?: (xml: string) => string;
}

/** What the browser POSTs to the service provider's assertion consumer URL. */
export interface SamlPost {
  action: string;
  SAMLResponse: string;
  RelayState?: string;
}

export interface TestSamlIdp {
  entityId: string;
  ssoUrl: string;
  /** The IdP's signing certificate (PEM), for the service provider's configuration. */
  cert: string;
  /** A key and certificate that are not the IdP's. */
  otherSigner: TestCertificate;
  /** What a browser sent to `authorizeUrl` ends up posting to the service provider, logged in as `user`. */
  login(authorizeUrl: string, user: SamlIdpUser, options?: SamlResponseOptions): Promise<SamlPost>;
  /** A response built outside any HTTP exchange (for a request the service provider never sent). */
  buildResponse(
    request: { id: string | null; acsUrl: string; spEntityId: string },
    user: SamlIdpUser,
    options?: SamlResponseOptions,
  ): string;
  stop(): Promise<void>;
}

const NS_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
const NS_ASSERTION = 'urn:oasis:names:tc:SAML:2.0:assertion';

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function xmlUnescape(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&gt;/g, '>')
    .replace(/&lt;/g, '<')
    .replace(/&amp;/g, '&');
}

const samlId = (): string => `_${randomBytes(16).toString('hex')}`;

function sign(xml: string, signer: TestCertificate, element: 'Assertion' | 'Response'): string {
  const target = element === 'Assertion' ? "//*[local-name(.)='Assertion']" : "/*[local-name(.)='Response']";
  const signed = new SignedXml({
    privateKey: signer.key,
    publicCert: signer.cert,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  signed.addReference({
    xpath: target,
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  });
  // The schema puts ds:Signature right after the element's Issuer.
  signed.computeSignature(xml, { location: { reference: `${target}/*[local-name(.)='Issuer']`, action: 'after' } });
  return signed.getSignedXml();
}

export async function startSamlIdp(): Promise<TestSamlIdp> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tandem-saml-idp-'));
  try {
    const own = await selfSignedCertificate(dir, 'idp');
    const otherSigner = await selfSignedCertificate(dir, 'impostor');
    // What the next browser visit logs in as; a test sets it just before that visit.
    let next: { user: SamlIdpUser; options: SamlResponseOptions } | null = null;
    const server: Server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', ssoUrl);
      const encoded = url.searchParams.get('SAMLRequest');
      if (url.pathname !== '/sso' || !encoded || !next) {
        res.writeHead(400).end('expected GET /sso?SAMLRequest=… after login() chose a user');
        return;
      }
      const request = inflateRawSync(Buffer.from(encoded, 'base64')).toString('utf8');
      const attr = (name: string): string => {
        const value = new RegExp(`<(?:\\w+:)?AuthnRequest[^>]*\\s${name}="([^"]*)"`).exec(request)?.[1];
        if (value === undefined) throw new Error(`the AuthnRequest has no ${name}: ${request}`);
        return value;
      };
      const spEntityId = /<(?:\w+:)?Issuer[^>]*>([^<]+)<\/(?:\w+:)?Issuer>/.exec(request)?.[1] ?? '';
      const acsUrl = attr('AssertionConsumerServiceURL');
      const samlResponse = buildResponse({ id: attr('ID'), acsUrl, spEntityId }, next.user, next.options);
      next = null;
      const relayState = url.searchParams.get('RelayState');
      const relayField = relayState === null ? '' : `<input type="hidden" name="RelayState" value="${xmlEscape(relayState)}"/>`;
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(
        `<html><body onload="document.forms[0].submit()"><form method="post" action="${xmlEscape(acsUrl)}">` +
          `<input type="hidden" name="SAMLResponse" value="${samlResponse}"/>${relayField}</form></body></html>`,
      );
    });
    let port = 0;
    for (let tries = 1; ; tries++) {
      port = await freePort();
      const listening = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (listening) break;
      // Another process took the port between the check and the listen.
      if (tries >= 3) throw new Error(`the test SAML identity provider could not listen on 127.0.0.1:${port}`);
    }
    const entityId = `http://127.0.0.1:${port}/metadata`;
    const ssoUrl = `http://127.0.0.1:${port}/sso`;

    const buildResponse: TestSamlIdp['buildResponse'] = (request, user, options = {}) => {
      const now = new Date();
      const instant = now.toISOString();
      const notBefore = (options.notBefore ?? new Date(now.getTime() - 60_000)).toISOString();
      const notOnOrAfter = (options.notOnOrAfter ?? new Date(now.getTime() + 300_000)).toISOString();
      const inResponseTo = options.inResponseTo === undefined ? request.id : options.inResponseTo;
      const inResponseToAttr = inResponseTo === null ? '' : ` InResponseTo="${xmlEscape(inResponseTo)}"`;
      const issuer = xmlEscape(options.issuer ?? entityId);
      const attributes = Object.entries(user.attributes)
        .map(([name, value]) => {
          const list = Array.isArray(value) ? value : [value];
          return `<saml:Attribute Name="${xmlEscape(name)}">${list.map((v) => `<saml:AttributeValue>${xmlEscape(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`;
        })
        .join('');
      const assertion =
        `<saml:Assertion xmlns:saml="${NS_ASSERTION}" ID="${samlId()}" Version="2.0" IssueInstant="${instant}">` +
        `<saml:Issuer>${issuer}</saml:Issuer>` +
        `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${xmlEscape(user.nameId)}</saml:NameID>` +
        `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData${inResponseToAttr} NotOnOrAfter="${notOnOrAfter}" Recipient="${xmlEscape(options.recipient ?? request.acsUrl)}"/></saml:SubjectConfirmation></saml:Subject>` +
        `<saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${notOnOrAfter}"><saml:AudienceRestriction><saml:Audience>${xmlEscape(options.audience ?? request.spEntityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
        `<saml:AuthnStatement AuthnInstant="${instant}" SessionIndex="${samlId()}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
        `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` +
        `</saml:Assertion>`;
      const destination = options.destination === undefined ? request.acsUrl : options.destination;
      const destinationAttr = destination === null ? '' : ` Destination="${xmlEscape(destination)}"`;
      let xml =
        `<samlp:Response xmlns:samlp="${NS_PROTOCOL}" xmlns:saml="${NS_ASSERTION}" ID="${samlId()}" Version="2.0" IssueInstant="${instant}"${destinationAttr}${inResponseToAttr}>` +
        `<saml:Issuer>${issuer}</saml:Issuer>` +
        `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
        assertion +
        `</samlp:Response>`;
      const signer = options.signer ?? own;
      const what = options.sign ?? 'assertion';
      if (what === 'assertion' || what === 'both') xml = sign(xml, signer, 'Assertion');
      if (what === 'response' || what === 'both') xml = sign(xml, signer, 'Response');
      if (options.tamper) xml = options.tamper(xml);
      return Buffer.from(xml).toString('base64');
    };

    return {
      entityId,
      ssoUrl,
      cert: own.cert,
      otherSigner,
      buildResponse,
      async login(authorizeUrl, user, options = {}) {
        next = { user, options };
        const response = await fetch(authorizeUrl, { redirect: 'manual' });
        const html = await response.text();
        if (response.status !== 200) throw new Error(`the identity provider answered ${response.status}: ${html}`);
        const field = (pattern: string): string | undefined => {
          const value = new RegExp(pattern).exec(html)?.[1];
          return value === undefined ? undefined : xmlUnescape(value);
        };
        const action = field('action="([^"]*)"');
        const samlResponse = field('name="SAMLResponse" value="([^"]*)"');
        if (!action || !samlResponse) throw new Error(`the identity provider's page has no SAML form: ${html}`);
        return { action, SAMLResponse: samlResponse, RelayState: field('name="RelayState" value="([^"]*)"') };
      },
      async stop() {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
