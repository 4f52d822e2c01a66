// The pipeline compiler's check of a job's `deploy:` block. The compiler imports no deploy code,
// so the callers that compile pipelines (the server, `tandem exec`, `tandem lint`) hand it this.
import { parseDeploySpec } from './spec.js';
import { deployBlockUsesVariables } from './variables.js';

/** A block naming job variables outside its commands is checked on the agent, once they are known. */
export function checkDeployBlock(value: unknown, path: string): void {
  if (!deployBlockUsesVariables(value)) parseDeploySpec(value, path);
}

/** The entry of compileIsolated's worker thread that checks deploy blocks (./compile-worker.ts). */
export const PIPELINE_COMPILE_WORKER = new URL('./compile-worker.js', import.meta.url);
