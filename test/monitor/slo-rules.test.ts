// SLO rules and the built-in evaluator against the same synthetic traffic: the generated rule file
// passes the real `promtool check rules`, and `promtool test rules` fires exactly the alerts that
// Tandem's own evaluator computes from the same counts (a fast burn pages, a slow one files a ticket,
// none fires nothing). Declared SLOs are checked at their config's bad values too.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { BURN_ALERTS, SLI_WINDOWS, evaluateBurn, windowMs, type Counts, type Severity, type SliWindow } from '../../src/monitor/burn.js';
import { ALERT_NAME, ratioRecord, sloRuleFile, sloRuleGroup } from '../../src/monitor/rules.js';
import { BUILTIN_SLOS, allSlos, sloListSchema, type Slo } from '../../src/monitor/slo.js';
import { tandem } from '../cli/helpers.js';
import { promtool, promtoolSkipReason } from './promtool.js';

const DECLARED = [
  {
    name: 'shop-availability',
    repo: 'shop',
    environment: 'production',
    objective: 99.5,
    window: '28d',
    sli: {
      errors: 'sum(rate(http_requests_total{job="shop",code=~"5.."}[{{.window}}]))',
      total: 'sum(rate(http_requests_total{job="shop"}[{{.window}}]))',
    },
  },
  {
    name: 'shop-latency',
    repo: 'shop',
    objective: 99,
    sli: { latency: { metric: 'http_request_duration_seconds', selector: 'job="shop"', threshold: 0.3 } },
  },
];
const SLOS = allSlos(sloListSchema.parse(DECLARED));
const slo = (name: string): Slo => SLOS.find((s) => s.name === name)!;

/** Per minute: events, and how many of them were bad. */
interface Phase {
  minutes: number;
  total: number;
  errors: number;
}
interface Scenario {
  name: string;
  slo: Slo;
  phases: Phase[];
  /** Leave out the bad events' series entirely (no 5xx ever happened). */
  noErrorSeries?: boolean;
  checks: { at: number; fires: Severity[]; ratios?: Partial<Record<SliWindow, number>> }[];
}

const SCENARIOS: Scenario[] = [
  {
    name: 'fast burn of the API: 10% errors for an hour pages, and the page clears soon after the burn stops',
    slo: slo('api-availability'),
    phases: [
      { minutes: 60, total: 1000, errors: 100 },
      { minutes: 40, total: 1000, errors: 0 },
    ],
    checks: [
      { at: 60, fires: ['page', 'ticket'], ratios: { '5m': 0.1, '1h': 0.1 } },
      { at: 100, fires: ['ticket'], ratios: { '5m': 0, '30m': 0 } },
    ],
  },
  {
    name: 'slow burn of the API: 5x the budget for 7 hours files a ticket and pages nobody',
    slo: slo('api-availability'),
    phases: [{ minutes: 420, total: 1000, errors: 5 }],
    checks: [{ at: 400, fires: ['ticket'], ratios: { '1h': 0.005, '6h': 0.005 } }],
  },
  {
    name: 'a burn of 7x pages through the 6h and 30m windows alone (1h stays below 14.4x)',
    slo: slo('api-availability'),
    phases: [{ minutes: 100, total: 1000, errors: 7 }],
    checks: [{ at: 90, fires: ['page', 'ticket'], ratios: { '1h': 0.007 } }],
  },
  {
    name: 'no burn: no server error ever, not even a 5xx series, fires nothing and records a ratio of 0',
    slo: slo('api-availability'),
    noErrorSeries: true,
    phases: [{ minutes: 120, total: 1000, errors: 0 }],
    checks: [{ at: 100, fires: [], ratios: { '5m': 0, '1h': 0 } }],
  },
  {
    name: 'job pickup: half the jobs waiting over 10 s pages',
    slo: slo('job-pickup'),
    phases: [{ minutes: 90, total: 20, errors: 10 }],
    checks: [{ at: 60, fires: ['page', 'ticket'], ratios: { '1h': 0.5 } }],
  },
  {
    name: 'pipeline system errors: 1 in 100 pipelines failing because of Tandem (2x its budget) files a ticket',
    slo: slo('pipeline-system-errors'),
    phases: [{ minutes: 100, total: 100, errors: 1 }],
    checks: [{ at: 90, fires: ['ticket'], ratios: { '6h': 0.01 } }],
  },
  {
    name: 'a declared ratio SLO (99.5% over 28d) at 2x its budget files a ticket with its repository and environment',
    slo: slo('shop-availability'),
    phases: [{ minutes: 100, total: 1000, errors: 10 }],
    checks: [{ at: 90, fires: ['ticket'], ratios: { '6h': 0.01 } }],
  },
  {
    name: 'a declared latency SLO: 20% of requests slower than 300 ms pages',
    slo: slo('shop-latency'),
    phases: [{ minutes: 90, total: 1000, errors: 200 }],
    checks: [{ at: 60, fires: ['page', 'ticket'], ratios: { '5m': 0.2 } }],
  },
];

