// Deployments: a job's `deploy:` block (parseDeploySpec) run by the agent after the job's script
// (runDeployment): strategies, verification and rollback, over the local, ssh and script targets.
export type { BlueGreenSlot, DeploySpec, StrategySpec } from './spec.js';
export { parseDeploySpec } from './spec.js';
export { DeployConfigError } from './config-error.js';
export type { DeploymentInput, DeploymentResult, Phase, PreviousRelease } from './deployment.js';
export { runDeployment } from './run.js';
export { HOST_VARIABLES } from './checks.js';
export type { ReleaseInput, ServiceSpec, TargetSpec } from './targets/index.js';
export { StaleFencingTokenError } from './targets/index.js';
export type { Check } from './verify/index.js';
export { expandDeployBlock } from './variables.js';
export { checkDeployBlock, PIPELINE_COMPILE_WORKER } from './compile-check.js';
export { parseTargetSpec } from './targets/spec.js';
