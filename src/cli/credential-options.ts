// The options of `tandem repo add|edit` that set how git authenticates to a repository: a token
// (https) or an SSH deploy key with its known hosts (ssh). Secrets are read from files, never
// taken on the command line, where `ps` and shell history would show them.
import type { Command } from 'commander';
import { CliError } from './api-client.js';
import { readSecretFile } from './prompt.js';

export interface CredentialCliOptions {
  tokenFile?: string;
  username?: string;
  sshKeyFile?: string;
  knownHostsFile?: string;
  /** `--no-credentials`: commander sets false; absent otherwise. */
  credentials?: boolean;
}

export function withCredentialOptions(command: Command): Command {
  return command
    .option('--token-file <file>', 'https: a file holding an access token for git (deploy or project token)')
    .option('--username <name>', 'https: the username sent with the token (default x-access-token)')
    .option('--ssh-key-file <file>', 'ssh: a deploy key (OpenSSH private key without a passphrase)')
    .option('--known-hosts-file <file>', "ssh: the host's known_hosts line(s), e.g. from ssh-keyscan (required with --ssh-key-file)");
}

/** The request's `credentials` field from the options: undefined when they name none, null for --no-credentials. */
export async function credentialsBody(opts: CredentialCliOptions): Promise<Record<string, string> | null | undefined> {
  if (opts.credentials === false) {
    if (opts.tokenFile || opts.sshKeyFile)
      throw new CliError('--no-credentials removes the credential: give no --token-file or --ssh-key-file with it');
    return null;
  }
  if (opts.tokenFile && opts.sshKeyFile) throw new CliError('give --token-file (https) or --ssh-key-file (ssh), not both');
  if (opts.tokenFile) {
    const token = (await readSecretFile(opts.tokenFile, '--token-file')).trim();
    return { type: 'token', token, ...(opts.username ? { username: opts.username } : {}) };
  }
  if (opts.username) throw new CliError('--username goes with --token-file');
  if (opts.knownHostsFile && !opts.sshKeyFile) throw new CliError('--known-hosts-file goes with --ssh-key-file');
  if (!opts.sshKeyFile) return undefined;
  if (!opts.knownHostsFile)
    throw new CliError(
      "--ssh-key-file needs --known-hosts-file: the host's key line(s), so that ssh connects to no other host (ssh-keyscan HOST prints them; check their fingerprint)",
    );
  return {
    type: 'ssh',
    privateKey: await readSecretFile(opts.sshKeyFile, '--ssh-key-file'),
    knownHosts: await readSecretFile(opts.knownHostsFile, '--known-hosts-file'),
  };
}

/** How the repository authenticates, for the one-line summaries of add and edit. */
export function credentialLine(credentials: { type: string; keyFingerprint?: string } | null | undefined): string {
  if (!credentials) return '';
  return credentials.type === 'ssh' ? `; deploy key ${credentials.keyFingerprint ?? ''}` : '; token set';
}