/** Cumulative counts at each minute, 0 at minute 0. */
function cumulative(phases: Phase[], pick: (p: Phase) => number): number[] {
  const out = [0];
  for (const p of phases) for (let i = 0; i < p.minutes; i++) out.push(out[out.length - 1] + pick(p));
  return out;
}

/** The series Prometheus would have scraped for the scenario, named as the SLO's SLI reads them. */
function inputSeries(s: Scenario): { series: string; values: string }[] {
  const total = cumulative(s.phases, (p) => p.total);
  const bad = cumulative(s.phases, (p) => p.errors);
  const good = total.map((t, i) => t - bad[i]);
  const values = (v: number[]) => v.join(' ');
  switch (s.slo.name) {
    case 'api-availability':
      return [
        { series: 'tandem_http_requests_total{route="/api/v1/repos",method="GET",status="200"}', values: values(good) },
        ...(s.noErrorSeries
          ? []
          : [{ series: 'tandem_http_requests_total{route="/api/v1/repos",method="GET",status="503"}', values: values(bad) }]),
      ];
    case 'job-pickup':
      return [
        { series: 'tandem_job_queue_wait_seconds_bucket{le="10"}', values: values(good) },
        { series: 'tandem_job_queue_wait_seconds_bucket{le="+Inf"}', values: values(total) },
        { series: 'tandem_job_queue_wait_seconds_count', values: values(total) },
      ];
    case 'pipeline-system-errors':
      return [
        { series: 'tandem_pipelines_total{status="success"}', values: values(good) },
        { series: 'tandem_pipelines_total{status="failed"}', values: values(bad) },
        { series: 'tandem_pipeline_failures_total{cause="system",reason="runner_system_failure"}', values: values(bad) },
      ];
    case 'shop-availability':
      return [
        { series: 'http_requests_total{job="shop",code="200"}', values: values(good) },
        { series: 'http_requests_total{job="shop",code="500"}', values: values(bad) },
      ];
    case 'shop-latency':
      return [
        { series: 'http_request_duration_seconds_bucket{job="shop",le="0.3"}', values: values(good) },
        { series: 'http_request_duration_seconds_count{job="shop"}', values: values(total) },
      ];
    default:
      throw new Error(`no series for ${s.slo.name}`);
  }
}

/** What Tandem's evaluator gets: errors and totals per window ending at minute `at`. */
function windowCounts(s: Scenario, at: number): { windows: Record<SliWindow, Counts>; period: Counts } {
  const total = cumulative(s.phases, (p) => p.total);
  const bad = cumulative(s.phases, (p) => p.errors);
  const over = (ms: number): Counts => {
    const from = Math.max(0, at - ms / 60_000);
    return { errors: bad[at] - bad[from], total: total[at] - total[from] };
  };
  return {
    windows: Object.fromEntries(SLI_WINDOWS.map((w) => [w, over(windowMs(w))])) as Record<SliWindow, Counts>,
    period: over(windowMs(s.slo.period)),
  };
}

function expectedAlerts(s: Scenario, fires: Severity[]) {
  const group = sloRuleGroup(s.slo);
  return fires.map((severity) => {
    const rule = group.rules.find((r) => 'alert' in r && r.labels.severity === severity);
    if (!rule || !('alert' in rule)) throw new Error(`no ${severity} rule for ${s.slo.name}`);
    return { exp_labels: rule.labels, exp_annotations: rule.annotations };
  });
}

