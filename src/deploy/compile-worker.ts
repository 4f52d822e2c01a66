// The worker thread of compileIsolated (src/pipeline/isolated-compile.ts), started from
// PIPELINE_COMPILE_WORKER: the compiler with the deploy block check, which cannot cross threads.
import { serveCompileRequest } from '../pipeline/index.js';
import { checkDeployBlock } from './compile-check.js';

await serveCompileRequest({ checkDeployBlock });
