// Prometheus metrics of one process. Names follow Prometheus conventions (tandem_ prefix, _total,
// _seconds) because outside dashboards and the monitoring work depend on them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'tandem_http_requests_total',
    help: 'HTTP requests by route pattern, method and status code',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'tandem_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly pipelines = new Counter({
    name: 'tandem_pipelines_total',
    help: 'Pipelines that reached a final status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly jobs = new Counter({
    name: 'tandem_jobs_total',
    help: 'Jobs that reached a final status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'tandem_job_queue_wait_seconds',
    help: 'Time from a job becoming pending to an agent claiming it (pickup latency)',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'tandem_job_duration_seconds',
    help: 'Job run time from claim to completion',
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600],
    registers: [this.registry],
  });
  readonly agents = new Gauge({
    name: 'tandem_agents',
    help: 'Agents by state (online: seen within a lease period; busy: running a job)',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly webhooks = new Counter({
    name: 'tandem_webhooks_total',
    help: 'Webhook deliveries by provider and result (accepted, duplicate, ignored, rejected)',
    labelNames: ['provider', 'result'] as const,
    registers: [this.registry],
  });
  readonly leaseExpiries = new Counter({
    name: 'tandem_lease_expiries_total',
    help: 'Job leases that expired because their agent stopped heartbeating',
    registers: [this.registry],
  });
  readonly requeues = new Counter({
    name: 'tandem_job_requeues_total',
    help: 'Jobs queued again as a new attempt after their agent was lost',
    registers: [this.registry],
  });
  readonly deployments = new Counter({
    name: 'tandem_deployments_total',
    help: 'Deployments that ended, by environment and result (live, failed, rolled_back)',
    labelNames: ['environment', 'result'] as const,
    registers: [this.registry],
  });
  readonly rollbacks = new Counter({
    name: 'tandem_rollbacks_total',
    help: 'Rollbacks that put an earlier release live again: automatic ones and those asked for',
    labelNames: ['environment'] as const,
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'tandem_leader',
    help: '1 on the replica that runs singleton duties',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tandem_process_' });
  }
}
