// The contracts between Tandem's parts: the agent wire protocol, the API's JSON shapes (monitoring's
// among them) and the webhook providers. Imports nothing from the server, the agent or the store.
export * from './artifacts.js';
export * from './coverage.js';
export * from './monitoring.js';
export * from './protocol.js';
export * from './test-history.js';
export * from './test-reports.js';
export * from './views.js';
export * from './webhooks.js';
export { failureReasonText } from './failure-reasons.js';
