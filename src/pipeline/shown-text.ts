// The texts of a compile result that the compiler built from variables and that people read back
// (the pipeline and job views, shown to guests): secret variable values must not survive in them.
// The caller, which knows the secrets and how to mask them, hands the function that does.
import type { CompiledJob, CompileResult, Diagnostic } from './types.js';

type Scrub = (text: string) => string;

function scrubJob(job: CompiledJob, scrub: Scrub): CompiledJob {
  const out: CompiledJob = {
    ...job,
    tags: job.tags.map(scrub),
    resourceGroup: job.resourceGroup === null ? null : scrub(job.resourceGroup),
    artifacts: job.artifacts && job.artifacts.name !== undefined ? { ...job.artifacts, name: scrub(job.artifacts.name) } : job.artifacts,
    cache: job.cache.map((c) => ({
      ...c,
      key: typeof c.key === 'string' ? scrub(c.key) : { ...c.key, ...(c.key.prefix === undefined ? {} : { prefix: scrub(c.key.prefix) }) },
      fallbackKeys: c.fallbackKeys.map(scrub),
    })),
    environment: job.environment && {
      ...job.environment,
      name: scrub(job.environment.name),
      ...(job.environment.url === undefined ? {} : { url: scrub(job.environment.url) }),
    },
  };
  if (job.idTokens) {
    out.idTokens = Object.fromEntries(
      Object.entries(job.idTokens).map(([name, t]) => [name, { aud: Array.isArray(t.aud) ? t.aud.map(scrub) : scrub(t.aud) }]),
    );
  }
  return out;
}

function scrubDiagnostic(d: Diagnostic, scrub: Scrub): Diagnostic {
  return { ...d, file: scrub(d.file), message: scrub(d.message) };
}

/**
 * `result` with `scrub` applied to every variable-expanded field (workflow:name, environment,
 * resource_group, artifacts:name, cache keys, tags, id_tokens audiences) and to every diagnostic
 * (an include path built from a variable is echoed in errors). Scripts and variables are kept as
 * written: they are expanded only on the agent, whose log is masked.
 */
export function scrubShownText(result: CompileResult, scrub: Scrub): CompileResult {
  if (result.ok) {
    const { pipeline } = result;
    return {
      ok: true,
      pipeline: {
        ...pipeline,
        name: pipeline.name === null ? null : scrub(pipeline.name),
        jobs: pipeline.jobs.map((j) => scrubJob(j, scrub)),
        warnings: pipeline.warnings.map((d) => scrubDiagnostic(d, scrub)),
      },
    };
  }
  if (result.skipped) return { ...result, reason: scrub(result.reason), warnings: result.warnings.map((d) => scrubDiagnostic(d, scrub)) };
  return {
    ...result,
    errors: result.errors.map((d) => scrubDiagnostic(d, scrub)),
    warnings: result.warnings.map((d) => scrubDiagnostic(d, scrub)),
  };
}
