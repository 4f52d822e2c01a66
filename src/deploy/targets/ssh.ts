import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { shellQuote, type HostTransport } from './host-ops.js';
import { TargetError, type SshHostSpec, type SshTargetSpec } from './types.js';

/** known_hosts given as text rather than a path: key lines always hold spaces, paths hardly ever. */
function isKnownHostsText(value: string): boolean {
  return /\s/.test(value.trim());
}

async function readable(path: string, what: string, host: string): Promise<void> {
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new TargetError(host, `${host}: ${what} ${path} does not exist or is not readable`);
  }
}

function explainSsh(host: SshHostSpec, trusted: string): HostTransport['explain'] {
  return (exitCode, stderr) => {
    if (stderr.some((line) => line.includes('Host key verification failed'))) {
      return `the host key of ${host.host} port ${host.port} is not trusted by ${trusted}: refusing to connect`;
    }
    // 255 is ssh's own failure (connection, authentication); the remote command's codes pass through.
    if (exitCode === 255) return `ssh to ${host.user ? `${host.user}@` : ''}${host.host} port ${host.port} failed (exit code 255)`;
    return undefined;
  };
}

/** The hosts of an ssh target, and the end of the connections they keep open. */
export interface SshHosts {
  transports: HostTransport[];
  close(): Promise<void>;
}

function destination(host: SshHostSpec): string[] {
  return ['-p', String(host.port), ...(host.user ? ['-l', host.user] : []), '--', host.host];
}

/**
 * One transport per host: the OpenSSH client runs the host script there. Host keys are always
 * checked (BatchMode fails rather than asks), against the given known_hosts only when one is given,
 * else OpenSSH's default files. A deploy runs several operations per host, so the first opens a
 * master connection that the next ones reuse (ControlMaster) until close() or 15 s of disuse.
 */
export function sshHosts(spec: SshTargetSpec, workDir: string, env: NodeJS.ProcessEnv, cwd: string): SshHosts {
  const knownHostsValue = spec.knownHosts;
  let knownHostsFile: Promise<string> | undefined;
  const knownHosts = (value: string): Promise<string> => {
    if (!isKnownHostsText(value)) return Promise.resolve(resolve(cwd, value));
    // Named by content: concurrent hosts and later jobs share one file, and a write is never partial.
    knownHostsFile ??= (async () => {
      const file = join(workDir, `known_hosts-${createHash('sha256').update(value).digest('hex').slice(0, 16)}`);
      await mkdir(workDir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, value.endsWith('\n') ? value : `${value}\n`, { mode: 0o600 });
      await rename(tmp, file);
      return file;
    })();
    return knownHostsFile;
  };
  // Under the system temp dir: a socket path must stay under ~100 bytes, which a work dir may not.
  let controlDir: Promise<string> | undefined;
  const controlPath = async (): Promise<string> => join(await (controlDir ??= mkdtemp(join(tmpdir(), 'tandem-ssh-'))), '%C');

  const options = async (host: SshHostSpec): Promise<string[]> => {
    const args = ['-T', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'UpdateHostKeys=no', '-o', 'ConnectTimeout=15'];
    args.push('-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4');
    args.push('-o', 'ControlMaster=auto', '-o', `ControlPath=${await controlPath()}`, '-o', 'ControlPersist=15');
    if (knownHostsValue !== undefined) {
      const file = await knownHosts(knownHostsValue);
      await readable(file, 'known_hosts file', host.name);
      args.push('-o', `UserKnownHostsFile=${file}`, '-o', 'GlobalKnownHostsFile=/dev/null');
    }
    if (spec.identityFile !== undefined) {
      const identity = resolve(cwd, spec.identityFile);
      await readable(identity, 'identity_file', host.name);
      args.push('-i', identity, '-o', 'IdentitiesOnly=yes');
    }
    return args;
  };

  const trusted =
    knownHostsValue === undefined
      ? 'the default known_hosts files'
      : isKnownHostsText(knownHostsValue)
        ? 'the known_hosts given in the pipeline'
        : `known_hosts file ${resolve(cwd, knownHostsValue)}`;
  return {
    transports: spec.hosts.map((host) => ({
      name: host.name,
      dir: host.dir,
      env,
      explain: explainSsh(host, trusted),
      launch: async (argv) => ({ command: 'ssh', args: [...(await options(host)), ...destination(host), argv.map(shellQuote).join(' ')] }),
    })),
    async close() {
      if (!controlDir) return;
      const dir = await controlDir;
      controlDir = undefined;
      const path = join(dir, '%C');
      // `-O exit` ends a host's master connection; it fails harmlessly where none is open.
      await Promise.all(
        spec.hosts.map(
          (host) =>
            new Promise<void>((done) => {
              const ssh = spawn('ssh', ['-o', `ControlPath=${path}`, '-O', 'exit', ...destination(host)], { env, stdio: 'ignore' });
              ssh.once('error', () => done());
              ssh.once('close', () => done());
            }),
        ),
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
}
