// Libraries that only some commands use (the S3 SDK, mail, SAML, a forge's client) are loaded on
// first use: every `tandem` command imports the parts that declare them, and loading them all up
// front cost each command ~0.3 s before it did anything (a 20-job `tandem exec` paid it twice over
// its jobs). Kept synchronous, so the code that uses them keeps its shape; these packages ship
// CommonJS, which require() loads without the ES module loader.
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

/** `load()` returns the package, required the first time it is called. Type it with `typeof import('…')`. */
export function lazyRequire<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(id) as T);
}
