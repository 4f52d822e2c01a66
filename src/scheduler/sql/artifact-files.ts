// The artifact manifest of each job (artifact_files): written by the agent holding the job,
// read for downloads and for later jobs' dependencies.
import type { Kysely } from 'kysely';
import { reportTypeMatcher } from '../../artifacts/index.js';
import { readJobSpec } from '../columns.js';
import type { Store } from '../../store/index.js';
import type { ArtifactFile, Database, Job } from '../../store/index.js';

/**
 * Rows per INSERT: each row binds 7 values, and SQLite refuses a statement with more than 32,766
 * (PostgreSQL 65,535), which one statement for a job's thousands of files would pass.
 */
const ROWS_PER_INSERT = 1000;

/** Replaces the job's manifest, so a re-sent manifest (after a lost response) does not duplicate rows. */
export async function replaceArtifactFiles(
  store: Store,
  input: { jobId: number; files: Pick<ArtifactFile, 'path' | 'digest' | 'size' | 'mode'>[]; expiresAt: number | null; now: number },
): Promise<void> {
  await store.transaction(async (trx) => {
    await trx.deleteFrom('artifact_files').where('job_id', '=', input.jobId).execute();
    for (let start = 0; start < input.files.length; start += ROWS_PER_INSERT) {
      await trx
        .insertInto('artifact_files')
        .values(
          input.files.slice(start, start + ROWS_PER_INSERT).map((f) => ({
            job_id: input.jobId,
            path: f.path,
            digest: f.digest,
            size: f.size,
            mode: f.mode,
            expires_at: input.expiresAt,
            created_at: input.now,
          })),
        )
        .execute();
    }
  });
}

/** The artifact files of these jobs, by path. */
export async function artifactFilesOf(db: Kysely<Database>, jobIds: number[]): Promise<ArtifactFile[]> {
  if (jobIds.length === 0) return [];
  return db.selectFrom('artifact_files').selectAll().where('job_id', 'in', jobIds).orderBy('path').execute();
}

export async function findArtifactFile(db: Kysely<Database>, input: { jobId: number; path: string }): Promise<ArtifactFile | undefined> {
  return db.selectFrom('artifact_files').selectAll().where('job_id', '=', input.jobId).where('path', '=', input.path).executeTakeFirst();
}

/** An artifact file with the report type that collected it (null: a plain artifact). */
export interface ListedArtifact {
  file: ArtifactFile;
  report: string | null;
}

/** These jobs' artifact files (one query) by job id, each with its report type; a job without files is absent. */
export async function listJobArtifacts(
  db: Kysely<Database>,
  jobs: readonly Pick<Job, 'id' | 'spec'>[],
): Promise<Map<number, ListedArtifact[]>> {
  const reportOf = new Map(jobs.map((j) => [j.id, reportTypeMatcher(readJobSpec(j).artifacts?.storedReports)]));
  const listed = new Map<number, ListedArtifact[]>();
  for (const file of await artifactFilesOf(db, [...reportOf.keys()])) {
    const entry = { file, report: reportOf.get(file.job_id)?.(file.path) ?? null };
    const own = listed.get(file.job_id);
    if (own) own.push(entry);
    else listed.set(file.job_id, [entry]);
  }
  return listed;
}
