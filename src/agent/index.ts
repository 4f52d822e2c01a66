// The public surface of src/agent: other folders import these names from here.
export { Agent } from './agent.js';
export { runJob } from './job-runner.js';
export type { JobBackend, JobOutcome } from './job-runner.js';
