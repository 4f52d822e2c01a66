// Monitoring costs: a /metrics scrape of a server with 1,000 repositories against one with 10 (its
// series are labelled by route pattern, provider, environment, never by repository, so the scrape
// should not grow with them), the database hook's cost per statement, and per SLO the time to
// generate its rules, to check them with promtool, and to evaluate it from 30 days of counts.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { SLI_WINDOWS, evaluateBurn, type Counts, type SliWindow } from '../src/monitor/burn.js';
import { Metrics } from '../src/monitor/metrics.js';
import { sloRuleFile } from '../src/monitor/rules.js';
import { evaluateBuiltinSlos } from '../src/monitor/sli-recorder.js';
import { BUILTIN_SLOS, allSlos, sloListSchema } from '../src/monitor/slo.js';
import { openStore } from '../src/store/index.js';
import { makeRemote } from '../test/support/git.js';
import { fmt, LiveServer, median, tempDir, timed, type BenchResult } from './common.js';

const SCRAPES = 50;
const STATEMENTS = 20_000;
const DECLARED_SLOS = 100;
const PROVIDERS = ['github', 'gitlab', 'gitea', 'bitbucket'];

interface Scrape {
  repos: number;
  ms: number;
  bytes: number;
  series: number;
}

/** A server with `repos` repositories, each used a little (API pages, a refused webhook, a DORA query), scraped SCRAPES times. */
async function scrapeWith(repos: number, remote: string, dir: string, log: (line: string) => void): Promise<Scrape> {
  const server = await LiveServer.start('server', path.join(dir, `data-${repos}`));
  try {
    for (let i = 0; i < repos; i++) {
      const name = `repo-${i}`;
      await server.api('POST', '/api/v1/repos', { name, url: remote, defaultBranch: 'main', webhookSecret: 'bench-secret' });
      await server.api('GET', `/api/v1/repos/${name}/pipelines`);
      await server.api('GET', `/api/v1/repos/${name}/environments`);
      await server.api('GET', `/api/v1/repos/${name}/dora`);
      await fetch(`${server.url}/api/v1/hooks/${PROVIDERS[i % PROVIDERS.length]}/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      }).then((r) => r.arrayBuffer());
    }
    log(`metrics: ${repos} repositories registered and used`);
    await fetch(`${server.url}/metrics`).then((r) => r.text());
    const times: number[] = [];
    let text = '';
    for (let i = 0; i < SCRAPES; i++) {
      const t = await timed(async () => (await fetch(`${server.url}/metrics`)).text());
      times.push(t.ms);
      text = t.value;
    }
    const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    return { repos, ms: median(times), bytes: Buffer.byteLength(text), series };
  } finally {
    await server.stop();
  }
}

/** Microseconds per statement: `select` by primary key on an in-memory database, with and without the metrics hook. */
async function statementCost(observed: boolean): Promise<number> {
  const metrics = new Metrics();
  const store = await openStore(':memory:', observed ? { observer: metrics.storeObserver } : {});
  try {
    await store.db.insertInto('counters').values({ name: 'x', value: 1 }).execute();
    const { ms } = await timed(async () => {
      for (let i = 0; i < STATEMENTS; i++) await store.db.selectFrom('counters').select('value').where('name', '=', 'x').executeTakeFirst();
    });
    return (ms * 1000) / STATEMENTS;
  } finally {
    await store.close();
  }
}

/** 30 days of per-minute counts for every built-in SLI, as a busy server leaves them. */
export async function fillCounts(dbPath: string, now: number): Promise<number> {
  const store = await openStore(dbPath);
  let rows = 0;
  try {
    await store.transaction(async (trx) => {
      for (const slo of BUILTIN_SLOS) {
        const values = [];
        for (let m = 0; m < 30 * 1440; m++) values.push({ sli: slo.name, bucket: now - m * 60_000, errors: m % 7, total: 1000 });
        for (let i = 0; i < values.length; i += 5000)
          await trx
            .insertInto('sli_counts')
            .values(values.slice(i, i + 5000))
            .execute();
        rows += values.length;
      }
    });
  } finally {
    await store.close();
  }
  return rows;
}

function promtoolPath(): string | null {
  const found = (process.env.PATH ?? '').split(path.delimiter).find((d) => d !== '' && existsSync(path.join(d, 'promtool')));
  return found ? path.join(found, 'promtool') : null;
}

export async function metrics(log: (line: string) => void): Promise<BenchResult> {
  const tmp = await tempDir('metrics');
  try {
    const git = await makeRemote(tmp.dir);
    await git.commit({ '.gitlab-ci.yml': 'job:\n  script: [echo ok]\n' }, 'initial');
    await git.push('main');
    const few = await scrapeWith(10, git.bare, tmp.dir, log);
    const many = await scrapeWith(1000, git.bare, tmp.dir, log);
    log(`metrics: scrape ${fmt(few.ms)} ms with 10 repositories, ${fmt(many.ms)} ms with 1000`);

    // Alternated, so a noisy neighbour hits both alike.
    const plain: number[] = [];
    const hooked: number[] = [];
    for (let i = 0; i < 3; i++) {
      plain.push(await statementCost(false));
      hooked.push(await statementCost(true));
    }
    const [p, h] = [median(plain), median(hooked)];
    log(`metrics: ${fmt(p, 1)} µs per statement without the hook, ${fmt(h, 1)} µs with`);

    const declared = sloListSchema.parse(
      Array.from({ length: DECLARED_SLOS }, (_, i) => ({
        name: `service-${i}`,
        repo: `repo-${i}`,
        environment: 'production',
        objective: 99.9,
        sli: {
          errors: `sum(rate(http_requests_total{job="s${i}",code=~"5.."}[{{.window}}]))`,
          total: `sum(rate(http_requests_total{job="s${i}"}[{{.window}}]))`,
        },
      })),
    );
    const slos = allSlos(declared);
    const generate = await timed(async () => sloRuleFile(slos));
    const rulesFile = path.join(tmp.dir, 'rules.yml');
    await writeFile(rulesFile, generate.value);
    const promtool = promtoolPath();
    const check = promtool ? await timed(() => promisify(execFile)(promtool, ['check', 'rules', rulesFile])) : null;

    const now = Math.floor(Date.now() / 60_000) * 60_000;
    const dbPath = path.join(tmp.dir, 'counts.db');
    const rows = await fillCounts(dbPath, now);
    const store = await openStore(dbPath);
    const evaluations: number[] = [];
    try {
      await sql`analyze`.execute(store.db);
      for (let i = 0; i < 10; i++) evaluations.push((await timed(() => evaluateBuiltinSlos(store.db, now))).ms);
    } finally {
      await store.close();
    }
    const evaluation = median(evaluations);
    const windows = Object.fromEntries(SLI_WINDOWS.map((w) => [w, { errors: 3, total: 1000 }])) as Record<SliWindow, Counts>;
    const pure = await timed(async () => {
      for (let i = 0; i < 100_000; i++) evaluateBurn(99.9, '30d', { windows, period: { errors: 3, total: 1000 } });
    });

    const perSlo = (ms: number, n: number) => fmt(ms / n, 3);
    return {
      id: 'metrics',
      title: 'Monitoring: /metrics scrapes, the database hook, SLO rules and evaluation',
      header: ['what', 'measure', 'value', '× peer'],
      rows: [
        ['/metrics scrape, 10 repositories (peer)', `ms, median of ${SCRAPES}`, fmt(few.ms), '1.00'],
        ['/metrics scrape, 1,000 repositories', `ms, median of ${SCRAPES}`, fmt(many.ms), fmt(many.ms / few.ms)],
        ['/metrics body, 10 repositories (peer)', 'bytes (series)', `${few.bytes} (${few.series})`, '1.00'],
        ['/metrics body, 1,000 repositories', 'bytes (series)', `${many.bytes} (${many.series})`, fmt(many.bytes / few.bytes)],
        ['SQLite statement without the hook (peer)', `µs, median of 3 × ${STATEMENTS.toLocaleString('en')}`, fmt(p, 1), '1.00'],
        ['SQLite statement with tandem_db_* recorded', `µs, median of 3 × ${STATEMENTS.toLocaleString('en')}`, fmt(h, 1), fmt(h / p)],
        [`rules generated, ${slos.length} SLOs`, 'ms per SLO', perSlo(generate.ms, slos.length), '-'],
        [`promtool check rules, ${slos.length} SLOs`, 'ms per SLO', check ? perSlo(check.ms, slos.length) : 'promtool missing', '-'],
        [
          `built-in evaluation from ${rows.toLocaleString('en')} minute rows (30 days × ${BUILTIN_SLOS.length} SLIs)`,
          'ms per SLO, median of 10',
          perSlo(evaluation, BUILTIN_SLOS.length),
          '-',
        ],
        ['burn-rate table alone (evaluateBurn)', 'µs per SLO', fmt((pure.ms * 1000) / 100_000, 2), '-'],
      ],
      notes: [
        `Every repository was registered and used through the API (pipelines, environments and DORA pages, a refused webhook), so each route, provider and status that can appear did; the series are labelled by route pattern, never by repository, so the body stays the same size (${many.series} series against ${few.series}). Each scrape also counts agents in the database for \`tandem_agents\`.`,
        `The database hook costs ${fmt(h - p, 1)} µs per statement on an in-memory SQLite (a primary-key select, the cheapest statement there is): one histogram observation through a cached child, no label lookup.`,
        `Evaluating a built-in SLO is one indexed query summing its rows per window (${SLI_WINDOWS.length} windows and the period) and the burn-rate table; a leader evaluating every minute spends ${fmt(evaluation, 1)} ms on all ${BUILTIN_SLOS.length}.`,
      ],
    };
  } finally {
    await tmp.remove();
  }
}
