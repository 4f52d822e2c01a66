// Prometheus metrics of one process. Names follow Prometheus conventions (tandem_ prefix, _total,
// _seconds) because outside dashboards and the monitoring work depend on them.
import type { CompiledQuery, LogEvent } from 'kysely';
import type { Histogram } from 'prom-client';
import { lazyRequire } from '../lazy-require.js';
import type { StoreObserver } from '../store/index.js';
import { failureCause } from './failure-cause.js';

// Loaded when a server first builds its metrics: commands that have none (`tandem exec`, a client) skip it.
const promClient = lazyRequire<typeof import('prom-client')>('prom-client');

/** Agents of the whole cluster, counted from the database at each scrape. */
export interface AgentCounts {
  online: number;
  busy: number;
}

/** What the disaster recovery work knows: the newest good backup's age, and whether the last drill failed (null: unknown). */
export interface DrSignals {
  backupAgeSeconds: number | null;
  drillFailed: boolean | null;
}

/** A scrape must not wait for a database that is failing over: the gauge keeps its last values. */
const SCRAPE_QUERY_TIMEOUT_MS = 1000;

const STATEMENT_KINDS: Record<string, string> = {
  SelectQueryNode: 'select',
  InsertQueryNode: 'insert',
  UpdateQueryNode: 'update',
  DeleteQueryNode: 'delete',
  MergeQueryNode: 'merge',
};
const RAW_OPERATIONS = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'with',
  'begin',
  'commit',
  'rollback',
  'savepoint',
  'release',
  'pragma',
]);

/** A statement's operation as a label value from a small set (never the SQL text). */
function operationOf(query: CompiledQuery): string {
  const kind = query.query.kind;
  const known = STATEMENT_KINDS[kind];
  if (known) return known;
  if (kind !== 'RawNode') return 'ddl';
  const word = /^\s*([a-z]+)/i.exec(query.sql)?.[1]?.toLowerCase() ?? '';
  // PostgreSQL's transactions open with START TRANSACTION (src/store/postgres.ts).
  if (word === 'start') return 'begin';
  return RAW_OPERATIONS.has(word) ? word : 'other';
}

const SQLITE_CONFLICT = /^SQLITE_(BUSY|LOCKED)/;
const PG_CONNECTION = /^(08|57P|25006)/;

/** connection (the database is unreachable, restarting or read-only), conflict (busy, serialization, deadlock), constraint, or other. */
function errorKind(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (SQLITE_CONFLICT.test(code) || code === '40001' || code === '40P01') return 'conflict';
  if (code.startsWith('SQLITE_CONSTRAINT') || /^23/.test(code)) return 'constraint';
  if (PG_CONNECTION.test(code) || /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH)$/.test(code)) return 'connection';
  if (typeof e?.message === 'string' && /Connection terminated|not queryable|connection timeout/i.test(e.message)) return 'connection';
  return 'other';
}

export class Metrics {
  readonly registry = new (promClient().Registry)();

