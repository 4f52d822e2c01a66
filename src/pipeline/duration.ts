// Durations as GitLab writes them (ChronicDuration): "3600", "1h 30m", "10 minutes",
// "1 hour and 30 minutes", "2 days", "1 week". Plain numbers are seconds.

const UNITS: [RegExp, number][] = [
  [/^(?:s|secs?|seconds?)$/, 1],
  [/^(?:m|mins?|minutes?)$/, 60],
  [/^(?:h|hrs?|hours?)$/, 3600],
  [/^(?:d|days?)$/, 86400],
  [/^(?:w|wks?|weeks?)$/, 604800],
  [/^(?:mos?|months?)$/, 2592000],
  [/^(?:y|yrs?|years?)$/, 31557600],
];

/** Seconds, or null when the text is not a duration. */
export function parseDuration(input: string | number): number | null {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? Math.round(input) : null;
  const text = input.trim().toLowerCase();
  if (text === '') return null;
  if (/^\d+(?:\.\d+)?$/.test(text)) return Math.round(Number(text));
  const parts =
    text
      .replace(/,/g, ' ')
      .replace(/\band\b/g, ' ')
      .match(/\d+(?:\.\d+)?\s*[a-z]+|\S+/g) ?? [];
  let total = 0;
  for (const part of parts) {
    const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/.exec(part);
    if (!m) return null;
    const unit = UNITS.find(([re]) => re.test(m[2]));
    if (!unit) return null;
    total += Number(m[1]) * unit[1];
  }
  return Math.round(total);
}
