export { claimDueMessages, enqueueMessages, GIVE_UP_AFTER_MS, markAttemptFailed, markSent, outboxSummary, pruneOutbox } from './outbox.js';
export type { OutboxDelivery, OutboxMessage, OutboxSummary } from './outbox.js';
export { DeliveryDeferred, DeliveryRefused, OutboxSender } from './sender.js';
export type { DeliveryObserver, OutboxHandler, OutboxSenderOptions } from './sender.js';
export { recordPipelineEvents } from './writers.js';
export type { OutboxWriter } from './writers.js';