describe('the burn-rate table', () => {
  test('the evaluator fires what each scenario expects, from counts per window', () => {
    for (const s of SCENARIOS) {
      for (const check of s.checks) {
        const result = evaluateBurn(s.slo.objective, s.slo.period, windowCounts(s, check.at));
        const firing = [...new Set(result.alerts.filter((a) => a.firing).map((a) => a.severity))];
        assert.deepEqual(firing, check.fires, `${s.name} at ${check.at} min`);
        assert.equal(result.firing, check.fires[0] ?? null);
        for (const [w, ratio] of Object.entries(check.ratios ?? {}))
          assert.equal(result.windows[w as SliWindow].errorRatio, ratio, `${s.name}: ${w}`);
      }
    }
  });

  test("budget: burn rates per window and what is left of the period's budget", () => {
    const ones = (errors: number, total: number) => ({ errors, total });
    const windows = Object.fromEntries(SLI_WINDOWS.map((w) => [w, ones(2, 1000)])) as Record<SliWindow, Counts>;
    const result = evaluateBurn(99.9, '30d', { windows, period: ones(25, 100_000) });
    assert.equal(result.errorBudget, 0.001);
    assert.equal(result.windows['1h'].burnRate, 2);
    assert.equal(result.budget.consumed, 0.25);
    assert.equal(result.budget.remaining, 0.75);
    const idle = evaluateBurn(99.9, '30d', {
      windows: Object.fromEntries(SLI_WINDOWS.map((w) => [w, ones(0, 0)])) as Record<SliWindow, Counts>,
      period: ones(0, 0),
    });
    assert.equal(idle.windows['5m'].burnRate, null, 'no traffic: no burn rate');
    assert.equal(idle.budget.remaining, 1);
    assert.equal(idle.firing, null);
  });

  test('every SLO records each window of the table and alerts on its thresholds', () => {
    const group = sloRuleGroup(slo('api-availability'));
    const records = group.rules.flatMap((r) => ('record' in r ? [r.record] : []));
    for (const w of [...SLI_WINDOWS, '30d' as const]) assert.ok(records.includes(ratioRecord(w)), w);
    const page = group.rules.find((r) => 'alert' in r && r.labels.severity === 'page');
    assert.ok(page && 'alert' in page);
    for (const a of BURN_ALERTS.filter((r) => r.severity === 'page')) {
      assert.ok(
        page.expr.includes(`${ratioRecord(a.long)}{slo="api-availability"} > ${Number((a.factor * 0.001).toPrecision(12))}`),
        page.expr,
      );
    }
    assert.equal(page.annotations.runbook_url, 'docs/slo.md#api-availability');
    assert.equal(
      sloRuleGroup(slo('shop-availability'), { runbookBase: 'https://wiki.example/slo' }).rules.find((r) => 'alert' in r)?.labels
        .environment,
      'production',
    );
  });
});

describe('declared SLOs in tandem.yml', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-slo-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function load(slos: unknown[]): Promise<ReturnType<typeof loadConfig>> {
    const file = path.join(dir, 'tandem.yml');
    await writeFile(file, stringify({ slos }));
    return loadConfig({ config: file }, {});
  }
  const refused = async (slos: unknown[], message: RegExp) =>
    assert.rejects(load(slos), (err: Error) => err instanceof ConfigError && message.test(err.message));

  test('are read with their defaults', async () => {
    const config = await load(DECLARED);
    assert.equal(config.slos.length, 2);
    assert.equal(config.slos[1].window, '30d');
    assert.deepEqual(
      loadConfig({}, { TANDEM_SLOS: JSON.stringify(DECLARED) }).slos.map((s) => s.name),
      ['shop-availability', 'shop-latency'],
    );
    assert.deepEqual(loadConfig({}, {}).slos, []);
  });

  test('bad values are refused naming the SLO field', async () => {
    const base = DECLARED[0];
    await refused(
      [{ ...base, sli: { errors: 'sum(rate(x[5m]))', total: 'sum(rate(y[{{.window}}]))' } }],
      /slos\.0\.sli\.errors.*\{\{\.window\}\}/,
    );
    await refused([{ ...base, objective: 0.999 }], /slos\.0\.objective.*percentage/);
    await refused([{ ...base, objective: 100 }], /slos\.0\.objective/);
    await refused([{ ...base, window: '7d' }], /slos\.0\.window/);
    await refused([{ ...base, sli: { total: base.sli.total } }], /slos\.0\.sli.*exactly one of errors or good/);
    await refused([{ ...base, name: 'api-availability' }], /slos\.0\.name.*built-in/);
    await refused([base, base], /slos\.1\.name.*declared twice/);
    await refused([{ ...base, repo: undefined }], /slos\.0\.repo/);
    await refused([{ ...base, colour: 'red' }], /slos\.0.*colour/);
  });

  test('good/total becomes errors as total minus good', () => {
    const [s] = allSlos(
      sloListSchema.parse([{ ...DECLARED[0], sli: { good: 'sum(rate(ok[{{.window}}]))', total: 'sum(rate(all[{{.window}}]))' } }]),
      { builtin: false },
    );
    assert.deepEqual(s.sli, {
      kind: 'promql',
      errors: '(sum(rate(all[{{.window}}]))) - (sum(rate(ok[{{.window}}])))',
      total: 'sum(rate(all[{{.window}}]))',
    });
  });
});

