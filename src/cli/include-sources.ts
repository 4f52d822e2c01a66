// Where `tandem exec` and `tandem lint` read files that a pipeline includes from outside its repository.
import { dirname, join, resolve } from 'node:path';
import { IncludeResolver, MirrorCache, normalizeRepoUrl } from '../source/index.js';
import { CliError } from './api-client.js';

export interface IncludeFlags {
  includeSource?: string[];
  forgeUrl?: string;
}

/**
 * include:project and include:component read from `--include-source group/name=URL` (a git URL or
 * a local path), else from `--forge-url`; remote files and templates are fetched as on a server.
 * Mirrors live in the exec state directory beside the pipeline file.
 */
export function includeReader(file: string, flags: IncludeFlags) {
  const sources = new Map<string, string>();
  for (const entry of flags.includeSource ?? []) {
    const eq = entry.indexOf('=');
    if (eq <= 0 || eq === entry.length - 1) throw new CliError(`--include-source ${entry}: expected group/name=URL`);
    // As a repository's URL is read: a local path is taken from where the command runs, whatever the
    // pipeline file's directory.
    let url: string;
    try {
      url = normalizeRepoUrl(entry.slice(eq + 1));
    } catch (err) {
      throw new CliError(`--include-source ${entry}: ${(err as Error).message}`);
    }
    sources.set(entry.slice(0, eq).replace(/^\/+|\/+$/g, ''), url);
  }
  const resolver = new IncludeResolver({
    mirrors: new MirrorCache(join(dirname(resolve(file)), '.tandem-exec', 'mirrors')),
    forge: flags.forgeUrl ? { url: flags.forgeUrl } : null,
    sources,
  });
  return resolver.reader({ forge: true });
}
