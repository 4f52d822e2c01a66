export class DurationError extends Error {
  constructor(
    readonly text: string,
    reason: string,
  ) {
    super(`invalid duration ${JSON.stringify(text)}: ${reason}`);
    this.name = 'DurationError';
  }
}

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
// Same month and year lengths as GitLab's ChronicDuration, so `expire_in` values mean the same there and here.
const UNITS: Record<string, number> = {
  s: 1, sec: 1, secs: 1, second: 1, seconds: 1,
  m: MINUTE, min: MINUTE, mins: MINUTE, minute: MINUTE, minutes: MINUTE,
  h: HOUR, hr: HOUR, hrs: HOUR, hour: HOUR, hours: HOUR,
  d: DAY, day: DAY, days: DAY,
  w: 7 * DAY, wk: 7 * DAY, wks: 7 * DAY, week: 7 * DAY, weeks: 7 * DAY,
  mo: 30 * DAY, mos: 30 * DAY, month: 30 * DAY, months: 30 * DAY,
  y: 365.25 * DAY, yr: 365.25 * DAY, yrs: 365.25 * DAY, year: 365.25 * DAY, years: 365.25 * DAY,
};

const PART = /\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*(?:(?:,|\band\b)\s*)?/y;

/**
 * Parses a GitLab `expire_in` style duration ("30 days", "1 week", "2 hrs 20 min", "2h20min", "3600")
 * into whole seconds; "never" gives null. A bare number (or numeric string) is seconds.
 */
export function parseDuration(input: string | number): number | null {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new DurationError(String(input), 'must be a non-negative number of seconds');
    return Math.round(input);
  }
  const text = input.trim().toLowerCase();
  if (text === 'never') return null;
  if (/^\d+$/.test(text)) return Number(text);
  if (text === '') throw new DurationError(input, 'empty; use e.g. "30 days", "2 hrs 20 min", "never" or seconds');
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (!m) {
      throw new DurationError(input, `cannot read "${text.slice(at)}"; use e.g. "30 days", "2 hrs 20 min", "never" or seconds`);
    }
    const unit = Object.hasOwn(UNITS, m[2]) ? UNITS[m[2]] : undefined;
    if (unit === undefined) throw new DurationError(input, `unknown unit "${m[2]}"`);
    total += Number(m[1]) * unit;
  }
  return Math.round(total);
}
