// A repository's container registry: where its jobs push images, as GitLab tells jobs about its own
// (CI_REGISTRY, CI_REGISTRY_IMAGE, CI_REGISTRY_USER, CI_REGISTRY_PASSWORD). The password is sealed
// with the keyring and bound to the repository's id; the API never shows it again.
import { REGISTRY_PASSWORD } from '../auth/index.js';
import { DomainError } from '../errors.js';
import type { Repo } from '../store/index.js';
import { repoPath } from './repos.js';
import type { RepoSecretsContext } from './sealed.js';

export interface RegistrySettingsInput {
  /** `host[:port]`, as image references name a registry. */
  host: string;
  /** The project path under the host (CI_REGISTRY_IMAGE); absent: the repository's path. */
  path?: string | null;
  username?: string | null;
  /** Write-only; absent: keep the stored one (while host and username stay). */
  password?: string | null;
}

function invalid(field: string, message: string): DomainError {
  return new DomainError('invalid', `registry.${field}: ${message}`);
}

/** The columns of `input` on top of `repo`'s (null: no registry), with the password sealed. */
async function registryColumns(ctx: RepoSecretsContext, repo: Repo, input: RegistrySettingsInput | null): Promise<Partial<Repo>> {
  if (input === null) {
    return { registry_host: null, registry_path: null, registry_username: null, registry_password: null, registry_password_key_id: null };
  }
  const username = input.username === undefined ? repo.registry_username : input.username;
  // A stored password is kept only while it would go to the same place as the same user.
  const samePlace = repo.registry_host === input.host && repo.registry_username === username;
  let password: { value: string; keyId: string | null } | null = null;
  if (input.password) password = await ctx.secrets.keyring.seal(input.password, REGISTRY_PASSWORD, { id: repo.id });
  else if (input.password === undefined && samePlace && repo.registry_password !== null)
    password = { value: repo.registry_password, keyId: repo.registry_password_key_id };
  else if (input.password === undefined && repo.registry_password !== null)
    throw invalid('password', 'required (or null for none): the host or username changed, and the stored one goes nowhere else');
  if (password !== null && !username) throw invalid('username', 'required with a password');
  return {
    registry_host: input.host,
    registry_path: input.path === undefined ? repo.registry_path : input.path,
    registry_username: username ?? null,
    registry_password: password?.value ?? null,
    registry_password_key_id: password?.keyId ?? null,
  };
}

/** Sets (or with null, removes) the repository's registry; returns the updated row. */
export async function saveRepoRegistry(ctx: RepoSecretsContext, repo: Repo, input: RegistrySettingsInput | null): Promise<Repo> {
  const set = await registryColumns(ctx, repo, input);
  return ctx.store.db.updateTable('repos').set(set).where('id', '=', repo.id).returningAll().executeTakeFirstOrThrow();
}

/** CI_REGISTRY_IMAGE: GitLab's `registry/project path`, lowercase as image names must be. */
export function registryImageOf(repo: Pick<Repo, 'registry_host' | 'registry_path' | 'name' | 'path'>): string | null {
  if (repo.registry_host === null) return null;
  return `${repo.registry_host}/${(repo.registry_path ?? repoPath(repo)).toLowerCase()}`;
}

/** The registry variables a job of the repository sees besides the password; none without a registry. */
export function registryVariablesOf(repo: Repo): Record<string, string> {
  const image = registryImageOf(repo);
  if (repo.registry_host === null || image === null) return {};
  return {
    CI_REGISTRY: repo.registry_host,
    CI_REGISTRY_IMAGE: image,
    ...(repo.registry_username === null ? {} : { CI_REGISTRY_USER: repo.registry_username }),
  };
}

/** The registry password, decrypted (never log it); null when none is set. */
export async function registryPasswordOf(
  ctx: RepoSecretsContext,
  repo: Pick<Repo, 'id' | 'registry_password' | 'registry_password_key_id'>,
): Promise<string | null> {
  if (repo.registry_password === null) return null;
  return ctx.secrets.keyring.open(repo.registry_password, repo.registry_password_key_id, REGISTRY_PASSWORD, repo);
}
