import { execFile } from 'node:child_process';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import picomatch from 'picomatch';
import { DomainError } from '../errors.js';
import { PathEscapeError, isInside } from './paths.js';
import { globMatcher } from '../pipeline/index.js';

const execFileAsync = promisify(execFile);

export interface CollectSpec {
  /** Globs relative to the workspace; a directory means everything below it. */
  paths: string[];
  exclude?: string[];
  /** Also take the files `git ls-files --others --exclude-standard` reports. */
  untracked?: boolean;
}

export interface CollectLimits {
  maxFiles?: number;
  maxTotalBytes?: number;
}

export interface CollectedFile {
  /** Workspace-relative, POSIX separators. */
  path: string;
  /** Where to read the bytes: the real file, inside the workspace. */
  absPath: string;
  size: number;
  /** Permission bits only (0o777). */
  mode: number;
}

export class ArtifactLimitError extends DomainError {
  constructor(message: string) {
    super('too_large', message);
    this.name = 'ArtifactLimitError';
  }
}

/**
 * Validates a user pattern the way safeRelativePath validates a path, but lets glob syntax through and
 * maps "." to the whole workspace. The error names the pattern as the user wrote it.
 */
export function normalizePattern(pattern: string, field: string): string {
  const fail = (reason: string): never => {
    throw new PathEscapeError(pattern, `${field} pattern ${reason}`);
  };
  if (typeof pattern !== 'string' || pattern.trim() === '') fail('is empty');
  if (pattern.includes('\0')) fail('contains a NUL byte');
  if (pattern.includes('\\')) fail('contains a backslash; use "/" as separator');
  if (pattern.startsWith('/') || /^[A-Za-z]:/.test(pattern)) fail('is absolute; it must be relative to the workspace');
  if (pattern.startsWith('!')) fail('is negated; list what to leave out under "exclude" instead');
  const segments = pattern.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) fail('escapes the workspace with ".."');
  return segments.length === 0 ? '**' : segments.join('/');
}

/**
 * A pattern as a path relative to the project: one written as `$CI_PROJECT_DIR/out` (absolute, inside
 * the project) loses its prefix; one that leads outside (another absolute path, or up with `..`) is
 * null. Anything else is returned as written, for normalizePattern to check.
 */
function projectRelative(pattern: string, projectDirs: string[]): string | null {
  if (pattern.startsWith('/')) {
    for (const dir of projectDirs) {
      if (pattern === dir) return '.';
      if (pattern.startsWith(`${dir}/`)) return pattern.slice(dir.length + 1);
    }
    return null;
  }
  return pattern.split('/').includes('..') ? null : pattern;
}

