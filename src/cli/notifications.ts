// Commands for pipeline notifications: notification add|list|rm, for a repository (its maintainers)
// or for yourself (--mine: every repository you can read, or the one named).
import type { NotificationJson } from '../api/index.js';
import { ApiClient, CliError, type ApiOptions } from './api-client.js';
import { printJson, printTable } from './output.js';
import { readSecretFile } from './prompt.js';

type Listing = ApiOptions & { json?: boolean; mine?: boolean };

export interface AddOptions extends ApiOptions {
  type?: string;
  target?: string;
  events: string;
  secretFile?: string;
  mine?: boolean;
  json?: boolean;
}

export async function notificationAdd(repo: string | undefined, opts: AddOptions) {
  if (repo === undefined && !opts.mine) throw new CliError('name a repository, or give --mine for your own notifications');
  const events = opts.events
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  // A file keeps the secret out of the shell's history and the process list.
  const secret = opts.secretFile ? (await readSecretFile(opts.secretFile, '--secret-file')).trim() : undefined;
  const body = { type: opts.type, target: opts.target, events, ...(secret ? { secret } : {}) };
  const client = ApiClient.fromOptions(opts);
  const created = opts.mine
    ? await client.json<{ id: number }>('POST', '/api/v1/user/notifications', { ...body, ...(repo ? { repo } : {}) })
    : await client.json<{ id: number }>('POST', `/api/v1/repos/${encodeURIComponent(repo!)}/notifications`, body);
  if (opts.json) return printJson(created);
  console.log(
    `Notification #${created.id}: ${events.join(', ')} of ${repo ?? 'your repositories'} to ${opts.target ?? 'your email address'}`,
  );
}

export async function notificationList(repo: string | undefined, opts: Listing) {
  if (repo === undefined && !opts.mine) throw new CliError('name a repository, or give --mine for your own notifications');
  const path = opts.mine ? '/api/v1/user/notifications' : `/api/v1/repos/${encodeURIComponent(repo!)}/notifications`;
  let rows = await ApiClient.fromOptions(opts).json<NotificationJson[]>('GET', path);
  if (opts.mine && repo !== undefined) rows = rows.filter((r) => r.repo === repo);
  if (opts.json) return printJson(rows);
  printTable(
    rows.map((n) => ({
      ...n,
      repo: n.repo ?? '(all readable)',
      events: n.events.join(','),
      signed: n.signed ? 'yes' : '',
      active: n.active ? 'yes' : 'no',
      last: n.lastDelivery ? `${n.lastDelivery.status} ${n.lastDelivery.at}` : '',
    })),
    ['id', 'repo', 'type', 'target', 'events', 'signed', 'active', 'last', 'createdBy'],
  );
}

export async function notificationRemove(id: string, opts: ApiOptions) {
  await ApiClient.fromOptions(opts).json('DELETE', `/api/v1/notifications/${encodeURIComponent(id)}`);
  console.log(`Removed notification #${id}`);
}
