import type { Logger } from 'pino';
import type { OutboxSender } from '../outbox/index.js';
import type { Secrets } from '../auth/index.js';
import type { BlobStore } from '../artifacts/index.js';
import type { TandemConfig } from '../config/index.js';
import type { Metrics } from '../monitor/index.js';
import type { SliRecorder } from '../monitor/index.js';
import type { IncludeResolver, MirrorCache } from '../source/index.js';
import type { Store } from '../store/index.js';
import type { DatabaseClock } from './clock.js';
import type { AgentDirectory } from './agent-directory.js';
import type { Dispatcher } from './dispatcher.js';
import type { Hub } from './hub.js';
import type { EventStreamLimits } from './sse.js';

/** Everything a request handler or a background duty needs; one per server process. */
export interface ServerContext {
  config: TandemConfig;
  store: Store;
  blobs: BlobStore;
  mirrors: MirrorCache;
  hub: Hub;
  /** Hands queued jobs to the agents waiting on this replica. */
  dispatcher: Dispatcher;
  /** This replica's copy of the agents' tokens and tags, so that an agent's renewed long-poll reads nothing. */
  agents: AgentDirectory;
  /** The live event streams (logs, pipeline events) open on this replica, capped per principal and in total. */
  eventStreams: EventStreamLimits;
  /** The database's clock: use it for every time that is stored or compared with stored times. */
  clock: DatabaseClock;
  metrics: Metrics;
  /** Writes this replica's counts of the built-in SLIs to the database (evaluated without Prometheus). */
  sli: SliRecorder;
  log: Logger;
  /** The URL agents and users reach this server by (CI_SERVER_URL). */
  externalUrl: string;
  /** Identifies this replica in leases and logs. */
  replicaId: string;
  /** Set on SIGTERM: /readyz fails and agents get no new work. */
  state: { draining: boolean };
  version: string;
  /** Encryption of secrets at rest and the keys that sign tokens Tandem issues. */
  secrets: Secrets;
  /** The worker module that compiles pipeline files off the event loop, with src/deploy's deploy-block check. */
  compileWorker: URL;
  /** Files that pipelines include from other repositories, the forge and the web, cached. */
  includes: IncludeResolver;
  /** Sends forge statuses and notifications the scheduler's transactions wrote (src/outbox). */
  outbox: OutboxSender;
}
