// Service level objectives: Tandem's own (built in, measured from its tandem_* metrics) and those
// of deployed services, declared in the server's tandem.yml under `slos:` with PromQL queries. Each
// SLI is an error ratio over a window; this module turns it into the PromQL of that ratio.
import { z } from 'zod';
import { SLO_PERIODS, scaledWindowMs, type SliWindow, type SloPeriod } from './burn.js';

/** The placeholder for the window in a declared SLO's queries (Sloth's spelling, so its specs carry over). */
export const WINDOW_PLACEHOLDER = '{{.window}}';

/** A counter's series: name, and labels that must match (anchored regular expressions, PromQL's =~). */
export interface Series {
  metric: string;
  match?: Record<string, string>;
}

export type Sli =
  /** Declared: PromQL for the bad events and for all events, each with {{.window}} in its ranges. */
  | { kind: 'promql'; errors: string; total: string }
  /** Counters: errors over total, both computable by Tandem itself from its own metrics. */
  | { kind: 'events'; errors: Series; total: Series }
  /** A histogram: events slower than `threshold` seconds (a bucket bound) are errors. */
  | { kind: 'latency'; metric: string; selector: string; threshold: number };

export interface Slo {
  name: string;
  description: string;
  /** Percent of good events, e.g. 99.9. */
  objective: number;
  period: SloPeriod;
  repo: string | null;
  environment: string | null;
  builtin: boolean;
  runbookUrl: string | null;
  /** Deploys to the SLO's environment wait (as for a protected one) while its error budget is spent. */
  freezeDeploys: boolean;
  sli: Sli;
}

/** The SLOs Tandem promises about itself (docs/slo.md explains each). */
export const BUILTIN_SLOS: readonly Slo[] = [
  {
    name: 'api-availability',
    description: 'API requests answered without a server error (5xx)',
    objective: 99.9,
    period: '30d',
    repo: null,
    environment: null,
    builtin: true,
    runbookUrl: null,
    freezeDeploys: false,
    sli: {
      kind: 'events',
      errors: { metric: 'tandem_http_requests_total', match: { status: '5..' } },
      total: { metric: 'tandem_http_requests_total' },
    },
  },
  {
    name: 'job-pickup',
    description: 'Jobs claimed by an agent within 10 s of becoming pending',
    objective: 99,
    period: '30d',
    repo: null,
    environment: null,
    builtin: true,
    runbookUrl: null,
    freezeDeploys: false,
    sli: { kind: 'latency', metric: 'tandem_job_queue_wait_seconds', selector: '', threshold: 10 },
  },
  {
    name: 'pipeline-system-errors',
    description: 'Pipelines that did not fail because of Tandem (lost agents, API or storage failures, stale claims)',
    objective: 99.5,
    period: '30d',
    repo: null,
    environment: null,
    builtin: true,
    runbookUrl: null,
    freezeDeploys: false,
    sli: {
      kind: 'events',
      errors: { metric: 'tandem_pipeline_failures_total', match: { cause: 'system' } },
      total: { metric: 'tandem_pipelines_total' },
    },
  },
  {
    name: 'webhook-latency',
    description: 'Webhook deliveries that became a pipeline within 10 s',
    objective: 99,
    period: '30d',
    repo: null,
    environment: null,
    builtin: true,
    runbookUrl: null,
    freezeDeploys: false,
    sli: { kind: 'latency', metric: 'tandem_webhook_to_pipeline_seconds', selector: '', threshold: 10 },
  },
];

function selector(series: Series, extra = ''): string {
  const matchers = Object.entries(series.match ?? {}).map(([label, re]) => `${label}=~${JSON.stringify(re)}`);
  if (extra) matchers.push(extra);
  return matchers.length > 0 ? `{${matchers.join(',')}}` : '';
}

/** The bucket bound as Prometheus clients write it in `le` (10, 0.25). */
function le(threshold: number): string {
  return String(threshold);
}

/** PromQL for the bad events and all events per second over `window`. */
export function sliQueries(sli: Sli, window: string): { errors: string; total: string } {
  switch (sli.kind) {
    case 'promql':
      return { errors: sli.errors.replaceAll(WINDOW_PLACEHOLDER, window), total: sli.total.replaceAll(WINDOW_PLACEHOLDER, window) };
    case 'events':
      return {
        // No error series at all (no 5xx yet) must read as no errors, not as no data.
        errors: `sum(rate(${sli.errors.metric}${selector(sli.errors)}[${window}])) or vector(0)`,
        total: `sum(rate(${sli.total.metric}${selector(sli.total)}[${window}]))`,
      };
    case 'latency': {
      const sel = sli.selector.trim();
      const count = `sum(rate(${sli.metric}_count${sel ? `{${sel}}` : ''}[${window}]))`;
      const fast = `sum(rate(${sli.metric}_bucket{${sel ? `${sel},` : ''}le="${le(sli.threshold)}"}[${window}]))`;
      return { errors: `${count} - ${fast}`, total: count };
    }
  }
}

