// The public surface of src/auth: other folders import these names from here.
export { actorOf, queryAudit, recordAudit } from './audit.js';
export { readAuditDetails, readAuditParams } from './columns.js';
export {
  DEFAULT_DEVICE_TOKEN_LIFETIME_MS,
  DeviceLoginError,
  decideDeviceLogin,
  deleteExpiredDeviceLogins,
  findDeviceLogin,
  formatUserCode,
  normalizeUserCode,
  pollDeviceLogin,
  startDeviceLogin,
  whyUndecidable,
} from './device-login.js';
export type { DeviceLogin, PollRefusal } from './device-login.js';
export { mintIdTokens } from './id-tokens.js';
export { LoginError, limitedSignIn, localPasswordSignIn, passwordLogin, pruneLoginFailures } from './login.js';
export type { LoginPolicy } from './login.js';
export { MAX_PASSWORD_LENGTH } from './passwords.js';
export { ROLES, SCOPES, decide, repoPermissionsOf, roleAtLeast, routePermission, ruleOf } from './permissions.js';
export type { Permission, Role, RoutePermission, Rule } from './permissions.js';
export { ANONYMOUS, CredentialError, callerOf, principalOfSession, principalOfToken } from './principal.js';
export type { Principal, UserPrincipal } from './principal.js';
export {
  listMembers,
  listProtectedBranches,
  memberRepoIds,
  pipelineProtectedRole,
  protectBranches,
  protectedRefRole,
  protectedRoleOfPipeline,
  removeMember,
  repoNames,
  repoStanding,
  roleIn,
  setMember,
  setUpNewRepo,
  unprotectBranches,
} from './repo-access.js';
export {
  ENCRYPTED_COLUMNS,
  FORGE_APP_KEY,
  FORGE_TOKEN,
  REGISTRY_PASSWORD,
  Keyring,
  SCHEDULE_VARIABLES,
  SIGNING_ALG,
  SSH_KEY,
  TokenSigner,
  URL_CREDENTIALS,
  NOTIFICATION_SECRET,
  VARIABLE_VALUE,
  WEBHOOK_SECRET,
  configuredMasterKey,
  masterKeyId,
  openSecrets,
  readMasterKeyFile,
  rewrapDataKeys,
} from './secrets/index.js';
export type { EncryptedColumn, MasterKey, Secrets } from './secrets/index.js';
export {
  CSRF_HEADER,
  SESSION_COOKIE,
  createSession,
  csrfMatches,
  csrfTokenFor,
  deleteExpiredSessions,
  deleteSession,
  deleteSessionsOf,
} from './sessions.js';
export type { SessionLimits } from './sessions.js';
export { ldapConfigSchema, oidcConfigSchema, samlConfigSchema } from './sso/config.js';
export { ldapLogin } from './sso/ldap.js';
export { discoverOidc } from './sso/oidc.js';
export type { OidcClient } from './sso/oidc.js';
export { DatabaseSamlRequests, refuseOverOidcLimit, saveOidcLogin, takeOidcLogin } from './sso/pending.js';
export { recheckDirectoryAccount } from './sso/recheck.js';
export { samlFinishLogin, samlLoginUrl } from './sso/saml.js';
export { SsoError } from './sso/types.js';
export type { ExternalIdentity, SsoFailure, SsoProvider } from './sso/types.js';
export { createPersonalToken, generateToken, hashToken, listTokens, prefixOf, revokePersonalToken } from './tokens.js';
export {
  USERNAME_PATTERN,
  USERNAME_RULE,
  createUser,
  deleteUser,
  disabledAtProvider,
  ensureBootstrapAdmin,
  findOrCreateExternalUser,
  findUser,
  hasExternalIdentity,
  listUsers,
  setAdmin,
  setPassword,
} from './users.js';
