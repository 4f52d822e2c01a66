export {
  credentialSecrets,
  isSshKey,
  knownHostName,
  lsRemote,
  MirrorCache,
  normalizeRepoUrl,
  redactUrl,
  redactUrls,
  repoUrlTarget,
  SourceError,
  splitUrlCredentials,
  sshHostOf,
} from './git.js';
export { describeKnownHosts, parseDeployKey, parseKnownHosts, publicKeyFingerprint } from './ssh-key.js';
export type { KnownHostKey, SshDeployKey } from './ssh-key.js';
export type { GitCredentials, SshKeyCredentials, UrlCredentials } from '../api/index.js';
export type { MirrorCacheOptions, RepoUrlTarget } from './git.js';
export { parseWebhook, refMatchesFilters, WebhookError } from './webhooks.js';
export type { RefFilters, WebhookHeaders, WebhookResult } from './webhooks.js';
export { diffRefs } from './poller.js';
export { isZeroSha, ZERO_SHA } from './types.js';
export type { ForgeProject, MergeRequestAction, MergeRequestInfo, PushEvent, PushKind } from './types.js';
export { forgeCredentials, IncludeResolver } from './includes.js';
export type { ForgeSettings, IncludeResolverOptions, PipelineIncludes, RegisteredProject } from './includes.js';
export * from './forges/index.js';
