// The JSON of a job's artifact listing (GET /api/v1/jobs/:id/artifact-files, `tandem artifact list`).

export interface ArtifactFileJson {
  /** Relative to the project directory, POSIX separators. */
  path: string;
  size: number;
  /** sha256 hex of the content. */
  sha256: string;
  /** Permission bits. */
  mode: number;
  expiresAt: string | null;
  /** The GitLab report type that collected the file (`artifacts:reports:<type>`), or null for a plain artifact. */
  report: string | null;
  /** For a report: what Tandem does with it (it stores it; it does not read it). */
  note: string | null;
}

export interface JobArtifactsJson {
  jobId: number;
  job: string;
  pipelineId: number;
  files: ArtifactFileJson[];
}
