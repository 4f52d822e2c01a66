// When a schedule is due: a cron pattern read by croner in an IANA timezone. 5 fields (minute
// precision, as GitLab's schedules) or 6 (seconds first). Refusals name the field that is wrong.
import { Cron } from 'croner';
import { DomainError } from '../errors.js';

/** Refuses a name the platform's time zone database does not know (Intl is what croner converts with). */
function checkTimezone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw new DomainError('invalid', `timezone: "${timezone}" is not an IANA time zone name (such as UTC or Europe/Berlin)`);
  }
}

function cronOf(cron: string, timezone: string): Cron {
  checkTimezone(timezone);
  try {
    return new Cron(cron, { paused: true, timezone, mode: '5-or-6-parts' });
  } catch (err) {
    throw new DomainError('invalid', `cron: "${cron}": ${(err as Error).message.replace(/^CronPattern: /, '')}`);
  }
}

/** The first due time strictly after `after` (epoch ms); refuses a pattern or timezone that is wrong, or that never comes. */
export function nextRunAfter(cron: string, timezone: string, after: number): number {
  const next = cronOf(cron, timezone).nextRun(new Date(after));
  if (!next) throw new DomainError('invalid', `cron: "${cron}" has no time after ${new Date(after).toISOString()}`);
  return next.getTime();
}
