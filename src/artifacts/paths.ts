import { lstat, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';

export class PathEscapeError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`unsafe path ${JSON.stringify(path)}: ${reason}`);
    this.name = 'PathEscapeError';
  }
}

/**
 * Normalizes a workspace-relative POSIX path (`./a//b/` → `a/b`) or throws PathEscapeError.
 * Backslashes are refused outright rather than interpreted, so `..\\x` cannot mean different things on
 * the agent that collected a file and the one that restores it.
 */
export function safeRelativePath(p: string): string {
  if (typeof p !== 'string' || p === '') throw new PathEscapeError(String(p), 'path is empty');
  if (p.includes('\0')) throw new PathEscapeError(p, 'path contains a NUL byte');
  if (p.includes('\\')) throw new PathEscapeError(p, 'path contains a backslash; use "/" as separator');
  if (p.startsWith('/')) throw new PathEscapeError(p, 'path is absolute; it must be relative to the workspace');
  if (/^[A-Za-z]:/.test(p)) throw new PathEscapeError(p, 'path starts with a drive letter');
  const segments = p.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw new PathEscapeError(p, 'path contains a ".." segment');
  if (segments.length === 0) throw new PathEscapeError(p, 'path names the workspace itself, not a file');
  return segments.join('/');
}

/** True when `child` is `root` or lies below it. Both must be absolute and normalized. */
export function isInside(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of `rel` under `root` whose existing parent directories, symlinks resolved, stay inside
 * the real root. The last component is deliberately not followed: writers must replace it (rename over it)
 * instead of opening it, so a planted symlink there is overwritten rather than written through.
 */
export async function resolveInside(root: string, rel: string): Promise<string> {
  const clean = safeRelativePath(rel);
  const realRoot = await realpath(root);
  const lexical = join(realRoot, clean);
  let existing = dirname(lexical);
  while (existing !== realRoot && !(await exists(existing))) existing = dirname(existing);
  const realExisting = await realpath(existing).catch((err: unknown) => {
    // A dangling symlink among the parents: we cannot prove where it leads, so refuse.
    throw new PathEscapeError(rel, `cannot resolve parent ${existing}: ${(err as Error).message}`);
  });
  if (!isInside(realRoot, realExisting)) {
    throw new PathEscapeError(rel, `a symlink in its parents leads outside ${realRoot} (to ${realExisting})`);
  }
  return join(realExisting, relative(existing, lexical));
}
