// Which uploaded artifact files are a job's stored reports (pipeline/reports.ts): the listing names
// their type. Matched with the rules the agent collected them by (globs; a directory means what is
// below it). Paths written with variables are matched as written: such a file lists as a plain artifact.
import { globMatcher } from '../pipeline/index.js';
import { normalizePattern } from './collect.js';

/** A function from an artifact path to its report type, or null when no report names it. */
export function reportTypeMatcher(reports: Record<string, string[]> | undefined): (path: string) => string | null {
  const matchers = Object.entries(reports ?? {}).flatMap(([type, patterns]) => {
    const globs = patterns.flatMap((p) => {
      try {
        return [normalizePattern(p, `artifacts:reports:${type}`)];
      } catch {
        // The agent refused this pattern too (with a warning in the job log): it matched nothing.
        return [];
      }
    });
    return globs.length > 0 ? [{ type, match: globMatcher(globs, { anyDepth: true }) }] : [];
  });
  return (path) => {
    const parts = path.split('/');
    for (const { type, match } of matchers) for (let i = 1; i <= parts.length; i++) if (match(parts.slice(0, i).join('/'))) return type;
    return null;
  };
}
