// The JSON of coverage (issue 18, item 3): Cobertura reports summarized per job, the coverage of a
// pipeline's jobs, and a branch's coverage over its recent pipelines.

/** Lines and branches: covered of valid (instrumented); a rate is covered / valid, null when nothing is valid. */
export interface CoverageCounts {
  linesCovered: number;
  linesValid: number;
  branchesCovered: number;
  branchesValid: number;
}

export interface CoverageRates extends CoverageCounts {
  /** 0..1, as Cobertura writes it; null when the report gives none and no line is valid. */
  lineRate: number | null;
  branchRate: number | null;
}

/** One `<package>` of a report, or one source file (classes of the same file added up). */
export interface CoverageEntryJson extends CoverageRates {
  name: string;
}

/** What Tandem keeps of one Cobertura file: totals, every package, and the first files. */
export interface CoberturaSummaryJson extends CoverageRates {
  /** The tool that wrote it, when the report says (`version` on `<coverage>`). */
  version: string | null;
  packages: CoverageEntryJson[];
  /** Packages left out of `packages` by the cap. */
  packagesOmitted: number;
  /** The files, most uncovered lines first, at most MAX_COVERAGE_FILES. */
  files: CoverageEntryJson[];
  /** Files left out of `files` by the cap. */
  filesOmitted: number;
}

/** At most this many packages and files are kept per report; their totals always count everything. */
export const MAX_COVERAGE_PACKAGES = 200;
export const MAX_COVERAGE_FILES = 500;

/** One file of a job's `artifacts:reports:coverage_report`: its summary, or why it has none. */
export interface CoverageReportJson {
  /** The workspace-relative path the agent uploaded. */
  path: string;
  format: 'cobertura';
  summary: CoberturaSummaryJson | null;
  /** "file:line:column: reason" for a malformed or oversized report; the job's result is not changed by it. */
  error: string | null;
}

/** `GET /api/v1/jobs/:id/coverage`. */
export interface JobCoverageJson {
  jobId: number;
  name: string;
  /** The job's coverage: its `coverage:` regex's value, else its Cobertura reports' line rate in percent. */
  coverage: number | null;
  reports: CoverageReportJson[];
}

/** `GET /api/v1/pipelines/:id/coverage`: the jobs (latest attempts) that have a coverage or a report. */
export interface PipelineCoverageJson {
  pipelineId: number;
  /** The average of the jobs' coverage values, as GitLab's pipeline coverage. */
  coverage: number | null;
  jobs: JobCoverageJson[];
}

/** One pipeline of `GET /api/v1/repos/:name/coverage`. */
export interface CoveragePointJson {
  pipelineId: number;
  sha: string;
  status: string;
  createdAt: string;
  coverage: number | null;
}

/** `GET /api/v1/repos/:name/coverage`: a ref's last pipelines, oldest first. */
export interface CoverageTrendJson {
  ref: string;
  points: CoveragePointJson[];
}
