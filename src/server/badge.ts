// The pipeline and coverage badges (issue 18, item 4): SVGs shaped and coloured like GitLab's, so a README that
// showed a GitLab badge looks the same pointing here. Pure: the route finds the status or value.
import { createHash } from 'node:crypto';
import type { RunStatus } from '../api/index.js';

/** What the badge says; `unknown`: the ref has no pipeline. */
export type BadgeStatus = 'passed' | 'failed' | 'running' | 'pending' | 'canceled' | 'skipped' | 'manual' | 'unknown';

/** GitLab's words for the statuses: `created` and `scheduled` (waiting for a delayed job) are still to run. */
const WORD_OF: Record<RunStatus, BadgeStatus> = {
  created: 'pending',
  pending: 'pending',
  scheduled: 'pending',
  running: 'running',
  success: 'passed',
  failed: 'failed',
  canceled: 'canceled',
  skipped: 'skipped',
  manual: 'manual',
};

/** GitLab's badge colours. */
export const BADGE_COLOURS: Record<BadgeStatus, string> = {
  passed: '#4c1',
  failed: '#e05d44',
  running: '#dfb317',
  pending: '#dfb317',
  canceled: '#9f9f9f',
  skipped: '#9f9f9f',
  manual: '#1f78d1',
  unknown: '#9f9f9f',
};

export function badgeStatusOf(status: RunStatus | null): BadgeStatus {
  return status === null ? 'unknown' : WORD_OF[status];
}

/**
 * Advance widths of Verdana at 11px (rounded to a tenth of a pixel), the font shields.io and
 * GitLab lay badges out in. Characters not listed (other scripts, symbols) count as 7.0 px, about
 * a wide lowercase letter: the width stays deterministic without shipping a font, and a ref only
 * ever appears in the title, so the visible text is always ASCII words.
 */
// prettier-ignore
const VERDANA_11: Record<string, number> = {
  ' ': 3.9,
  a: 6.7, b: 6.8, c: 5.7, d: 6.8, e: 6.6, f: 3.8, g: 6.8, h: 7.0, i: 3.0, j: 3.8, k: 6.5, l: 3.0, m: 10.7,
  n: 7.0, o: 6.7, p: 6.8, q: 6.8, r: 4.7, s: 5.7, t: 4.3, u: 7.0, v: 6.5, w: 9.0, x: 6.5, y: 6.5, z: 5.8,
  '|': 4.6, '-': 5.0, '.': 4.0, '%': 11.9,
  0: 7.0, 1: 7.0, 2: 7.0, 3: 7.0, 4: 7.0, 5: 7.0, 6: 7.0, 7: 7.0, 8: 7.0, 9: 7.0,
};
const DEFAULT_WIDTH = 7.0;
/** Space each side of a text, as GitLab's badges have. */
const PADDING = 5;

/** The text's width in whole pixels at Verdana 11px. */
export function textWidth(text: string): number {
  let width = 0;
  for (const ch of text) width += VERDANA_11[ch] ?? DEFAULT_WIDTH;
  return Math.round(width);
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => XML_ESCAPES[ch]!);
}

/** A badge in GitLab's flat style: a grey label, a coloured value; `title` is what a screen reader says. */
function drawBadge(label: string, value: string, colour: string, title: string): string {
  const left = textWidth(label) + 2 * PADDING;
  const right = textWidth(value) + 2 * PADDING;
  const width = left + right;
  const text = (x: number, word: string) =>
    `<text x="${x}" y="15" fill="#010101" fill-opacity=".3">${word}</text><text x="${x}" y="14">${word}</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>',
    `<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>`,
    `<g clip-path="url(#r)"><rect width="${left}" height="20" fill="#555"/><rect x="${left}" width="${right}" height="20" fill="${colour}"/><rect width="${width}" height="20" fill="url(#s)"/></g>`,
    '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">',
    text(left / 2, escapeXml(label)),
    text(left + right / 2, escapeXml(value)),
    '</g>',
    '</svg>',
  ].join('\n');
}

/** The badge of a ref's pipeline status: "pipeline | passed", the ref named in its title. */
export function pipelineBadge(ref: string, status: BadgeStatus): string {
  return drawBadge('pipeline', status, BADGE_COLOURS[status], `pipeline of ${ref}: ${status}`);
}

/**
 * GitLab's coverage badge colours (Gitlab::Ci::Badge::Coverage::Template): good from 95 %,
 * acceptable from 90 %, medium from 75 %, low below; grey for "unknown".
 */
export function coverageColour(coverage: number | null): string {
  if (coverage === null) return BADGE_COLOURS.unknown;
  if (coverage >= 95) return '#4c1';
  if (coverage >= 90) return '#a3c51c';
  if (coverage >= 75) return '#dfb317';
  return '#e05d44';
}

/** "coverage | 87.50%" (two decimals, as GitLab), or "unknown" when the ref has no coverage. */
export function coverageBadge(ref: string, coverage: number | null, job?: string): string {
  const value = coverage === null ? 'unknown' : `${coverage.toFixed(2)}%`;
  return drawBadge('coverage', value, coverageColour(coverage), `coverage of ${job ? `${job} on ` : ''}${ref}: ${value}`);
}

/** A strong ETag of the badge's bytes: the same status and ref answer 304 to a cache that has them. */
export function badgeEtag(svg: string): string {
  return `"${createHash('sha256').update(svg).digest('base64url').slice(0, 27)}"`;
}

/** Whether an If-None-Match header (a list, or `*`) names this ETag; weak ones compare weakly (RFC 9110). */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === etag;
  });
}
