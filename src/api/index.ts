// The contracts between Tandem's parts: the agent wire protocol, the API's JSON shapes and the
// webhook providers. Imports nothing from the server, the agent or the store.
export * from './protocol.js';
export * from './views.js';
export * from './webhooks.js';
