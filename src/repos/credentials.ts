// A repository's credential for git: a token for an http(s) URL (stored as the URL's credentials,
// `url_credentials`, which a URL's `user:token@` also fills) or an SSH deploy key with the host keys
// it may be used with (`ssh_key`). One at a time; sealed with the keyring and bound to the
// repository's id, so no value is ever stored, shown or logged in plain text. Who receives them:
// the server's mirrors (ls-remote, fetch, polling, include:project) and, in a job's payload, the
// agent that checks that job out (docs/security.md).
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { SSH_KEY, URL_CREDENTIALS } from '../auth/index.js';
import { DomainError } from '../errors.js';
import {
  knownHostName,
  parseDeployKey,
  parseKnownHosts,
  sshHostOf,
  type GitCredentials,
  type SshKeyCredentials,
  type UrlCredentials,
} from '../source/index.js';
import { jsonColumn, type Database, type Repo } from '../store/index.js';
import type { RepoSecretsContext } from './sealed.js';

/** A token's username when none is given: GitHub's for tokens; GitLab and Gitea take any name with a token. */
const DEFAULT_TOKEN_USERNAME = 'x-access-token';

/** A credential as the API takes it. */
export type RepoCredentialInput =
  { type: 'token'; username?: string; token: string } | { type: 'ssh'; privateKey: string; knownHosts: string };

/** A credential checked against the repository's URL: what is sealed, and the deploy key's public half. */
export type RepoCredential = { type: 'token'; basic: UrlCredentials } | { type: 'ssh'; key: SshKeyCredentials; publicKey: string };

function isHttp(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/**
 * Checks a credential for a repository URL (normalised, without credentials): a token is for an
 * http(s) URL, a deploy key for an ssh one, with known hosts naming its host. Refuses with the
 * field at fault.
 */
export function checkRepoCredential(url: string, input: RepoCredentialInput): RepoCredential {
  if (input.type === 'token') {
    if (!isHttp(url))
      throw new DomainError('invalid', `credentials: a token is for an https:// URL; ${url} is reached otherwise (ssh: use type "ssh")`);
    return { type: 'token', basic: { username: input.username ?? DEFAULT_TOKEN_USERNAME, password: input.token } };
  }
  const target = sshHostOf(url);
  if (target === null)
    throw new DomainError(
      'invalid',
      `credentials: a deploy key is for an ssh URL (ssh://git@host/path or git@host:path); ${url} is not one${isHttp(url) ? ' (https: use type "token")' : ''}`,
    );
  const key = parseDeployKey(input.privateKey);
  const { knownHosts } = parseKnownHosts(input.knownHosts, knownHostName(target.host, target.port));
  return { type: 'ssh', key: { privateKey: key.privateKey, knownHosts }, publicKey: key.publicKey };
}

/** What git authenticates with, from a checked credential. */
export function gitCredentialsFrom(credential: RepoCredential | null): GitCredentials | null {
  return credential === null ? null : credential.type === 'token' ? credential.basic : credential.key;
}

/** The credential a URL carried as `user:password@`, as a token credential. */
export function urlCredential(basic: UrlCredentials | null): RepoCredential | null {
  return basic === null ? null : { type: 'token', basic };
}

/**
 * Stores a repository's credential (or with null, removes it), replacing the one it had: every
 * credential column is written in one statement, the secret parts sealed and bound to the id.
 */
export async function saveRepoCredential(ctx: RepoSecretsContext, repoId: number, credential: RepoCredential | null): Promise<Repo> {
  const seal = (plaintext: string, column: typeof URL_CREDENTIALS) => ctx.secrets.keyring.seal(plaintext, column, { id: repoId });
  const token = credential?.type === 'token' ? await seal(JSON.stringify(credential.basic), URL_CREDENTIALS) : null;
  const ssh = credential?.type === 'ssh' ? await seal(JSON.stringify(credential.key), SSH_KEY) : null;
  return ctx.store.db
    .updateTable('repos')
    .set({
      url_credentials: token?.value ?? null,
      url_credentials_key_id: token?.keyId ?? null,
      ssh_key: ssh?.value ?? null,
      ssh_key_key_id: ssh?.keyId ?? null,
      ssh_public_key: credential?.type === 'ssh' ? credential.publicKey : null,
      ssh_known_hosts: credential?.type === 'ssh' ? credential.key.knownHosts : null,
    })
    .where('id', '=', repoId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

// Read once decrypted: the sealed texts are the JSON saveRepoCredential wrote.
const urlCredentials = jsonColumn('repos', 'url_credentials', z.looseObject({ username: z.string(), password: z.string() }));
const sshKey = jsonColumn('repos', 'ssh_key', z.looseObject({ privateKey: z.string(), knownHosts: z.string() }));

type CredentialColumns = Pick<Repo, 'id' | 'url_credentials' | 'url_credentials_key_id' | 'ssh_key' | 'ssh_key_key_id'>;

/** A repository's credential for git, decrypted; null when it has none. */
export async function gitCredentialsOf(ctx: RepoSecretsContext, repo: CredentialColumns): Promise<GitCredentials | null> {
  const { keyring } = ctx.secrets;
  if (repo.ssh_key !== null) return sshKey(await keyring.open(repo.ssh_key, repo.ssh_key_key_id, SSH_KEY, repo), repo.id);
  if (repo.url_credentials !== null)
    return urlCredentials(await keyring.open(repo.url_credentials, repo.url_credentials_key_id, URL_CREDENTIALS, repo), repo.id);
  return null;
}

/** For the server's mirrors: the credential of a URL, from the first repository registered with it that has one. */
export function gitCredentialsByUrl(ctx: RepoSecretsContext): (url: string) => Promise<GitCredentials | null> {
  return async (url) => {
    const repo = await credentialedRepoAt(ctx, url);
    return repo ? gitCredentialsOf(ctx, repo) : null;
  };
}

/** The first repository at this URL with a credential. */
async function credentialedRepoAt(ctx: Pick<RepoSecretsContext, 'store'>, url: string): Promise<CredentialColumns | undefined> {
  return ctx.store.db
    .selectFrom('repos')
    .select(['id', 'url_credentials', 'url_credentials_key_id', 'ssh_key', 'ssh_key_key_id'])
    .where('url', '=', url)
    .where((eb) => eb.or([eb('url_credentials', 'is not', null), eb('ssh_key', 'is not', null)]))
    .orderBy('id')
    .executeTakeFirst();
}

/**
 * The other repositories at this URL, and whether each has a credential. They share one mirror
 * (on the server and on each agent), so what one repository's credential fetched, all of them
 * read: the API lets only their maintainers tie them together (src/server/routes/repos.ts).
 */
export async function reposSharingUrl(
  db: Kysely<Database>,
  url: string,
  except: number | null,
): Promise<{ id: number; name: string; credentialed: boolean }[]> {
  let q = db.selectFrom('repos').select(['id', 'name', 'url_credentials', 'ssh_key']).where('url', '=', url);
  if (except !== null) q = q.where('id', '!=', except);
  const rows = await q.orderBy('id').execute();
  return rows.map((r) => ({ id: r.id, name: r.name, credentialed: r.url_credentials !== null || r.ssh_key !== null }));
}
