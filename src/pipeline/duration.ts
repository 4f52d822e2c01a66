// Durations as GitLab reads them (`expire_in`, `timeout`, `start_in`): GitLab parses them with
// ChronicDuration, whose rules this follows so that a file GitLab accepts is accepted here:
// - number words first ("one week", "twenty-one days"), as its cleanup runs Numerizer;
// - colon form "1:30:00" (h:m:s; "4:13" is 4 min 13 s), units from the right skipping weeks;
// - a number takes the unit word after it, seconds when it ends the text ("3600");
// - a leading unit word means one of it ("day", "hour 30 min");
// - "and", "with", "plus" and commas join parts; any other word makes the text invalid, as GitLab
//   sets ChronicDuration.raise_exceptions.

const UNIT_SECONDS: Record<string, number> = {
  seconds: 1,
  minutes: 60,
  hours: 3600,
  days: 86400,
  weeks: 7 * 86400,
  months: 30 * 86400,
  years: 31557600,
};

const UNIT_OF_WORD: Record<string, keyof typeof UNIT_SECONDS> = {
  ...Object.fromEntries(['seconds', 'second', 'secs', 'sec', 's'].map((w) => [w, 'seconds'])),
  ...Object.fromEntries(['minutes', 'minute', 'mins', 'min', 'm'].map((w) => [w, 'minutes'])),
  ...Object.fromEntries(['hours', 'hour', 'hrs', 'hr', 'h'].map((w) => [w, 'hours'])),
  ...Object.fromEntries(['days', 'day', 'dy', 'd'].map((w) => [w, 'days'])),
  ...Object.fromEntries(['weeks', 'week', 'wks', 'wk', 'w'].map((w) => [w, 'weeks'])),
  ...Object.fromEntries(['months', 'month', 'mos', 'mo'].map((w) => [w, 'months'])),
  ...Object.fromEntries(['years', 'year', 'yrs', 'yr', 'y'].map((w) => [w, 'years'])),
};

const JOIN_WORDS = new Set(['and', 'with', 'plus']);

const SMALL_NUMBERS =
  'zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen'.split(
    ' ',
  );
const TENS = 'twenty thirty forty fifty sixty seventy eighty ninety'.split(' ');

const TENS_WORDS = new RegExp(`\\b(${TENS.join('|')})(?:[ -](${SMALL_NUMBERS.slice(1, 10).join('|')}))?\\b`, 'g');
const SMALL_WORDS = new RegExp(`\\b(${SMALL_NUMBERS.join('|')})\\b`, 'g');

/** Number words to digits: "one" → 1, "twenty-one" and "twenty one" → 21. */
function numerize(text: string): string {
  return text
    .replace(TENS_WORDS, (_m, tens: string, one?: string) => String((TENS.indexOf(tens) + 2) * 10 + (one ? SMALL_NUMBERS.indexOf(one) : 0)))
    .replace(SMALL_WORDS, (word) => String(SMALL_NUMBERS.indexOf(word)));
}

const NUMBER = /^\d*\.?\d+$/;
const COLON_FORM = /^\d*\.?\d+(?::\d*\.?\d+)+$/;
const COLON_UNITS = ['seconds', 'minutes', 'hours', 'days', 'months', 'years'];

/** "1:30:00" → "1 hours 30 minutes 00 seconds". */
function fromColonForm(text: string): string {
  const compact = text.replace(/ +/g, '');
  if (!COLON_FORM.test(compact)) return text;
  const parts = compact.split(':').reverse();
  if (parts.length > COLON_UNITS.length) return text;
  return parts
    .map((n, i) => `${n} ${COLON_UNITS[i]}`)
    .reverse()
    .join(' ');
}

/** Seconds, or null when the text is not a duration. */
export function parseDuration(input: string | number): number | null {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? Math.round(input) : null;
  const text = fromColonForm(numerize(input.trim().toLowerCase()));
  if (text === '') return null;
  const tokens: string[] = [];
  for (const raw of text.replace(/\d*\.?\d+/g, (n) => ` ${n} `).split(/\s+/)) {
    const word = raw.replace(/^,+|,+$/g, '');
    if (word === '' || JOIN_WORDS.has(word)) continue;
    if (NUMBER.test(word)) tokens.push(word);
    else if (UNIT_OF_WORD[word]) tokens.push(UNIT_OF_WORD[word]);
    else return null;
  }
  if (tokens.length === 0) return null;
  if (!NUMBER.test(tokens[0])) tokens.unshift('1');
  let total = 0;
  tokens.forEach((token, i) => {
    if (!NUMBER.test(token)) return;
    const next = tokens[i + 1];
    // A number followed by another number counts nothing, as in ChronicDuration.
    total += Number(token) * (next === undefined ? 1 : (UNIT_SECONDS[next] ?? 0));
  });
  return Math.round(total);
}
