// The forges whose webhooks Tandem takes: src/source parses their deliveries, the server serves one
// URL per provider, and the repository view lists those URLs. Here, not in src/source, because the
// web UI shares this module and must not bundle the parsers.
export const WEBHOOK_PROVIDERS = ['github', 'gitlab', 'gitea', 'bitbucket'] as const;
export type WebhookProvider = (typeof WEBHOOK_PROVIDERS)[number];

export function isWebhookProvider(value: string): value is WebhookProvider {
  return (WEBHOOK_PROVIDERS as readonly string[]).includes(value);
}
