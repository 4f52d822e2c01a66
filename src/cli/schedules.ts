// `tandem schedule`: pipeline schedules of a repository (cron pattern, timezone, ref, variables).
import type { ScheduleJson } from '../api/index.js';
import { ApiClient, type ApiOptions } from './api-client.js';
import { colourStatus, printJson, printTable } from './output.js';
import { variablesOf } from './remote.js';

interface ScheduleOptions extends ApiOptions {
  cron?: string;
  timezone?: string;
  ref?: string;
  description?: string;
  variable?: string[];
  json?: boolean;
}

function describe(s: ScheduleJson): string {
  const state = s.active ? `next ${s.nextRunAt}` : `inactive${s.deactivatedReason ? `: ${s.deactivatedReason}` : ''}`;
  return `Schedule #${s.id} on ${s.repo} ${s.ref}: "${s.cron}" ${s.timezone}, ${state}`;
}

export async function scheduleAdd(repo: string, opts: ScheduleOptions & { cron: string; inactive?: boolean }) {
  const created = await ApiClient.fromOptions(opts).json<ScheduleJson>('POST', `/api/v1/repos/${encodeURIComponent(repo)}/schedules`, {
    cron: opts.cron,
    timezone: opts.timezone,
    // The server refuses a missing ref; the repository's default branch is what GitLab's form offers.
    ref: opts.ref ?? (await defaultBranch(opts, repo)),
    description: opts.description,
    variables: opts.variable === undefined ? undefined : variablesOf(opts.variable),
    active: opts.inactive ? false : undefined,
  });
  if (opts.json) printJson(created);
  else console.log(describe(created));
}

async function defaultBranch(opts: ApiOptions, repo: string): Promise<string> {
  const found = await ApiClient.fromOptions(opts).json<{ defaultBranch: string }>('GET', `/api/v1/repos/${encodeURIComponent(repo)}`);
  return found.defaultBranch;
}

export async function scheduleList(repo: string, opts: ApiOptions & { json?: boolean }) {
  const schedules = await ApiClient.fromOptions(opts).json<ScheduleJson[]>('GET', `/api/v1/repos/${encodeURIComponent(repo)}/schedules`);
  if (opts.json) return printJson(schedules);
  printTable(
    schedules.map((s) => ({
      ...s,
      active: s.active ? 'yes' : 'no',
      next: s.active ? s.nextRunAt : (s.deactivatedReason ?? '-'),
      last: s.lastPipeline ? `#${s.lastPipeline.id} ${colourStatus(s.lastPipeline.status)}` : (s.lastError ?? '-'),
    })),
    ['id', 'description', 'cron', 'timezone', 'ref', 'active', 'owner', 'next', 'last'],
  );
}

export async function scheduleEdit(id: string, opts: ScheduleOptions & { active?: boolean; inactive?: boolean; takeOwnership?: boolean }) {
  const updated = await ApiClient.fromOptions(opts).json<ScheduleJson>('PATCH', `/api/v1/schedules/${Number(id)}`, {
    cron: opts.cron,
    timezone: opts.timezone,
    ref: opts.ref,
    description: opts.description,
    variables: opts.variable === undefined ? undefined : variablesOf(opts.variable),
    active: opts.active ? true : opts.inactive ? false : undefined,
    takeOwnership: opts.takeOwnership,
  });
  if (opts.json) printJson(updated);
  else console.log(describe(updated));
}

export async function scheduleRemove(id: string, opts: ApiOptions) {
  await ApiClient.fromOptions(opts).json('DELETE', `/api/v1/schedules/${Number(id)}`);
  console.log(`Removed schedule #${Number(id)}`);
}

export async function scheduleRun(id: string, opts: ApiOptions & { json?: boolean }) {
  const started = await ApiClient.fromOptions(opts).json<{ id: number; status: string }>('POST', `/api/v1/schedules/${Number(id)}/run`);
  if (opts.json) printJson(started);
  else console.log(`Pipeline #${started.id} created`);
}
