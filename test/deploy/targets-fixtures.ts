import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ReleaseInput, TargetLog } from '../../src/deploy/targets/index.js';

export interface TempDir {
  path: string;
  remove(): Promise<void>;
}

export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A release source dir under `root` with the given files (path -> content, or content and mode). */
export async function makeSource(
  root: string,
  name: string,
  files: Record<string, string | { content: string; mode: number }>,
): Promise<string> {
  const dir = join(root, name);
  for (const [path, file] of Object.entries(files)) {
    const full = join(dir, path);
    await mkdir(dirname(full), { recursive: true });
    const { content, mode } = typeof file === 'string' ? { content: file, mode: 0o644 } : file;
    await writeFile(full, content);
    await chmod(full, mode);
  }
  return dir;
}

export function release(id: number, sourceDir: string, fencingToken: number, env: Record<string, string> = {}): ReleaseInput {
  return {
    id,
    sourceDir,
    image: null,
    fencingToken,
    env: { TANDEM_RELEASE_ID: String(id), TANDEM_RELEASE_VERSION: `v${id}`, TANDEM_ENVIRONMENT: 'staging', ...env },
  };
}

export function logLines(): { log: TargetLog; lines: string[] } {
  const lines: string[] = [];
  return { log: (line) => lines.push(line), lines };
}
