export { claimDueMessages, enqueueMessages, GIVE_UP_AFTER_MS, markAttemptFailed, markSent, outboxSummary, pruneOutbox } from './outbox.js';
export type { OutboxDelivery, OutboxMessage, OutboxSummary } from './outbox.js';
export { DeliveryDeferred, DeliveryRefused, OutboxSender } from './sender.js';
export type { DeliveryObserver, OutboxHandler, OutboxSenderOptions } from './sender.js';
export { recordPipelineEvents } from './writers.js';
export type { OutboxWriter } from './writers.js';
export { FORGE_STATUS_TOPIC, forgeStatusHandler, forgetForgeRepo, forgeStatusMessages } from './forge-statuses.js';
export type { ForgeStatusHandlerDeps } from './forge-statuses.js';
