// The files a job takes in and hands on, in GitLab Runner's order: the artifacts of its
// dependencies and its caches before the script, its artifacts and caches after it, as their
// `when` says.
import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { collectFiles, isInside, parseDotenv, PathEscapeError, restoreFiles, safeRelativePath, storeFiles } from '../artifacts/index.js';
import { MAX_JUNIT_REPORT_FILES, type DependencyArtifacts } from '../api/index.js';
import { CACHE_POLICIES, expandVariables } from '../pipeline/index.js';
import type { ArtifactsSpec, CachePolicy, CacheSpec } from '../pipeline/index.js';
import type { JobLog } from './job-log.js';
import type { JobBackend } from './job-runner.js';

/** What every move of files needs: the job's workspace, its variables, where the files go, and its log. */
export interface FilesScope {
  workspace: string;
  env: Record<string, string>;
  backend: JobBackend;
  log: JobLog;
}

/** GitLab forbids "/" in cache keys; other unusual characters would not survive a URL either. */
function sanitizeCacheKey(key: string): string {
  const cleaned = key
    .replace(/[^\w.\-:]/g, '_')
    .replace(/\.\.+/g, '_')
    .slice(0, 200);
  return cleaned === '' ? 'default' : cleaned;
}

/** `key: {files: [...]}`: a digest of those files' contents, so the cache changes when they do. */
async function resolveCacheKey(spec: CacheSpec, workspace: string, env: Record<string, string>): Promise<string> {
  if (typeof spec.key === 'string') return sanitizeCacheKey(expandVariables(spec.key, env) || 'default');
  const hash = createHash('sha256');
  for (const file of [...spec.key.files].sort()) {
    hash.update(file + '\0');
    try {
      hash.update(await readFile(join(workspace, file)));
    } catch {
      hash.update('<missing>');
    }
  }
  const digest = hash.digest('hex').slice(0, 40);
  return sanitizeCacheKey(spec.key.prefix ? `${spec.key.prefix}-${digest}` : digest);
}

/** Artifact and cache paths may name variables ($CI_JOB_NAME/out); GitLab expands them at run time. */
function expandAll(patterns: string[], env: Record<string, string>): string[] {
  return patterns.map((p) => expandVariables(p, env));
}

function whenMatches(when: 'on_success' | 'on_failure' | 'always', succeeded: boolean): boolean {
  return when === 'always' || (when === 'on_success') === succeeded;
}

export async function downloadDependencyArtifacts(
  dependencies: DependencyArtifacts[],
  { workspace, backend, log }: FilesScope,
): Promise<void> {
  for (const dep of dependencies) {
    if (dep.files.length === 0) continue;
    log.section(`Downloading artifacts from ${dep.name} (job ${dep.jobId}): ${dep.files.length} files`);
    await restoreFiles(workspace, dep.files, (digest) => backend.blobs.get(digest));
  }
}

/**
 * The cache's policy for this run: a `$VARIABLE` is expanded (empty means pull-push), and a value that
 * is no policy fails the job, as GitLab Runner does.
 */
function policyOf(cache: CacheSpec, env: Record<string, string>): CachePolicy {
  if (!cache.policy.startsWith('$')) return cache.policy as CachePolicy;
  const value = expandVariables(cache.policy, env);
  if (value === '') return 'pull-push';
  if ((CACHE_POLICIES as readonly string[]).includes(value)) return value as CachePolicy;
  throw new Error(`cache:policy ${cache.policy} is "${value}": unknown cache policy; expected ${CACHE_POLICIES.join(', ')}`);
}

export async function restoreCaches(caches: CacheSpec[], { workspace, env, backend, log }: FilesScope): Promise<void> {
  for (const cache of caches) {
    if (policyOf(cache, env) === 'push') continue;
    const key = await resolveCacheKey(cache, workspace, env);
    let restored = false;
    for (const candidate of [key, ...cache.fallbackKeys.map(sanitizeCacheKey)]) {
      const files = await backend.getCache(candidate);
      if (!files) continue;
      log.section(`Restoring cache ${candidate}: ${files.length} files`);
      await restoreFiles(workspace, files, (digest) => backend.blobs.get(digest));
      restored = true;
      break;
    }
    if (!restored) log.notice(`No cache found for ${key}`);
  }
}

