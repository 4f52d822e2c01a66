// Commands for alerting: alerts list (what fires), alerts rules (Prometheus rules of Tandem's own
// alerts), silence add|list|rm, freeze list (deploy freezes of the error budget policy).
import { loadConfig } from '../config/index.js';
import { selfRuleFile } from '../monitor/index.js';
import type { AlertView, FreezeView, SilenceView } from '../api/index.js';
import { ApiClient, CliError, type ApiOptions } from './api-client.js';
import { printJson, printTable } from './output.js';

type Listing = ApiOptions & { json?: boolean };

export async function alertRules(opts: { config?: string; job: string }) {
  const config = loadConfig({ config: opts.config });
  process.stdout.write(selfRuleFile(config.alerting, opts.job));
}

/** The labels that tell alerts of one name apart. */
const about = (labels: Record<string, string>) =>
  Object.entries(labels)
    .filter(([k]) => k !== 'alertname' && k !== 'severity')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

export async function alertList(opts: Listing & { state?: string }) {
  const query = opts.state ? `?state=${encodeURIComponent(opts.state)}` : '';
  const alerts = await ApiClient.fromOptions(opts).json<AlertView[]>('GET', `/api/v1/alerts${query}`);
  if (opts.json) return printJson(alerts);
  printTable(
    alerts.map((a) => ({
      id: a.id,
      state: a.state + (a.silencedBy !== null && a.state !== 'resolved' ? ` (silenced by #${a.silencedBy})` : ''),
      severity: a.severity,
      alert: a.name,
      labels: about(a.labels),
      since: a.state === 'resolved' ? a.resolvedAt : (a.firedAt ?? a.activeAt),
      summary: a.annotations.summary ?? '',
    })),
    ['id', 'state', 'severity', 'alert', 'labels', 'since', 'summary'],
  );
}

export async function silenceAdd(
  matchers: string[],
  opts: ApiOptions & { json?: boolean; duration?: string; startsAt?: string; endsAt?: string; comment: string; createdBy?: string },
) {
  if ((opts.duration === undefined) === (opts.endsAt === undefined))
    throw new CliError('give --duration (e.g. 2h) or --ends-at (an ISO time), one of them');
  const silence = await ApiClient.fromOptions(opts).json<SilenceView>('POST', '/api/v1/silences', {
    matchers,
    comment: opts.comment,
    ...(opts.duration !== undefined ? { duration: opts.duration } : {}),
    ...(opts.endsAt !== undefined ? { endsAt: opts.endsAt } : {}),
    ...(opts.startsAt !== undefined ? { startsAt: opts.startsAt } : {}),
    ...(opts.createdBy !== undefined ? { createdBy: opts.createdBy } : {}),
  });
  if (opts.json) return printJson(silence);
  console.log(`Silence #${silence.id} (${silence.match.join(', ')}) ${silence.state} until ${silence.endsAt}`);
}

export async function silenceList(opts: Listing & { all?: boolean }) {
  const silences = await ApiClient.fromOptions(opts).json<SilenceView[]>('GET', `/api/v1/silences${opts.all ? '?all=1' : ''}`);
  if (opts.json) return printJson(silences);
  printTable(
    silences.map((s) => ({
      id: s.id,
      state: s.state,
      matchers: s.match.join(' '),
      startsAt: s.startsAt,
      endsAt: s.endsAt,
      createdBy: s.createdBy,
      comment: s.comment,
    })),
    ['id', 'state', 'matchers', 'startsAt', 'endsAt', 'createdBy', 'comment'],
  );
}

export async function silenceRemove(id: string, opts: Listing) {
  const silence = await ApiClient.fromOptions(opts).json<SilenceView>('DELETE', `/api/v1/silences/${encodeURIComponent(id)}`);
  if (opts.json) return printJson(silence);
  console.log(`Silence #${silence.id} expired at ${silence.endsAt}`);
}

export async function freezeList(opts: Listing & { all?: boolean; repo?: string }) {
  const params = new URLSearchParams({ ...(opts.all ? { all: '1' } : {}), ...(opts.repo ? { repo: opts.repo } : {}) });
  const freezes = await ApiClient.fromOptions(opts).json<FreezeView[]>('GET', `/api/v1/freezes${params.size > 0 ? `?${params}` : ''}`);
  if (opts.json) return printJson(freezes);
  printTable(
    freezes.map((f) => ({
      environment: `${f.repo}/${f.environment}`,
      slo: f.slo,
      since: f.startedAt,
      lifted: f.liftedAt,
      overrides: f.overrides.length > 0 ? f.overrides.map((o) => `job ${o.jobId} by ${o.actor}`).join('; ') : null,
    })),
    ['environment', 'slo', 'since', 'lifted', 'overrides'],
  );
}
