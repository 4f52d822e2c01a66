// The worker thread of compileIsolated (src/pipeline/isolated-compile.ts), started from
// PIPELINE_COMPILE_WORKER: the compiler with the deploy block check, which cannot cross threads.
import { serveCompileRequest } from '../pipeline/index.js';
import { checkDeployBlock } from './compile-check.js';

// Not awaited at the top level: a spare worker waits for its request, and a module still evaluating
// (a pending top-level await) when the process exits crashes V8 (seen with Node 20).
void serveCompileRequest({ checkDeployBlock });
