import { createHash } from 'node:crypto';
import { access, constants, mkdir, rename, writeFile } from 'node:fs/promises';
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

/**
 * The ssh options every host shares. Host keys are always checked (BatchMode fails rather than
 * asks): against the given known_hosts only when one is given, else OpenSSH's default files.
 */
function sharedOptions(spec: SshTargetSpec, workDir: string, cwd: string): (host: string) => Promise<string[]> {
  let knownHostsFile: Promise<string> | undefined;
  const knownHosts = (): Promise<string> => {
    const value = spec.knownHosts as string;
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

  return async (host) => {
    const options = ['-T', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'UpdateHostKeys=no', '-o', 'ConnectTimeout=15'];
    options.push('-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4');
    if (spec.knownHosts !== undefined) {
      const file = await knownHosts();
      await readable(file, 'known_hosts file', host);
      options.push('-o', `UserKnownHostsFile=${file}`, '-o', 'GlobalKnownHostsFile=/dev/null');
    }
    if (spec.identityFile !== undefined) {
      const identity = resolve(cwd, spec.identityFile);
      await readable(identity, 'identity_file', host);
      options.push('-i', identity, '-o', 'IdentitiesOnly=yes');
    }
    return options;
  };
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

/** One transport per host: the OpenSSH client runs the host script there. */
export function sshTransports(spec: SshTargetSpec, workDir: string, env: NodeJS.ProcessEnv, cwd: string): HostTransport[] {
  const options = sharedOptions(spec, workDir, cwd);
  const trusted =
    spec.knownHosts === undefined ? 'the default known_hosts files' : isKnownHostsText(spec.knownHosts) ? 'the known_hosts given in the pipeline' : `known_hosts file ${resolve(cwd, spec.knownHosts)}`;
  return spec.hosts.map((host) => ({
    name: host.name,
    dir: host.dir,
    env,
    explain: explainSsh(host, trusted),
    launch: async (argv) => ({
      command: 'ssh',
      args: [...(await options(host.name)), '-p', String(host.port), ...(host.user ? ['-l', host.user] : []), '--', host.host, argv.map(shellQuote).join(' ')],
    }),
  }));
}