function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** Collects files with GitLab `artifacts:` semantics (paths, exclude, untracked). */
export async function collectFiles(
  workspace: string,
  spec: CollectSpec,
  limits: CollectLimits = {},
): Promise<{ files: CollectedFile[]; warnings: string[] }> {
  const root = await realpath(workspace);
  const warnings: string[] = [];
  const patterns = spec.paths.flatMap((raw) => {
    const inside = projectRelative(raw, [workspace, root]);
    if (inside === null) {
      // GitLab Runner skips such a path with a warning; the job does not fail for it.
      warnings.push(`${raw}: artifact path is not inside the project directory (${workspace}); skipped`);
      return [];
    }
    return [{ raw, glob: normalizePattern(inside, 'artifacts:paths') }];
  });
  const excludeGlobs = (spec.exclude ?? []).map((p) => normalizePattern(projectRelative(p, [workspace, root]) ?? p, 'artifacts:exclude'));
  const excludeMatch = excludeGlobs.length > 0 ? globMatcher(excludeGlobs, { anyDepth: true }) : () => false;
  const found = new Map<string, CollectedFile>();
  let totalBytes = 0;

  // Excluding a directory excludes what is below it, as with GitLab's `exclude: [dir/]`-style globs.
  const isExcluded = (rel: string): boolean => {
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) if (excludeMatch(parts.slice(0, i).join('/'))) return true;
    return false;
  };

  const addFile = (rel: string, absPath: string, st: Stats): void => {
    if (found.has(rel)) return;
    if (limits.maxFiles !== undefined && found.size >= limits.maxFiles) {
      throw new ArtifactLimitError(`artifacts: more than ${limits.maxFiles} files match (at ${rel})`);
    }
    totalBytes += st.size;
    if (limits.maxTotalBytes !== undefined && totalBytes > limits.maxTotalBytes) {
      throw new ArtifactLimitError(`artifacts: matched files exceed ${limits.maxTotalBytes} bytes in total (at ${rel})`);
    }
    found.set(rel, { path: rel, absPath, size: st.size, mode: st.mode & 0o777 });
  };

  /** Adds one matched path; a directory contributes everything below it. */
  const addMatched = async (rel: string): Promise<void> => {
    if (isExcluded(rel)) return;
    const abs = join(root, rel);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = await realpath(abs);
      } catch {
        warnings.push(`${rel}: broken symlink, skipped`);
        return;
      }
      if (!isInside(root, target)) {
        throw new PathEscapeError(rel, `symlink leads outside the workspace (to ${target}); refusing to follow it`);
      }
      const tst = await stat(target);
      if (tst.isFile()) addFile(rel, target, tst);
      else warnings.push(`${rel}: symlink to a directory is not followed`);
    } else if (st.isDirectory()) {
      for (const name of (await readdir(abs)).sort()) await addMatched(joinRel(rel, name));
    } else if (st.isFile()) {
      addFile(rel, abs, st);
    } else {
      warnings.push(`${rel}: not a regular file, skipped`);
    }
  };

  /** Walks real directories only (symlinked ones are never entered), testing each entry against `match`. */
  const walkGlob = async (dirRel: string, match: (p: string) => boolean): Promise<number> => {
    let matched = 0;
    const entries = await readdir(join(root, dirRel), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const rel = joinRel(dirRel, entry.name);
      if (match(rel)) {
        matched++;
        await addMatched(rel);
      } else if (entry.isDirectory() && !isExcluded(rel)) {
        matched += await walkGlob(rel, match);
      }
    }
    return matched;
  };

  // picomatch only splits off the literal base directory; matching is linear-time (pipeline/glob.ts),
  // since a backtracking glob like `*a*a*a…b` would hold the agent and every job on it.
  for (const { raw, glob } of patterns) {
    const scan = picomatch.scan(glob);
    const base = scan.base.replace(/\/+$/, '');
    const baseAbs = join(root, base);
    let baseReal: string;
    try {
      baseReal = await realpath(baseAbs);
    } catch {
      warnings.push(`${raw}: no matching files`);
      continue;
    }
    if (!isInside(root, baseReal)) {
      throw new PathEscapeError(raw, `leads outside the workspace through a symlink (to ${baseReal})`);
    }
    let matched: number;
    if (!scan.isGlob) {
      await addMatched(base);
      matched = 1;
    } else if ((await stat(baseReal)).isDirectory()) {
      matched = await walkGlob(base, globMatcher([glob], { anyDepth: true }));
    } else {
      matched = 0;
    }
    if (matched === 0) warnings.push(`${raw}: no matching files`);
  }

  if (spec.untracked) {
    for (const rel of await gitUntracked(root)) await addMatched(rel);
  }

  const files = [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, warnings };
}

async function gitUntracked(root: string): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync('git', ['ls-files', '--others', '--exclude-standard', '-z'], {
      cwd: root,
      maxBuffer: 256 * 1024 * 1024,
    });
    return stdout.split('\0').filter((p) => p !== '');
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`artifacts:untracked needs a git work tree: git ls-files failed in ${root}: ${stderr || String(err)}`);
  }
}
