// The reader of `jobs.spec`: the compiled job every claim, advance and view reads. Its schema is the
// CompiledJob type (the compiler's output, src/pipeline/types.ts) with what older releases left out
// defaulted, and it keeps keys it does not know so a spec reaches the agent as it was stored.
import { z } from 'zod';
import { CACHE_POLICIES, type CompiledJob } from '../pipeline/index.js';
import { jsonColumn, type Job } from '../store/index.js';

const strings = z.array(z.string());
const stringMap = z.record(z.string(), z.string());
const outcome = z.enum(['on_success', 'on_failure', 'always']);

const compiledJob: z.ZodType<CompiledJob> = z.looseObject({
  name: z.string(),
  baseName: z.string(),
  stage: z.string(),
  stageIndex: z.number(),
  script: strings,
  beforeScript: strings,
  afterScript: strings,
  variables: stringMap,
  needs: z.array(z.looseObject({ job: z.string(), artifacts: z.boolean(), optional: z.boolean() })).nullable(),
  dependencies: strings.nullable(),
  when: z.enum(['on_success', 'on_failure', 'always', 'manual', 'delayed']),
  startInSeconds: z.number().nullable(),
  allowFailure: z.boolean(),
  allowFailureExitCodes: z.array(z.number()),
  retry: z.looseObject({ max: z.number(), when: strings, exitCodes: z.array(z.number()) }),
  timeoutSeconds: z.number().nullable(),
  artifacts: z
    .looseObject({
      name: z.string().optional(),
      paths: strings,
      exclude: strings,
      untracked: z.boolean(),
      when: outcome,
      expireInSeconds: z.number().nullable(),
      dotenv: strings.optional(),
    })
    .nullable(),
  cache: z.array(
    z.looseObject({
      key: z.union([z.string(), z.looseObject({ files: strings, prefix: z.string().optional() })]),
      paths: strings,
      policy: z.union([z.enum(CACHE_POLICIES), z.templateLiteral(['$', z.string()])]),
      when: outcome,
      untracked: z.boolean(),
      fallbackKeys: strings,
    }),
  ),
  parallel: z.looseObject({ index: z.number(), total: z.number(), matrix: stringMap.nullable() }).nullable(),
  resourceGroup: z.string().nullable(),
  interruptible: z.boolean(),
  environment: z
    .looseObject({
      name: z.string(),
      url: z.string().optional(),
      action: z.enum(['start', 'prepare', 'stop', 'verify', 'access']),
      deploymentTier: z.string().optional(),
      extra: z.record(z.string(), z.unknown()),
    })
    .nullable(),
  // Added with deployments (migration 003): specs stored before have no `deploy`.
  deploy: z.unknown().default(null),
  tags: strings,
  image: z.unknown().default(null),
  services: z.array(z.unknown()).nullable(),
  position: z.looseObject({ file: z.string(), line: z.number(), column: z.number() }),
  inheritVariables: z.union([z.literal(false), strings]).optional(),
  idTokens: z.record(z.string(), z.looseObject({ aud: z.union([z.string(), strings]) })).optional(),
});

const jobSpec = jsonColumn('jobs', 'spec', compiledJob);

// A job's spec never changes once stored, yet every advance of a pipeline reads all its jobs:
// parsing each spec once instead of once per advance keeps a big pipeline from costing time
// quadratic in its size. Keyed by id and checked against the text, so another database (tests,
// `tandem exec`) reusing an id never gets a stale spec. Bounded; forgetting only costs a parse.
// Callers share the parsed object: treat it as read-only.
const parsedSpecs = new Map<number, { text: string; spec: CompiledJob }>();
const PARSED_SPECS_MAX = 20_000;

/** The job's compiled spec, validated once per row. */
export function readJobSpec(job: Pick<Job, 'id' | 'spec'>): CompiledJob {
  const hit = parsedSpecs.get(job.id);
  if (hit && hit.text === job.spec) return hit.spec;
  const spec = jobSpec(job.spec, job.id);
  if (parsedSpecs.size >= PARSED_SPECS_MAX) parsedSpecs.clear();
  parsedSpecs.set(job.id, { text: job.spec, spec });
  return spec;
}

const jobDotenv = jsonColumn('jobs', 'dotenv', stringMap);

/** The variables of the job's dotenv report; none when it had no report. */
export function readJobDotenv(job: Pick<Job, 'id' | 'dotenv'>): Record<string, string> {
  return job.dotenv === null ? {} : jobDotenv(job.dotenv, job.id);
}