export async function uploadArtifacts(
  artifacts: ArtifactsSpec | null,
  succeeded: boolean,
  { workspace, env, backend, log }: FilesScope,
): Promise<void> {
  if (!artifacts || !whenMatches(artifacts.when, succeeded)) return;
  // A job whose artifacts are only reports has no files to upload.
  if (artifacts.paths.length === 0 && !artifacts.untracked) return;
  log.section('Uploading artifacts');
  const { files, warnings } = await collectFiles(workspace, {
    ...artifacts,
    paths: expandAll(artifacts.paths, env),
    exclude: expandAll(artifacts.exclude, env),
  });
  for (const w of warnings) log.notice(`WARNING: ${w}`);
  const manifest = await storeFiles(files, backend.blobs);
  await backend.saveArtifacts(manifest, artifacts.expireInSeconds);
  log.write(`Uploaded ${manifest.length} artifact files\n`);
}

/**
 * Reads the job's `artifacts:reports:dotenv` files and hands their variables to the jobs after it.
 * Reports are uploaded whatever the job's outcome (GitLab's runner gets them with `when: always`);
 * a missing file is a warning, a malformed report fails the job, as GitLab refuses its upload.
 */
export async function uploadDotenvReport(artifacts: ArtifactsSpec | null, { workspace, env, backend, log }: FilesScope): Promise<void> {
  const paths = artifacts?.dotenv ?? [];
  if (paths.length === 0) return;
  log.section('Uploading dotenv report');
  const root = await realpath(workspace);
  const files: { name: string; content: Buffer }[] = [];
  for (const name of expandAll(paths, env)) {
    const real = await realpath(join(root, safeRelativePath(name))).catch(() => null);
    if (real === null) {
      log.notice(`WARNING: ${name}: no matching files for the dotenv report`);
      continue;
    }
    if (!isInside(root, real)) throw new PathEscapeError(name, `it leads outside the job's workspace (to ${real})`);
    files.push({ name, content: await readFile(real) });
  }
  if (files.length === 0) return;
  const variables = parseDotenv(files);
  await backend.saveDotenv(variables);
  log.write(`Passed on ${Object.keys(variables).length} dotenv variables: ${Object.keys(variables).join(', ')}\n`);
}

/**
 * Uploads the files of the job's `artifacts:reports:junit` globs (confined to the workspace, like
 * artifacts) whatever its outcome, as GitLab's runner does with its reports. The server reads them
 * itself, so an agent cannot claim counts its files do not hold; an unreadable report is a warning
 * here, never the job's failure. No matching file is a warning, as in GitLab.
 */
export async function uploadJunitReports(artifacts: ArtifactsSpec | null, { workspace, env, backend, log }: FilesScope): Promise<void> {
  const patterns = artifacts?.junit ?? [];
  if (patterns.length === 0) return;
  log.section('Uploading JUnit reports');
  const { files, warnings } = await collectFiles(workspace, { paths: expandAll(patterns, env) }, { maxFiles: MAX_JUNIT_REPORT_FILES });
  for (const w of warnings) log.notice(`WARNING: ${w}`);
  if (files.length === 0) {
    log.notice('WARNING: no JUnit report files found: the job has no test report');
    return;
  }
  const result = await backend.saveJunitReports(await storeFiles(files, backend.blobs));
  for (const error of result.fileErrors) log.notice(`WARNING: JUnit report not read: ${error}`);
  log.write(`Test report: ${result.total} tests, ${result.failed} failed, ${result.errors} errors (${files.length} files)\n`);
}

export async function saveCaches(caches: CacheSpec[], succeeded: boolean, { workspace, env, backend, log }: FilesScope): Promise<void> {
  for (const cache of caches) {
    if (policyOf(cache, env) === 'pull' || !whenMatches(cache.when, succeeded)) continue;
    const key = await resolveCacheKey(cache, workspace, env);
    log.section(`Saving cache ${key}`);
    const { files, warnings } = await collectFiles(workspace, {
      paths: expandAll(cache.paths, env),
      exclude: [],
      untracked: cache.untracked,
    });
    for (const w of warnings) log.notice(`WARNING: ${w}`);
    await backend.putCache(key, await storeFiles(files, backend.blobs));
  }
}
