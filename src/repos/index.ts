export {
  deleteRepo,
  findRepoByName,
  findRepoByPath,
  repoPath,
  insertRepo,
  listRepos,
  repoWantsRef,
  requireRepo,
  updateRepo,
} from './repos.js';
export type { NewRepo } from './repos.js';
export { deleteVariable, findVariable, listVariables, maskedVariableValues, repoVariablesFor, saveVariable } from './variables.js';
export type { VariableInput } from './variables.js';
export {
  checkRepoCredential,
  gitCredentialsByUrl,
  gitCredentialsFrom,
  gitCredentialsOf,
  reposSharingUrl,
  saveRepoCredential,
  urlCredential,
} from './credentials.js';
export type { RepoCredential, RepoCredentialInput } from './credentials.js';
export { saveWebhookSecret, sealRepoSecret, webhookSecretOf } from './sealed.js';
export type { RepoSecretsContext } from './sealed.js';
/** The row of a repository, as its operations take and return it. */
export type { Repo } from '../store/index.js';
export { includableProject, projectAccessRefusal } from './include-access.js';
export { DEFAULT_FORGE_API_URLS, forgeConnectionOf, forgeCredentialVersion, saveRepoForge } from './forge.js';
export type { ForgeSettingsInput, RepoForgeRow } from './forge.js';
export { registryImageOf, registryPasswordOf, registryVariablesOf, saveRepoRegistry } from './registry.js';
export type { RegistrySettingsInput } from './registry.js';
