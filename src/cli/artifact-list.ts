// `tandem artifact list <job>`: a job's artifact files, reports marked with their type.
import type { JobArtifactsJson } from '../api/index.js';
import { ApiClient, type ApiOptions } from './api-client.js';
import { formatBytes, printJson, printTable } from './output.js';

export async function artifactList(jobId: string, opts: ApiOptions & { json?: boolean }) {
  const listing = await ApiClient.fromOptions(opts).json<JobArtifactsJson>('GET', `/api/v1/jobs/${Number(jobId)}/artifact-files`);
  if (opts.json) return printJson(listing);
  printTable(
    listing.files.map((f) => ({ ...f, size: formatBytes(f.size), sha256: f.sha256.slice(0, 12), report: f.report ?? '' })),
    ['path', 'size', 'report', 'sha256', 'expiresAt'],
  );
  const reports = [...new Set(listing.files.flatMap((f) => (f.report ? [f.report] : [])))];
  // Said once under the table: a reader who expects GitLab's widgets learns why nothing shows them.
  if (reports.length > 0) console.log(`\nReports (${reports.join(', ')}): ${listing.files.find((f) => f.note)?.note}.`);
  if (listing.files.length > 0) console.log(`Download: tandem artifact get ${listing.jobId} [path]`);
}
