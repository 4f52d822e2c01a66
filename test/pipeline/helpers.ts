import assert from 'node:assert/strict';
import { compilePipeline } from '../../src/pipeline/index.js';
import type { CompiledJob, CompiledPipeline, CompileResult, Diagnostic } from '../../src/pipeline/index.js';

export interface CompileOptions {
  files?: Record<string, string>;
  variables?: Record<string, string>;
  userVariables?: Record<string, string>;
  changedFiles?: string[] | null;
  listFiles?: boolean;
}

/** A push to `main` unless the test says otherwise. */
export const PUSH_MAIN: Record<string, string> = {
  CI: 'true',
  CI_COMMIT_BRANCH: 'main',
  CI_COMMIT_REF_NAME: 'main',
  CI_COMMIT_REF_SLUG: 'main',
  CI_DEFAULT_BRANCH: 'main',
  CI_PIPELINE_SOURCE: 'push',
};

export async function compile(yaml: string, options: CompileOptions = {}): Promise<CompileResult> {
  const files = options.files ?? {};
  return compilePipeline('.gitlab-ci.yml', yaml, {
    readFile: async (path) => files[path] ?? null,
    variables: options.variables ?? PUSH_MAIN,
    userVariables: options.userVariables,
    changedFiles: async () => options.changedFiles ?? null,
    listFiles: options.listFiles ? async () => Object.keys(files) : undefined,
  });
}

export async function compileOk(yaml: string, options?: CompileOptions): Promise<CompiledPipeline> {
  const result = await compile(yaml, options);
  if (!result.ok) {
    assert.fail(result.skipped ? `skipped: ${result.reason}` : result.errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n'));
  }
  return result.pipeline;
}

export async function compileErrors(yaml: string, options?: CompileOptions): Promise<Diagnostic[]> {
  const result = await compile(yaml, options);
  if (result.ok) assert.fail(`expected errors, got jobs ${result.pipeline.jobs.map((j) => j.name).join(', ')}`);
  if (result.skipped) assert.fail(`expected errors, got skipped: ${result.reason}`);
  return result.errors;
}

/** The single error, checked for position and a message fragment. */
export async function expectError(
  yaml: string,
  line: number,
  column: number,
  fragment: string | RegExp,
  options?: CompileOptions,
): Promise<Diagnostic> {
  const errors = await compileErrors(yaml, options);
  const found = errors.find((e) => (typeof fragment === 'string' ? e.message.includes(fragment) : fragment.test(e.message)));
  assert.ok(found, `no error matching ${String(fragment)} in:\n${errors.map((e) => `${e.line}:${e.column} ${e.message}`).join('\n')}`);
  assert.deepEqual([found.line, found.column], [line, column], found.message);
  return found;
}

export function job(pipeline: CompiledPipeline, name: string): CompiledJob {
  const found = pipeline.jobs.find((j) => j.name === name);
  assert.ok(found, `no job ${name}; jobs: ${pipeline.jobs.map((j) => j.name).join(', ')}`);
  return found;
}

export const names = (pipeline: CompiledPipeline): string[] => pipeline.jobs.map((j) => j.name);
