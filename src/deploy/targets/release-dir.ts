import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  checkLink,
  checkNumber,
  checkRelease,
  declarations,
  exportBlock,
  findHost,
  readLink,
  runHostOp,
  type HostTransport,
} from './host-ops.js';
import type { FileTarget, ReleaseInput, ServiceSpec, TargetHost, TargetLog } from './types.js';

/** A packed release ready to stream to hosts. */
interface Archive {
  file: string;
  size: number;
  remove(): Promise<void>;
}

/**
 * The release packed into one file first, so that its size is known: the host unpacks only an
 * archive that arrived whole, and a source file that cannot be read fails here, before any host
 * sees a partial release.
 */
async function pack(release: ReleaseInput, workDir: string): Promise<Archive> {
  const source = await stat(release.sourceDir).catch(() => null);
  if (!source?.isDirectory()) throw new Error(`release ${release.id}: source ${release.sourceDir} is not a directory`);
  await mkdir(workDir, { recursive: true });
  const dir = await mkdtemp(join(workDir, 'release-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  const file = join(dir, `${release.id}.tar`);
  try {
    const stderr: string[] = [];
    const code = await new Promise<number | null>((resolve, reject) => {
      const tar = spawn('tar', ['-C', release.sourceDir, '-cf', file, '.'], { stdio: ['ignore', 'ignore', 'pipe'] });
      tar.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
      tar.once('error', reject);
      tar.once('close', resolve);
    });
    if (code !== 0)
      throw new Error(`release ${release.id}: cannot pack ${release.sourceDir} (tar exit code ${code}): ${stderr.join('').trim()}`);
    return { file, size: (await stat(file)).size, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/**
 * The `local` and `ssh` targets: a deploy dir with releases/<id> and an atomically swapped
 * `current` link on each host. They differ only in their hosts' transport.
 */
export class ReleaseDirTarget implements FileTarget {
  constructor(
    readonly kind: 'local' | 'ssh',
    readonly hosts: readonly HostTransport[],
    private readonly workDir: string,
    private readonly service: ServiceSpec = {},
    readonly close: () => Promise<void> = async () => {},
  ) {}

  private transport(host: TargetHost): HostTransport {
    return findHost(this.kind, this.hosts, host);
  }

  async upload(host: TargetHost, release: ReleaseInput, log: TargetLog): Promise<void> {
    checkRelease(release);
    const transport = this.transport(host);
    // A release already there (a rollback, a retried job) is not packed again; its token still counts.
    if (await this.has(host, release.id)) {
      await runHostOp(transport, 'fence', [release.fencingToken], null, log);
      log(`[${transport.name}] release ${release.id} is already here`);
      return;
    }
    const archive = await pack(release, this.workDir);
    try {
      await runHostOp(transport, 'upload', [release.id, release.fencingToken, archive.size], { file: archive.file }, log);
    } finally {
      await archive.remove();
    }
  }

  async activate(host: TargetHost, release: ReleaseInput, log: TargetLog, link = 'current'): Promise<void> {
    checkRelease(release);
    checkLink(link);
    const { stop, start, restart, reload } = this.service;
    const input = declarations({ env: exportBlock(release.env), stop, start, restart, reload });
    await runHostOp(this.transport(host), 'activate', [release.id, release.fencingToken, link], input, log);
  }

  async relink(host: TargetHost, release: ReleaseInput, link: string, log: TargetLog): Promise<void> {
    checkRelease(release);
    checkLink(link);
    await runHostOp(this.transport(host), 'activate', [release.id, release.fencingToken, link], declarations({}), log);
  }

  current(host: TargetHost, link = 'current'): Promise<number | null> {
    return readLink(this.transport(host), link);
  }

  async has(host: TargetHost, releaseId: number): Promise<boolean> {
    checkNumber('release id', releaseId);
    const [answer] = await runHostOp(this.transport(host), 'has', [releaseId], null);
    return answer === 'yes';
  }

  async prune(host: TargetHost, keep: number, fencingToken: number, log?: TargetLog): Promise<number[]> {
    checkNumber('keep', keep);
    checkNumber('fencing token', fencingToken);
    const removed = await runHostOp(this.transport(host), 'prune', [keep, fencingToken], null, log);
    return removed.map(Number);
  }
}
