// GitLab's `artifacts:reports:` types that Tandem keeps without reading: their files are uploaded as
// the job's artifacts (whatever the job's outcome, as GitLab does) and listed with their type, so a
// pipeline written for GitLab loses nothing, but no widget or dashboard reads them here.
// https://docs.gitlab.com/ee/ci/yaml/artifacts_reports.html
import { stringsOf } from './rules.js';
import { mapGet, type YNode } from './yaml-source.js';

export const STORED_REPORT_TYPES = [
  'accessibility',
  'annotations',
  'api_fuzzing',
  'browser_performance',
  'codequality',
  'container_scanning',
  'coverage_fuzzing',
  'cyclonedx',
  'dast',
  'dependency_scanning',
  'license_scanning',
  'load_performance',
  'metrics',
  'repository_xray',
  'requirements',
  'sast',
  'secret_detection',
  'terraform',
] as const;

export type StoredReportType = (typeof STORED_REPORT_TYPES)[number];

/** Said wherever such a report shows (lint schema, listings, docs). */
export const STORED_REPORT_NOTE = 'stored as an artifact; Tandem does not interpret it';

/** The stored reports an `artifacts:reports` map names (type → files and globs); null when none. */
export function storedReportsOf(reports: YNode | undefined): Record<string, string[]> | null {
  const found = STORED_REPORT_TYPES.map((type) => [type, stringsOf(mapGet(reports, type))] as const).filter(
    ([, paths]) => paths.length > 0,
  );
  return found.length > 0 ? Object.fromEntries(found) : null;
}
