export { deleteRepo, findRepoByName, insertRepo, listRepos, updateRepo } from './repos.js';
export type { NewRepo } from './repos.js';
export { deleteVariable, findVariable, listVariables } from './variables.js';
export { sealRepoSecret } from './sealed.js';
export { readBranchFilter, readKnownRefs, readTagFilter } from '../store/index.js';
export type { RepoSecretsContext } from './sealed.js';
