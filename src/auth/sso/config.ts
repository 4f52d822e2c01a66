// The single sign-on sections of tandem.yml (oidc, ldap, saml, groupRoles) and the mapping from a
// provider's groups to Tandem roles. Unknown keys are errors, like everywhere in Tandem's files.
import { z } from 'zod';

/** Repository roles, weakest first: the order is the rank that rolesForGroups compares. */
export const ROLES = ['guest', 'reporter', 'developer', 'maintainer', 'owner'] as const;
export type Role = (typeof ROLES)[number];

const text = z.string().trim().min(1, 'must not be empty');
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
/** A list, or one string split at commas or spaces (handy in TANDEM_* variables). */
const words = z.preprocess((v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v), z.array(text));

export const oidcConfigSchema = z.strictObject({
  /** The provider's issuer URL; its /.well-known/openid-configuration is read at start. */
  issuer: httpUrl,
  clientId: text,
  clientSecret: text,
  /** Where the provider sends the browser back; default: the server's external URL + /api/v1/login/oidc/callback. */
  redirectUri: httpUrl.optional(),
  scopes: words.default(['openid', 'profile', 'email']).refine((s) => s.includes('openid'), 'must include openid'),
  usernameClaim: text.default('preferred_username'),
  /** A claim holding a list of group names (a single string counts as one group). */
  groupsClaim: text.default('groups'),
});

const placeholder = (name: string) => (s: string) => s.includes(`{${name}}`);

export const ldapConfigSchema = z
  .strictObject({
    url: z.string().regex(/^ldaps?:\/\/[^/]+\/?$/, 'expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]'),
    /** The service account that searches users and groups (never the user's own bind). */
    bindDn: text,
    bindPassword: text,
    userBase: text,
    /** `{username}` is replaced by the typed name, escaped (RFC 4515), so it can never change the filter. */
    userFilter: text.default('(uid={username})').refine(placeholder('username'), 'must contain {username}'),
    usernameAttribute: text.default('uid'),
    emailAttribute: text.default('mail'),
    nameAttribute: text.default('cn'),
    /** Without it, users have no groups. */
    groupBase: text.optional(),
    /** `{dn}` (the user's DN) and `{username}` are replaced, escaped; default `(<memberAttribute>={dn})`. */
    groupFilter: text.optional(),
    memberAttribute: text.default('member'),
    groupNameAttribute: text.default('cn'),
    /** Upgrade an ldap:// connection with StartTLS before any password is sent. */
    startTls: z.boolean().default(false),
    /** PEM file of the CA that signed the server's certificate (ldaps:// or startTls); default: the CAs built into Node.js. */
    tlsCaFile: text.optional(),
    timeoutSeconds: z.number().positive().default(5),
    /**
     * A user's entry is read again when they use a session or token this long after the directory
     * last vouched for them: gone or disabled, their sessions and tokens end (src/auth/sso/recheck.ts).
     */
    recheckSeconds: z.number().int().positive().default(300),
  })
  .refine((c) => !(c.startTls && c.url.startsWith('ldaps:')), {
    message: 'startTls is for ldap:// URLs; ldaps:// is TLS already',
    path: ['startTls'],
  })
  .refine((c) => !c.tlsCaFile || c.startTls || c.url.startsWith('ldaps:'), {
    message: 'tlsCaFile needs an ldaps:// URL or startTls: true',
    path: ['tlsCaFile'],
  });

export const samlConfigSchema = z
  .strictObject({
    /** The identity provider's single sign-on URL (HTTP-Redirect binding). */
    entryPoint: httpUrl,
    /** Tandem's entity ID at the identity provider (the audience its assertions must name). */
    issuer: text,
    /** The identity provider's signing certificate(s), PEM or bare base64; several during a key rollover. */
    idpCert: z.union([text, z.array(text).min(1)]),
    /** The identity provider's entity ID; when set, assertions from any other issuer are refused. */
    idpIssuer: text.optional(),
    /** Tandem's assertion consumer URL (HTTP-POST binding), e.g. https://ci.example.com/api/v1/login/saml/acs. */
    callbackUrl: httpUrl,
    /** Attribute holding the login name; default: the NameID. */
    usernameAttribute: text.optional(),
    emailAttribute: text.default('email'),
    nameAttribute: text.default('name'),
    groupsAttribute: text.default('groups'),
    wantAssertionsSigned: z.boolean().default(true),
    wantResponseSigned: z.boolean().default(false),
    clockSkewSeconds: z.number().int().min(0).default(60),
    /** How long a login may take at the identity provider before its answer is refused. */
    requestTtlSeconds: z.number().int().positive().default(600),
  })
  .refine((c) => c.wantAssertionsSigned || c.wantResponseSigned, {
    message: 'wantAssertionsSigned or wantResponseSigned must be true: unsigned assertions would let anyone log in as anyone',
    path: ['wantAssertionsSigned'],
  });

export const groupRoleSchema = z.union(
  [z.strictObject({ group: text, admin: z.literal(true) }), z.strictObject({ group: text, repo: text, role: z.enum(ROLES) })],
  { error: `expected { group, admin: true } or { group, repo, role } with role one of ${ROLES.join(', ')}` },
);

export const ssoConfigSchema = z.strictObject({
  oidc: oidcConfigSchema.optional(),
  ldap: ldapConfigSchema.optional(),
  saml: samlConfigSchema.optional(),
  groupRoles: z.array(groupRoleSchema).default([]),
});

export type OidcConfig = z.infer<typeof oidcConfigSchema>;
export type LdapConfig = z.infer<typeof ldapConfigSchema>;
export type SamlConfig = z.infer<typeof samlConfigSchema>;
export type GroupRole = z.infer<typeof groupRoleSchema>;
export type SsoConfig = z.infer<typeof ssoConfigSchema>;

/** Validates the sections; the error names each bad key by its path, e.g. `tandem.yml: ldap.userFilter: must contain {username}`. */
export function parseSsoConfig(value: unknown, source = 'tandem.yml'): SsoConfig {
  const result = ssoConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `${source}: ${issue.path.map(String).join('.') || '(top level)'}: ${issue.message}`);
  throw new Error(lines.join('\n'));
}

export interface GrantedRoles {
  admin: boolean;
  /** Repository name -> the highest role any of the groups grants there. */
  repoRoles: Record<string, Role>;
}

/** The roles a person's groups give: every matching entry counts, and the highest role per repository wins. */
export function rolesForGroups(groups: readonly string[], mapping: readonly GroupRole[]): GrantedRoles {
  const member = new Set(groups);
  let admin = false;
  // A Map, not an object, while collecting: a repository named `__proto__` must stay a plain key.
  const repoRoles = new Map<string, Role>();
  for (const entry of mapping) {
    if (!member.has(entry.group)) continue;
    if ('admin' in entry) {
      admin = true;
      continue;
    }
    const held = repoRoles.get(entry.repo);
    if (held === undefined || ROLES.indexOf(entry.role) > ROLES.indexOf(held)) repoRoles.set(entry.repo, entry.role);
  }
  return { admin, repoRoles: Object.fromEntries(repoRoles) };
}
