// A real S3-compatible server for tests: s3rver (npm) in its own process on a free loopback port,
// with its data in a temp dir and one bucket. Tests take a fresh prefix each, so they share it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './git.js';
import { freePort } from './ports.js';
import { serviceSkip } from './skip.js';

const S3RVER_BIN = path.join(repoRoot(), 'node_modules', 's3rver', 'bin', 's3rver.js');
export const S3_BUCKET = 'tandem';

/** What clients need: s3rver's fixed credentials, for the AWS SDK's environment sources. */
export const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

export interface S3Server {
  endpoint: string;
  /** Where s3rver keeps objects (and the parts of multipart uploads in progress). */
  directory: string;
  /** `s3://tandem/<prefix>?endpoint=…`: a fresh prefix unless one is given. */
  url(prefix?: string): string;
  /** Bytes of every file s3rver holds, stored objects and uploaded parts alike. */
  storedBytes(): Promise<number>;
  stop(): Promise<void>;
}

export const s3SkipReason = serviceSkip('the S3 tests', () =>
  existsSync(S3RVER_BIN) ? null : `s3rver is not installed (${S3RVER_BIN} missing): npm install`,
);

/** Makes the AWS SDK in this process find s3rver's credentials, as an operator's environment would. */
export function useS3Credentials(): void {
  Object.assign(process.env, S3_ENV);
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

export async function startS3(): Promise<S3Server> {
  const directory = await mkdtemp(path.join(tmpdir(), 'tandem-s3-'));
  for (let tries = 1; ; tries++) {
    const port = await freePort();
    const child: ChildProcess = spawn(
      process.execPath,
      [S3RVER_BIN, '-d', directory, '-a', '127.0.0.1', '-p', String(port), '-s', '--configure-bucket', S3_BUCKET],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    let output = '';
    const listening = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 15_000);
      const onData = (d: Buffer) => {
        output += d.toString();
        if (output.includes('S3rver listening')) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!listening) {
      child.kill('SIGKILL');
      process.removeListener('exit', killOnExit);
      // Another process may have taken the port between the check and the start.
      if (tries < 3 && /EADDRINUSE/.test(output)) continue;
      await rm(directory, { recursive: true, force: true });
      throw new Error(`s3rver did not start on port ${port}: ${output.slice(-2000)}`);
    }
    const endpoint = `http://127.0.0.1:${port}`;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      endpoint,
      directory,
      url: (prefix = `t-${randomBytes(6).toString('hex')}`) => `s3://${S3_BUCKET}/${prefix}?endpoint=${encodeURIComponent(endpoint)}`,
      storedBytes: () => treeBytes(directory),
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
          await exited;
          clearTimeout(timer);
        }
        process.removeListener('exit', killOnExit);
        await rm(directory, { recursive: true, force: true });
      },
    };
  }
}

/**
 * One s3rver for the calling test file, started on first use and stopped after the file's tests;
 * the SDK in this process gets its credentials. Call at the top level of a test file.
 */
export function s3ForFile(after: (fn: () => Promise<void>) => void): () => Promise<S3Server> {
  let server: Promise<S3Server> | null = null;
  after(async () => {
    await (await server?.catch(() => null))?.stop();
  });
  return () => {
    useS3Credentials();
    return (server ??= startS3());
  };
}
