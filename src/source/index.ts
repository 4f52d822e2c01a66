export { lsRemote, MirrorCache, normalizeRepoUrl, redactUrl, redactUrls, repoUrlTarget, SourceError, splitUrlCredentials } from './git.js';
export type { UrlCredentials } from '../api/index.js';
export type { MirrorCacheOptions, RepoUrlTarget } from './git.js';
export { parseWebhook, refMatchesFilters, WebhookError } from './webhooks.js';
export type { RefFilters, WebhookHeaders, WebhookResult } from './webhooks.js';
export { diffRefs } from './poller.js';
export { isZeroSha, ZERO_SHA } from './types.js';
export type { ForgeProject, MergeRequestAction, MergeRequestInfo, PushEvent, PushKind } from './types.js';
