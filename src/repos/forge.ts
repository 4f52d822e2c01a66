// Where a repository's commit statuses go: the forge, its API root, the project there and the
// credential, a token or a GitHub App's id and private key. The secrets are sealed with the keyring
// and bound to the repository's id like its webhook secret; the API never shows them again.
import { createHash, createPrivateKey } from 'node:crypto';
import { FORGE_APP_KEY, FORGE_TOKEN } from '../auth/index.js';
import { DomainError } from '../errors.js';
import type { ForgeConnection } from '../source/index.js';
import type { ForgeStatuses, ForgeType, Repo } from '../store/index.js';
import type { RepoSecretsContext } from './sealed.js';

/** The API root of each forge's hosted service; a self-hosted one names its own (`apiUrl`). */
export const DEFAULT_FORGE_API_URLS: Partial<Record<ForgeType, string>> = {
  github: 'https://api.github.com',
  gitlab: 'https://gitlab.com/api/v4',
  bitbucket: 'https://api.bitbucket.org/2.0',
};

export interface ForgeSettingsInput {
  type: ForgeType;
  apiUrl?: string;
  project: string;
  /** Write-only; absent: keep the stored one (while type and apiUrl stay). */
  token?: string;
  appId?: string;
  /** PEM; write-only like the token. */
  privateKey?: string;
  installationId?: number | null;
  statuses?: ForgeStatuses;
}

function invalid(field: string, message: string): DomainError {
  return new DomainError('invalid', `forge.${field}: ${message}`);
}

/** `owner/name` for the forges that address a repository so; GitLab also takes a numeric id or a group path. */
function checkProject(type: ForgeType, project: string): void {
  const segments = project.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) throw invalid('project', `"${project}" is not a project path`);
  if (type !== 'gitlab' && segments.length !== 2) {
    throw invalid('project', `${type} names a repository as owner/name (Bitbucket: workspace/repo_slug or PROJECT/repo), not "${project}"`);
  }
}

function checkPrivateKey(pem: string): void {
  try {
    createPrivateKey(pem);
  } catch {
    throw invalid('privateKey', "not a PEM private key (the GitHub App's .pem file)");
  }
}

/** The columns of the forge settings `input` on top of `repo`'s (null: no forge), with secrets sealed. */
async function forgeColumns(ctx: RepoSecretsContext, repo: Repo, input: ForgeSettingsInput | null): Promise<Partial<Repo>> {
  if (input === null) {
    return {
      forge_type: null,
      forge_api_url: null,
      forge_project: null,
      forge_token: null,
      forge_token_key_id: null,
      forge_app_id: null,
      forge_app_key: null,
      forge_app_key_key_id: null,
      forge_installation_id: null,
      forge_statuses: 'pipeline',
    };
  }
  const apiUrl = (input.apiUrl ?? DEFAULT_FORGE_API_URLS[input.type])?.replace(/\/+$/, '');
  if (apiUrl === undefined) throw invalid('apiUrl', `required for ${input.type} (the API root, e.g. https://gitea.example.com/api/v1)`);
  checkProject(input.type, input.project);
  if (input.type !== 'github' && (input.appId !== undefined || input.privateKey !== undefined)) {
    throw invalid('appId', 'a GitHub App credential is for GitHub only');
  }
  if (input.privateKey !== undefined) checkPrivateKey(input.privateKey);
  // A stored credential is kept only while it would go to the same place: never to another host.
  const samePlace = repo.forge_type === input.type && repo.forge_api_url === apiUrl;
  const sealed = async (plain: string | undefined, column: typeof FORGE_TOKEN, stored: string | null, storedKey: string | null) => {
    if (plain !== undefined) return ctx.secrets.keyring.seal(plain, column, { id: repo.id });
    return samePlace && stored !== null ? { value: stored, keyId: storedKey } : null;
  };
  const token = await sealed(input.token, FORGE_TOKEN, repo.forge_token, repo.forge_token_key_id);
  const appKey = await sealed(input.privateKey, FORGE_APP_KEY, repo.forge_app_key, repo.forge_app_key_key_id);
  const appId = input.appId ?? (samePlace ? repo.forge_app_id : null);
  if ((appId === null) !== (appKey === null)) {
    throw invalid(appId === null ? 'appId' : 'privateKey', 'a GitHub App credential needs both appId and privateKey');
  }
  if (token === null && appKey === null) {
    throw invalid(
      'token',
      samePlace ? 'a token (or a GitHub App appId and privateKey) is required' : 'required: the forge or its apiUrl changed',
    );
  }
  return {
    forge_type: input.type,
    forge_api_url: apiUrl,
    forge_project: input.project,
    forge_token: token?.value ?? null,
    forge_token_key_id: token?.keyId ?? null,
    forge_app_id: appId,
    forge_app_key: appKey?.value ?? null,
    forge_app_key_key_id: appKey?.keyId ?? null,
    forge_installation_id: input.installationId !== undefined ? input.installationId : samePlace ? repo.forge_installation_id : null,
    // Not a secret: kept when the forge moves.
    forge_statuses: input.statuses ?? (repo.forge_type !== null ? repo.forge_statuses : 'pipeline'),
  };
}

/** Sets (or with null, removes) where the repository's commit statuses go; returns the updated row. */
export async function saveRepoForge(ctx: RepoSecretsContext, repo: Repo, input: ForgeSettingsInput | null): Promise<Repo> {
  const set = await forgeColumns(ctx, repo, input);
  return ctx.store.db.updateTable('repos').set(set).where('id', '=', repo.id).returningAll().executeTakeFirstOrThrow();
}

/** A repository with a forge: its columns as the outbox handler reads them. */
export type RepoForgeRow = Pick<
  Repo,
  | 'id'
  | 'forge_type'
  | 'forge_api_url'
  | 'forge_project'
  | 'forge_token'
  | 'forge_token_key_id'
  | 'forge_app_id'
  | 'forge_app_key'
  | 'forge_app_key_key_id'
  | 'forge_installation_id'
>;

/**
 * Changes whenever the settings or the credential change (a new seal has a new IV): a client built
 * for the old ones is not used for the new.
 */
export function forgeCredentialVersion(repo: RepoForgeRow): string {
  const parts = [
    repo.forge_type,
    repo.forge_api_url,
    repo.forge_project,
    repo.forge_token,
    repo.forge_app_id,
    repo.forge_app_key,
    repo.forge_installation_id,
  ];
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

/** The repository's forge with its credential decrypted (never log it); null when it has none. */
export async function forgeConnectionOf(ctx: RepoSecretsContext, repo: RepoForgeRow): Promise<ForgeConnection | null> {
  if (repo.forge_type === null || repo.forge_api_url === null || repo.forge_project === null) return null;
  const keyring = ctx.secrets.keyring;
  const connection: ForgeConnection = { type: repo.forge_type, apiUrl: repo.forge_api_url, project: repo.forge_project };
  if (repo.forge_token !== null) connection.token = await keyring.open(repo.forge_token, repo.forge_token_key_id, FORGE_TOKEN, repo);
  if (repo.forge_app_id !== null && repo.forge_app_key !== null) {
    connection.app = {
      appId: repo.forge_app_id,
      privateKey: await keyring.open(repo.forge_app_key, repo.forge_app_key_key_id, FORGE_APP_KEY, repo),
      ...(repo.forge_installation_id === null ? {} : { installationId: repo.forge_installation_id }),
    };
  }
  return connection;
}
