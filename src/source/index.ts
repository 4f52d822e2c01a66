export { lsRemote, MirrorCache, normalizeRepoUrl, redactUrl, redactUrls, repoUrlTarget, SourceError, splitUrlCredentials } from './git.js';
export type { MirrorCacheOptions, RepoUrlTarget, UrlCredentials } from './git.js';
export { isWebhookProvider, parseWebhook, refMatchesFilters, WEBHOOK_PROVIDERS, WebhookError } from './webhooks.js';
export type { RefFilters, WebhookHeaders, WebhookProvider, WebhookResult } from './webhooks.js';
export { diffRefs } from './poller.js';
export { isZeroSha, ZERO_SHA } from './types.js';
export type { ForgeProject, MergeRequestAction, MergeRequestInfo, PushEvent, PushKind } from './types.js';