  readonly httpRequests = new (promClient().Counter)({
    name: 'tandem_http_requests_total',
    help: 'HTTP requests by route pattern, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new (promClient().Histogram)({
    name: 'tandem_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly refusedLoad = new (promClient().Counter)({
    name: 'tandem_http_refused_total',
    help: 'Connections and event streams refused by the load limits, by reason (connections_per_address, connections_total, streams_per_principal, streams_total)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly outboxDeliveries = new (promClient().Counter)({
    name: 'tandem_outbox_deliveries_total',
    help: 'Outbox delivery attempts by topic (forge_status, notification) and result (sent, unchanged, retry, deferred, failed)',
    labelNames: ['topic', 'result'] as const,
    registers: [this.registry],
  });
  readonly forgeStatusDeliveries = new (promClient().Counter)({
    name: 'tandem_forge_status_deliveries_total',
    help: 'Commit status deliveries to forges by forge (github, gitlab, gitea, bitbucket) and result (sent, unchanged, already_set, rate_limited, retry, refused, no_forge)',
    labelNames: ['forge', 'result'] as const,
    registers: [this.registry],
  });
  readonly pipelines = new (promClient().Counter)({
    name: 'tandem_pipelines_total',
    help: 'Pipelines that reached a final status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly jobs = new (promClient().Counter)({
    name: 'tandem_jobs_total',
    help: 'Jobs that reached a final status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly queueWait = new (promClient().Histogram)({
    name: 'tandem_job_queue_wait_seconds',
    help: 'Time from a job becoming pending to an agent claiming it (pickup latency)',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly claimAttempts = new (promClient().Counter)({
    name: 'tandem_job_claim_attempts_total',
    help: "Claims this replica made for its agents, by result (claimed: one per job; empty: a claim, for one agent or a batch of them, that found nothing the agents may run); claimed ÷ all is the dispatch's efficiency",
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  #countWaiting: (() => number) | null = null;
  readonly agentRequestsWaiting = new (promClient().Gauge)({
    name: 'tandem_agent_requests_waiting',
    help: "Agents' job requests (long-polls) waiting on this replica for work; sum over replicas for the fleet",
    registers: [this.registry],
    collect: () => {
      if (this.#countWaiting) this.agentRequestsWaiting.set(this.#countWaiting());
    },
  });
  readonly jobDuration = new (promClient().Histogram)({
    name: 'tandem_job_duration_seconds',
    help: 'Job run time from claim to completion',
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600],
    registers: [this.registry],
  });
  #countAgents: (() => Promise<AgentCounts>) | null = null;
  readonly agents = new (promClient().Gauge)({
    name: 'tandem_agents',
    help: 'Agents of the cluster by state (online: heard from within a lease period and connected; busy: online and running a job); every replica reports them all, so aggregate with max',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: () => this.#collectAgents(),
  });
  readonly webhooks = new (promClient().Counter)({
    name: 'tandem_webhooks_total',
    help: 'Webhook deliveries by provider and result (accepted, duplicate, ignored, rejected)',
    labelNames: ['provider', 'result'] as const,
    registers: [this.registry],
  });
  readonly webhookRejects = new (promClient().Counter)({
    name: 'tandem_webhook_rejects_total',
    help: 'Webhook deliveries refused, by provider and reason (signature, payload, unknown_repo)',
    labelNames: ['provider', 'reason'] as const,
    registers: [this.registry],
  });
  readonly webhookToPipeline = new (promClient().Histogram)({
    name: 'tandem_webhook_to_pipeline_seconds',
    help: 'From a webhook delivery arriving to its pipeline being created (fetch, pipeline file, jobs queued)',
    labelNames: ['provider'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly pipelineFailures = new (promClient().Counter)({
    name: 'tandem_pipeline_failures_total',
    help: "Failed pipelines by cause (system: Tandem or its agents; user: the pipeline's scripts, file or deploy targets) and the failing job's reason",
    labelNames: ['cause', 'reason'] as const,
    registers: [this.registry],
  });
  readonly dbQueryDuration = new (promClient().Histogram)({
    name: 'tandem_db_query_duration_seconds',
    help: 'Database statement latency by operation (select, insert, update, delete, begin, commit, ...), failed ones included',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  readonly dbErrors = new (promClient().Counter)({
    name: 'tandem_db_errors_total',
    help: 'Failed database statements and connections by operation and kind (connection, conflict, constraint, other); constraint errors include deliberate duplicate checks',
    labelNames: ['operation', 'kind'] as const,
    registers: [this.registry],
  });
  readonly leaseExpiries = new (promClient().Counter)({
    name: 'tandem_lease_expiries_total',
    help: 'Job leases that expired because their agent stopped heartbeating',
    registers: [this.registry],
  });
  readonly requeues = new (promClient().Counter)({
    name: 'tandem_job_requeues_total',
    help: 'Jobs queued again as a new attempt after their agent was lost',
    registers: [this.registry],
  });
  readonly deployments = new (promClient().Counter)({
    name: 'tandem_deployments_total',
    help: 'Deployments that ended, by environment and result (live, failed, rolled_back)',
    labelNames: ['environment', 'result'] as const,
    registers: [this.registry],
  });
  readonly rollbacks = new (promClient().Counter)({
    name: 'tandem_rollbacks_total',
    help: 'Rollbacks that put an earlier release live again: automatic ones and those asked for',
    labelNames: ['environment'] as const,
    registers: [this.registry],
  });
  readonly scheduleRuns = new (promClient().Counter)({
    name: 'tandem_schedule_runs_total',
    help: 'Due times of pipeline schedules handled by this replica as leader, by result (started, skipped, failed, deactivated, lost: claimed by another replica)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly leader = new (promClient().Gauge)({
    name: 'tandem_leader',
    help: '1 on the replica that runs singleton duties',
    registers: [this.registry],
  });
  readonly artifactStoreErrors = new (promClient().Counter)({
    name: 'tandem_artifact_store_errors_total',
    help: 'Artifact store operations that failed in the store itself (I/O, unreachable, corrupt bytes; not a missing blob or a bad upload), by store (primary, replica) and operation',
    labelNames: ['store', 'operation'] as const,
    registers: [this.registry],
  });
  readonly dbHostChanges = new (promClient().Counter)({
    name: 'tandem_db_host_changes_total',
    help: 'Times the writable PostgreSQL host changed (a failover or switchover seen by this replica)',
    registers: [this.registry],
  });
  #readDr: (() => Promise<DrSignals>) | null = null;

  /** Histogram children by operation: resolving labels on every statement would cost more than the observation. */
  readonly #dbTimers = new Map<string, Histogram.Internal<'operation'>>();

  /** For the store: statement latency and failures. */
  readonly storeObserver: StoreObserver = {
    log: (event: LogEvent) => {
      const operation = operationOf(event.query);
      let timer = this.#dbTimers.get(operation);
      if (!timer) {
        timer = this.dbQueryDuration.labels(operation);
        this.#dbTimers.set(operation, timer);
      }
      timer.observe(event.queryDurationMillis / 1000);
      if (event.level === 'error') this.dbErrors.inc({ operation, kind: errorKind(event.error) });
    },
    connectFailed: (err: unknown) => this.dbErrors.inc({ operation: 'connect', kind: errorKind(err) }),
    hostChanged: () => this.dbHostChanges.inc(),
  };

  constructor() {
    promClient().collectDefaultMetrics({ register: this.registry, prefix: 'tandem_process_' });
  }

  /** Where `tandem_agent_requests_waiting` comes from at each scrape. */
  countWaitingWith(count: () => number): void {
    this.#countWaiting = count;
  }

  /** Where `tandem_agents` comes from at each scrape. */
  countAgentsWith(count: () => Promise<AgentCounts>): void {
    this.#countAgents = count;
  }

  async #collectAgents(): Promise<void> {
    if (!this.#countAgents) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      const counts = await Promise.race([
        this.#countAgents(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error('agent count timed out')), SCRAPE_QUERY_TIMEOUT_MS);
        }),
      ]);
      this.agents.set({ state: 'online' }, counts.online);
      this.agents.set({ state: 'busy' }, counts.busy);
    } catch {
      // The last values stay: a scrape during a database outage must still deliver the other
      // metrics, and the failed query is counted in tandem_db_errors_total already.
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Where the alerting duty reads the backup age and the last drill's result (src/dr keeps them in
   * its records and exports their gauges); until set, both are unknown and their alerts quiet.
   */
  drSignalsFrom(read: () => Promise<DrSignals>): void {
    this.#readDr = read;
  }

  /** The backup age and drill result, as the backup work reports them (nulls before it does). */
  async readDrSignals(): Promise<DrSignals> {
    return this.#readDr ? this.#readDr() : { backupAgeSeconds: null, drillFailed: null };
  }

  /** Counts a failed pipeline by whose fault it was. */
  countPipelineFailure(reason: string | null | undefined): void {
    this.pipelineFailures.inc(failureCause(reason));
  }
}
