// The registry options of `tandem repo add|edit`: the container registry a repository's jobs push
// to (CI_REGISTRY*). The password is read from a file, so it stays out of shell history and `ps`.
import type { Command } from 'commander';
import type { RepoJson } from '../api/index.js';
import { CliError } from './api-client.js';
import { readSecretFile } from './prompt.js';

export interface RegistryCliOptions {
  registry?: string;
  registryPath?: string;
  registryUser?: string;
  registryPasswordFile?: string;
}

export function withRegistryOptions(cmd: Command): Command {
  return cmd
    .option('--registry <host[:port]>', 'the container registry jobs push to, as CI_REGISTRY (none: remove)')
    .option('--registry-path <path>', "the image path under it, CI_REGISTRY_IMAGE = host/path (default: the repository's path)")
    .option('--registry-user <name>', 'CI_REGISTRY_USER')
    .option('--registry-password-file <file>', 'a file holding CI_REGISTRY_PASSWORD (write-only: never shown again)');
}

/** The request's `registry` field: undefined when no registry option was given, null for `--registry none`. */
export async function registryBody(opts: RegistryCliOptions): Promise<Record<string, unknown> | null | undefined> {
  if (opts.registry === 'none') return null;
  if (opts.registry === undefined) {
    if ([opts.registryPath, opts.registryUser, opts.registryPasswordFile].some((v) => v !== undefined))
      throw new CliError('--registry HOST is needed with the other --registry-* options');
    return undefined;
  }
  return {
    host: opts.registry,
    path: opts.registryPath,
    username: opts.registryUser,
    password:
      opts.registryPasswordFile === undefined
        ? undefined
        : (await readSecretFile(opts.registryPasswordFile, '--registry-password-file')).trim(),
  };
}

/** `; images go to HOST/PATH as USER` for the add/edit summary line. */
export function registryLine(repo: RepoJson): string {
  const r = repo.registry;
  return r ? `; images go to ${r.image}${r.username ? ` as ${r.username}${r.hasPassword ? '' : ' (no password)'}` : ''}` : '';
}
