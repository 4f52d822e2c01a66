// `tandem lint`: compile a pipeline file from disk as if it had been pushed to the default branch.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { compilePipeline } from './compile.js';
import { predefinedVariables } from './predefined.js';
import type { CompileContext, CompileResult, DeployBlockCheck, Diagnostic } from './types.js';

export interface LintOptions {
  /** Branch the lint pretends to run on; default `main`. */
  defaultBranch?: string;
  /** Extra variables (override the defaults), e.g. to lint a tag or a merge request pipeline. */
  variables?: Record<string, string>;
  /** The deploy parser's check of `deploy:` blocks (src/deploy's checkDeployBlock); `tandem lint` passes it. */
  checkDeployBlock?: DeployBlockCheck;
  /** Reads include:project, component, remote and template files; without it they are skipped with a warning. */
  readIncludeFile?: CompileContext['readIncludeFile'];
}

export interface LintResult {
  /** True when the file compiles (a pipeline skipped by workflow:rules is still valid). */
  ok: boolean;
  /** Errors then warnings, file names as given to lintFile (included files relative to it). */
  diagnostics: Diagnostic[];
  result: CompileResult;
}

const SKIP_DIRS = new Set(['.git', 'node_modules']);
const MAX_FILES = 20000;

/** Repository files relative to `root`, for rules:exists and wildcard includes. */
async function listRepoFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(path.join(root, dir), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (out.length >= MAX_FILES) return;
      const rel = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory() && !SKIP_DIRS.has(e.name)) await walk(rel);
      else if (e.isFile()) out.push(rel);
    }
  };
  await walk('');
  return out;
}

/** Lints a pipeline file; `include: local` paths resolve against the directory holding it. */
export async function lintFile(file: string, options: LintOptions = {}): Promise<LintResult> {
  const root = path.dirname(file);
  const configName = path.basename(file);
  const content = await readFile(file, 'utf8');
  const branch = options.defaultBranch ?? 'main';
  const variables = {
    ...predefinedVariables({
      sha: '0'.repeat(40),
      beforeSha: null,
      ref: branch,
      isTag: false,
      defaultBranch: branch,
      pipelineId: 1,
      pipelineSource: 'push',
      pipelineCreatedAt: new Date(),
      repoName: path.basename(path.resolve(root)),
      repoUrl: `file://${path.resolve(root)}`,
      serverUrl: 'http://localhost',
      configPath: configName,
    }),
    ...options.variables,
  };
  const result = await compilePipeline(configName, content, {
    variables,
    changedFiles: async () => null,
    readFile: async (p) => {
      const resolved = path.resolve(root, p);
      if (!resolved.startsWith(path.resolve(root) + path.sep)) return null;
      return readFile(resolved, 'utf8').catch(() => null);
    },
    listFiles: () => listRepoFiles(root),
    checkDeployBlock: options.checkDeployBlock,
    readIncludeFile: options.readIncludeFile,
  });
  const shown = (d: Diagnostic): Diagnostic => ({ ...d, file: d.file === configName ? file : path.join(root, d.file) });
  const errors = !result.ok && !result.skipped ? result.errors : [];
  const warnings = result.ok ? result.pipeline.warnings : result.warnings;
  return { ok: errors.length === 0, diagnostics: [...errors, ...warnings].map(shown), result };
}