/** A window as a PromQL range: as written at scale 1, else its scaled length in seconds or milliseconds. */
export function promRange(window: SliWindow | SloPeriod, scale = 1): string {
  if (scale === 1) return window;
  const ms = Math.max(1, Math.round(scaledWindowMs(window, scale)));
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The error ratio over `window` as one PromQL expression. */
export function errorRatioQuery(sli: Sli, window: string): string {
  const q = sliQueries(sli, window);
  return `(${q.errors}) / (${q.total})`;
}

// ---- Declared SLOs (tandem.yml `slos:`) ----

const windowQuery = z
  .string()
  .min(1)
  .refine((q) => q.includes(WINDOW_PLACEHOLDER), {
    message: `must use ${WINDOW_PLACEHOLDER} as its range, e.g. rate(http_requests_total[${WINDOW_PLACEHOLDER}])`,
  });

const sliSchema = z
  .object({
    errors: windowQuery.optional(),
    good: windowQuery.optional(),
    total: windowQuery.optional(),
    latency: z
      .object({
        metric: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'expected a histogram metric name without _bucket'),
        /** PromQL label matchers, e.g. job="shop",route!="/health". */
        selector: z.string().default(''),
        /** Seconds; must be one of the histogram's bucket bounds. */
        threshold: z.number().positive(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((sli, ctx) => {
    const ratio = sli.errors !== undefined || sli.good !== undefined || sli.total !== undefined;
    if (sli.latency && ratio) ctx.addIssue({ code: 'custom', message: 'give either latency, or total with errors or good, not both' });
    else if (!sli.latency && (sli.total === undefined || (sli.errors === undefined) === (sli.good === undefined))) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected total with exactly one of errors or good (PromQL), or latency: {metric, threshold}',
      });
    }
  });

const sloSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'expected lowercase letters, digits, ".", "_" or "-"'),
    description: z.string().optional(),
    repo: z.string().min(1),
    environment: z.string().min(1).optional(),
    objective: z
      .number()
      .lt(100, 'a percentage below 100, e.g. 99.9')
      .refine((v) => v >= 1, { message: 'a percentage, e.g. 99.9 (0.999 would mean 0.999 %)' }),
    window: z.enum(SLO_PERIODS).default('30d'),
    runbookUrl: z.string().url().optional(),
    /** The error budget policy, enforced: deploys to the environment wait while the budget is spent. */
    freezeDeploys: z.boolean().default(false),
    sli: sliSchema,
  })
  .strict()
  .refine((slo) => !slo.freezeDeploys || slo.environment !== undefined, {
    path: ['freezeDeploys'],
    message: 'freezes the deploys of an environment: give the SLO an environment',
  });

export type SloConfig = z.infer<typeof sloSchema>;

/** `slos:` of tandem.yml; TANDEM_SLOS may hold the same list as JSON. */
export const sloListSchema = z
  .preprocess((v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  }, z.array(sloSchema))
  .superRefine((list, ctx) => {
    const seen = new Set(BUILTIN_SLOS.map((s) => s.name));
    list.forEach((slo, i) => {
      if (seen.has(slo.name))
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `"${slo.name}" is taken (${BUILTIN_SLOS.some((b) => b.name === slo.name) ? 'a built-in SLO' : 'declared twice'})`,
        });
      seen.add(slo.name);
    });
  });

export function declaredSlo(c: SloConfig): Slo {
  const { sli } = c;
  let model: Sli;
  if (sli.latency) model = { kind: 'latency', ...sli.latency };
  else if (sli.errors !== undefined) model = { kind: 'promql', errors: sli.errors, total: sli.total! };
  else model = { kind: 'promql', errors: `(${sli.total!}) - (${sli.good!})`, total: sli.total! };
  return {
    name: c.name,
    description: c.description ?? `${c.repo}${c.environment ? `/${c.environment}` : ''}: ${c.objective}% over ${c.window}`,
    objective: c.objective,
    period: c.window,
    repo: c.repo,
    environment: c.environment ?? null,
    builtin: false,
    runbookUrl: c.runbookUrl ?? null,
    freezeDeploys: c.freezeDeploys,
    sli: model,
  };
}

/** The built-in SLOs followed by the declared ones. */
export function allSlos(declared: readonly SloConfig[], options: { builtin?: boolean } = {}): Slo[] {
  return [...(options.builtin === false ? [] : BUILTIN_SLOS), ...declared.map(declaredSlo)];
}
