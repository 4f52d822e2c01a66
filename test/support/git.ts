import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

// Fixed identity and no user/system config, so the tests behave the same on every machine.
const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Tandem Test',
  GIT_AUTHOR_EMAIL: 'test@tandem.invalid',
  GIT_COMMITTER_NAME: 'Tandem Test',
  GIT_COMMITTER_EMAIL: 'test@tandem.invalid',
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, { cwd, env: GIT_ENV });
  return stdout.trim();
}

export function tempDir(t: { after: (fn: () => void) => void }, prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `tandem-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A bare "remote" repository and a work clone to push to it from. */
export interface TestRemote {
  bare: string;
  work: string;
  commit(files: Record<string, string | null>, message: string): Promise<string>;
  push(...refspecs: string[]): Promise<void>;
}

export async function makeRemote(root: string): Promise<TestRemote> {
  const bare = path.join(root, 'origin.git');
  const work = path.join(root, 'work');
  await git(root, 'init', '--quiet', '--bare', '-b', 'main', bare);
  await git(root, 'init', '--quiet', '-b', 'main', work);
  await git(work, 'remote', 'add', 'origin', bare);
  return {
    bare,
    work,
    async commit(files, message) {
      for (const [name, content] of Object.entries(files)) {
        const full = path.join(work, name);
        if (content === null) {
          await rm(full);
        } else {
          await mkdir(path.dirname(full), { recursive: true });
          await writeFile(full, content);
        }
      }
      await git(work, 'add', '--all');
      await git(work, 'commit', '--quiet', '-m', message);
      return git(work, 'rev-parse', 'HEAD');
    },
    async push(...refspecs) {
      await git(work, 'push', '--quiet', 'origin', ...refspecs);
    },
  };
}

/** The repository's root folder (holding package.json), whether tests run from source or from dist. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the test file');
    dir = parent;
  }
  return dir;
}

/** Raw bytes of a sample payload: read from test/source/fixtures whether run from source or from dist. */
export function fixture(name: string): Promise<Buffer> {
  return readFile(path.join(repoRoot(), 'test', 'source', 'fixtures', name));
}