describe('promtool', { skip: promtoolSkipReason() }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tandem-slo-rules-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('`tandem slo rules` prints a rule file that promtool accepts', async () => {
    const config = path.join(dir, 'tandem.yml');
    await writeFile(config, stringify({ slos: DECLARED }));
    const result = await tandem(['slo', 'rules', '--config', config]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, sloRuleFile(SLOS));
    await writeFile(path.join(dir, 'cli-rules.yml'), result.stdout);
    const check = await promtool(['check', 'rules', 'cli-rules.yml'], dir);
    const rulesPerSlo = SLI_WINDOWS.length + 1 + 2 + 3;
    assert.equal(check.code, 0, check.output);
    assert.match(check.output, new RegExp(`SUCCESS: ${rulesPerSlo * SLOS.length} rules found`));

    const builtinOnly = await tandem(['slo', 'rules']);
    assert.equal(builtinOnly.stdout, sloRuleFile(BUILTIN_SLOS));
    const bad = await tandem(['slo', 'rules', '--config', path.join(dir, 'missing.yml')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /missing\.yml: cannot read/);
  });

  test('promtool test rules fires the alerts the evaluator computes, scenario by scenario', async () => {
    // A rule file and a test file per SLO: promtool evaluates every rule of its file at each step, so
    // scenarios of one SLO need not pay for the others' rules.
    const files: string[] = [];
    for (const one of new Set(SCENARIOS.map((s) => s.slo))) {
      await writeFile(path.join(dir, `${one.name}.rules.yml`), sloRuleFile([one]));
      const tests = SCENARIOS.filter((s) => s.slo === one).map((s) => ({
        name: s.name,
        interval: '1m',
        input_series: inputSeries(s),
        alert_rule_test: s.checks.map((c) => ({ eval_time: `${c.at}m`, alertname: ALERT_NAME, exp_alerts: expectedAlerts(s, c.fires) })),
        promql_expr_test: s.checks.flatMap((c) =>
          Object.entries(c.ratios ?? {}).map(([w, value]) => {
            const series = `${ratioRecord(w as SliWindow)}{slo="${s.slo.name}"}`;
            const labels = {
              slo: s.slo.name,
              ...(s.slo.repo ? { repo: s.slo.repo } : {}),
              ...(s.slo.environment ? { environment: s.slo.environment } : {}),
            };
            // Rates are floating point: compared within 1e-9 (promtool compares exactly).
            return {
              expr: `abs(${series} - ${value}) < bool 1e-9`,
              eval_time: `${c.at}m`,
              exp_samples: [
                {
                  labels: `{${Object.entries(labels)
                    .map(([k, v]) => `${k}="${v}"`)
                    .join(',')}}`,
                  value: 1,
                },
              ],
            };
          }),
        ),
      }));
      files.push(`${one.name}.tests.yml`);
      await writeFile(
        path.join(dir, files.at(-1)!),
        stringify({ rule_files: [`${one.name}.rules.yml`], evaluation_interval: '1m', tests }, { lineWidth: 0 }),
      );
    }
    const run = await promtool(['test', 'rules', ...files], dir);
    assert.equal(run.code, 0, run.output);
    assert.equal(run.output.match(/SUCCESS/g)?.length, files.length, run.output);
  });

  test('promtool test rules fails when an expected alert does not fire (the check has teeth)', async () => {
    await writeFile(path.join(dir, 'rules.yml'), sloRuleFile([SCENARIOS[1].slo]));
    const slow = SCENARIOS[1];
    const wrong = [
      {
        name: 'a slow burn that does not page',
        interval: '1m',
        input_series: inputSeries(slow),
        alert_rule_test: [{ eval_time: '400m', alertname: ALERT_NAME, exp_alerts: expectedAlerts(slow, ['page', 'ticket']) }],
      },
    ];
    await writeFile(
      path.join(dir, 'wrong.yml'),
      stringify({ rule_files: ['rules.yml'], evaluation_interval: '1m', tests: wrong }, { lineWidth: 0 }),
    );
    const run = await promtool(['test', 'rules', 'wrong.yml'], dir);
    assert.equal(run.code, 1, run.output);
    assert.match(run.output, /FAILED/);
  });
});
