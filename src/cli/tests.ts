// `tandem run tests`: a pipeline's JUnit test report in a terminal, the summary first and then each
// failing test with its message, so a failure is read without opening the job's log.
import type { TestCaseJson, TestReportJson, TestSummaryJson } from '../api/index.js';
import { ApiClient, type ApiOptions } from './api-client.js';
import { colourStatus, printJson, printTable } from './output.js';

type TestsOptions = ApiOptions & { job?: string; failed?: boolean; json?: boolean };

/** Failing tests printed before "… and N more": the rest are a `--json` or the web page away. */
const SHOWN_FAILURES = 50;
/** Lines of a failure's message shown under its name. */
const MESSAGE_LINES = 4;
const PAGE = 1000;

export function summaryLine(s: TestSummaryJson): string {
  const counts = [`${s.passed} passed`, `${s.failed} failed`, `${s.errors} errors`, `${s.skipped} skipped`];
  return `${s.total} tests: ${counts.join(', ')} in ${s.durationSeconds.toFixed(2)} s`;
}

function failureLines(c: TestCaseJson): string[] {
  const where = [c.suite, c.classname].filter((p, i, all) => p !== '' && all.indexOf(p) === i && p !== c.name).join(' › ');
  // Red like a failed job, in capitals so it stands out from the message under it.
  const label = colourStatus('failed').replace('failed', c.status.toUpperCase());
  const head = `${label}  ${c.jobName}  ${where === '' ? '' : `${where} › `}${c.name}`;
  const message = (c.message ?? '').split('\n').filter((l) => l.trim() !== '');
  const shown = message.slice(0, MESSAGE_LINES).map((l) => `    ${l}`);
  if (message.length > MESSAGE_LINES) shown.push(`    … (${message.length - MESSAGE_LINES} more lines)`);
  return [head, ...shown];
}

export async function runTests(pipeline: string, opts: TestsOptions): Promise<void> {
  const api = ApiClient.fromOptions(opts);
  const query = (offset: number, limit: number) => {
    const q = new URLSearchParams({ status: 'failed,error', offset: String(offset), limit: String(limit) });
    if (opts.job !== undefined) q.set('job', opts.job);
    return `/api/v1/pipelines/${Number(pipeline)}/tests?${q}`;
  };
  if (opts.json) {
    // Every failing case, page after page: a program reading this wants them all.
    const report = await api.json<TestReportJson>('GET', query(0, PAGE));
    for (let next = report.nextOffset; next !== null;) {
      const page = await api.json<TestReportJson>('GET', query(next, PAGE));
      report.cases.push(...page.cases);
      next = page.nextOffset;
    }
    report.nextOffset = null;
    printJson(report);
    return;
  }
  const report = await api.json<TestReportJson>('GET', query(0, SHOWN_FAILURES));
  if (report.jobs.length === 0) {
    console.log(`Pipeline #${Number(pipeline)} has no test report${opts.job ? ` for job ${opts.job}` : ''}`);
    return;
  }
  if (!opts.failed) {
    console.log(summaryLine(report.summary));
    printTable(
      report.jobs.map((j) => ({ ...j.summary, job: j.jobName, stage: j.stage, duration: `${j.summary.durationSeconds.toFixed(2)} s` })),
      ['job', 'stage', 'total', 'passed', 'failed', 'errors', 'skipped', 'duration'],
    );
    for (const j of report.jobs) for (const f of j.files) if (f.error !== null) console.log(`Report not read (${j.jobName}): ${f.error}`);
    if (report.matching > 0) console.log('');
  }
  for (const c of report.cases) console.log(failureLines(c).join('\n'));
  if (report.matching > report.cases.length)
    console.log(`… and ${report.matching - report.cases.length} more failing tests (--json lists all)`);
}
