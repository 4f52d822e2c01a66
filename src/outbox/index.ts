// The public surface of src/outbox: other folders import these names from here.
export { createNotificationHandler, failingLogLine, notificationMessages } from './notifications.js';
export type { NotificationHandlerDeps, NotificationPayload } from './notifications.js';
export {
  createSubscription,
  deleteSubscription,
  emailRecipients,
  findSubscription,
  listSubscriptions,
  readSubscriptionEvents,
} from './subscriptions.js';
export type { NewSubscription, NotificationSubscription, SubscriptionListing } from './subscriptions.js';
export { DeliveryDeferred, DeliveryRefused } from './interface.js';
export type { OutboxDelivery, OutboxHandler, OutboxMessage, OutboxWriter } from './interface.js';
