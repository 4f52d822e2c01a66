// The forge options of `tandem repo add|edit`: where a repository's commit statuses go. The token
// and the GitHub App's private key are read from files, so they stay out of shell history and `ps`.
import type { Command } from 'commander';
import { CliError } from './api-client.js';
import { readSecretFile } from './prompt.js';

export interface ForgeCliOptions {
  forge?: string;
  forgeApiUrl?: string;
  forgeProject?: string;
  forgeTokenFile?: string;
  forgeAppId?: string;
  forgePrivateKeyFile?: string;
  forgeInstallationId?: string;
  statuses?: string;
}

export function withForgeOptions(cmd: Command): Command {
  return cmd
    .option('--forge <type>', 'send commit statuses to this forge: github, gitlab, gitea, bitbucket (none: stop)')
    .option('--forge-api-url <url>', "the forge's API root (default: GitHub's, GitLab.com's or Bitbucket Cloud's)")
    .option('--forge-project <project>', "the repository on the forge: owner/name, or GitLab's project id or path")
    .option('--forge-token-file <file>', 'a file holding the forge token (write-only: never shown again)')
    .option('--forge-app-id <id>', 'a GitHub App id: statuses go as Checks runs (with --forge-private-key-file)')
    .option('--forge-private-key-file <file>', "the GitHub App's private key (.pem)")
    .option('--forge-installation-id <id>', "the App's installation (default: looked up)")
    .option('--statuses <which>', 'pipeline (one status per pipeline) or jobs (one per job as well)');
}

/** The request's `forge` field: undefined when no forge option was given, null for `--forge none`. */
export async function forgeBody(opts: ForgeCliOptions): Promise<Record<string, unknown> | null | undefined> {
  if (opts.forge === 'none') return null;
  const given = [opts.forgeApiUrl, opts.forgeProject, opts.forgeTokenFile, opts.forgeAppId, opts.forgePrivateKeyFile, opts.statuses];
  if (opts.forge === undefined) {
    if (given.some((v) => v !== undefined)) throw new CliError('--forge TYPE is needed with the other --forge-* options and --statuses');
    return undefined;
  }
  if (opts.forgeProject === undefined) throw new CliError('--forge-project is required with --forge (owner/name)');
  return {
    type: opts.forge,
    apiUrl: opts.forgeApiUrl,
    project: opts.forgeProject,
    token: opts.forgeTokenFile === undefined ? undefined : (await readSecretFile(opts.forgeTokenFile, '--forge-token-file')).trim(),
    appId: opts.forgeAppId,
    privateKey:
      opts.forgePrivateKeyFile === undefined
        ? undefined
        : (await readSecretFile(opts.forgePrivateKeyFile, '--forge-private-key-file')).trim(),
    installationId: opts.forgeInstallationId === undefined ? undefined : Number(opts.forgeInstallationId),
    statuses: opts.statuses,
  };
}
