// Alert identity and silences. An alert is its labels (alertname and severity included), as in
// Prometheus and Alertmanager: the same labels are the same alert, which deduplicates it. Silence
// matchers are Alertmanager's: `name=value`, `name!=value`, `name=~regex`, `name!~regex`, regular
// expressions anchored at both ends.
import { createHash } from 'node:crypto';
import { z } from 'zod';

export type Labels = Record<string, string>;

/** sha256 of the labels in name order. */
export function fingerprint(labels: Labels): string {
  const sorted = Object.keys(labels)
    .sort()
    .map((k) => [k, labels[k]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export const matcherSchema = z
  .object({
    name: z.string().regex(LABEL_NAME, 'expected a label name (letters, digits, "_")'),
    value: z.string(),
    isRegex: z.boolean().default(false),
    isEqual: z.boolean().default(true),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (!m.isRegex) return;
    try {
      new RegExp(`^(?:${m.value})$`);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `not a regular expression: ${(err as Error).message}` });
    }
  });

export type Matcher = z.output<typeof matcherSchema>;

/** `severity=page`, `slo!=api-availability`, `alertname=~Tandem.*`, `replica!~old-.*`. */
export function parseMatcher(text: string): Matcher {
  const m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/.exec(text);
  if (!m) throw new Error(`matcher "${text}": expected name=value, name!=value, name=~regex or name!~regex`);
  const value = m[3].replace(/^"(.*)"$/, '$1');
  return matcherSchema.parse({ name: m[1], value, isRegex: m[2].includes('~'), isEqual: !m[2].startsWith('!') });
}

export function formatMatcher(m: Matcher): string {
  return `${m.name}${m.isEqual ? '' : '!'}${m.isRegex ? '=~' : '='}${m.value}`;
}

function matchesOne(m: Matcher, labels: Labels): boolean {
  // A missing label is the empty string, as in Alertmanager.
  const value = labels[m.name] ?? '';
  const hit = m.isRegex ? new RegExp(`^(?:${m.value})$`).test(value) : value === m.value;
  return hit === m.isEqual;
}

/** Every matcher holds. */
export function matchesAll(matchers: readonly Matcher[], labels: Labels): boolean {
  return matchers.every((m) => matchesOne(m, labels));
}
