// The web UI: (a) the JavaScript a first visit loads (the entry script and its modulepreloads,
// gzipped at level 9) and the largest chunk loaded later; (b) a 500-job pipeline page in chromium,
// navigation start until all 500 job cards are in the DOM, against the same page with 50 jobs;
// (c) a live log line, from the moment the agent sends its chunk until it is on screen; (d) the
// Tests tab of a pipeline whose job reported 10,000 tests, until its first page of failures is in
// the DOM, against the same tab with 1,000 tests.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { WEB_DIR } from '../src/server/routes/web.js';
import { CHROMIUM, createUser, launchBrowser, newContext, signIn } from '../test/support/browser.js';
import { largeReport } from '../test/reports/junit-fixtures.js';
import { jobNamed, TestTandem } from '../test/support/tandem.js';
import { fmt, median, nowMs, percentile, type BenchResult } from './common.js';

const LOADS = 7;
const LIVE_LINES = 12;
const STAGES = 5;
const TARGET_INITIAL_KB = 300;
const TARGET_RENDER_MS = 1000;
const TARGET_LIVE_MS = 200;
const TARGET_TESTS_TAB_MS = 500;
/** One test in ten of largeReport fails; the tab lists them a hundred at a time. */
const FAILURES_PAGE = 100;

/** What the page scripts below leave on the page's window (functions passed to the page cannot be strings: the app's CSP forbids eval). */
interface PageGlobals {
  elementsAt?: number;
  markersAt?: Record<string, number>;
}

const gzKB = (bytes: Buffer) => gzipSync(bytes, { level: 9 }).length / 1024;

/** The entry script and modulepreloads of index.html (what a first visit loads), and every other chunk. */
async function bundleSizes(): Promise<{ initialKB: number; initialFiles: number; largestLazy: { name: string; kB: number } }> {
  const html = await readFile(path.join(WEB_DIR, 'index.html'), 'utf8');
  const initial = new Set<string>();
  for (const m of html.matchAll(/<script\b[^>]*\btype="module"[^>]*\bsrc="\/assets\/([^"]+\.js)"/g)) initial.add(m[1]);
  for (const m of html.matchAll(/<link\b[^>]*\brel="modulepreload"[^>]*\bhref="\/assets\/([^"]+\.js)"/g)) initial.add(m[1]);
  if (initial.size === 0) throw new Error(`${WEB_DIR}index.html names no entry script: build the web UI first (npm run build)`);
  let initialKB = 0;
  let largestLazy = { name: '', kB: 0 };
  for (const name of await readdir(path.join(WEB_DIR, 'assets'))) {
    if (!name.endsWith('.js')) continue;
    const kB = gzKB(await readFile(path.join(WEB_DIR, 'assets', name)));
    if (initial.has(name)) initialKB += kB;
    else if (kB > largestLazy.kB) largestLazy = { name, kB };
  }
  return { initialKB, initialFiles: initial.size, largestLazy };
}

/** STAGES stages of `perStage` manual jobs (nothing runs); every fifth job needs its peer in the stage before. */
function wideConfig(perStage: number): string {
  const stages = Array.from({ length: STAGES }, (_, s) => `stage${s + 1}`);
  let yml = `stages: [${stages.join(', ')}]\n`;
  for (let s = 0; s < STAGES; s++)
    for (let j = 0; j < perStage; j++) {
      yml += `s${s + 1}-job${j + 1}:\n  stage: ${stages[s]}\n  when: manual\n  script: [echo ${j}]\n`;
      if (s > 0 && j % 5 === 0) yml += `  needs: [s${s}-job${j + 1}]\n`;
    }
  return yml;
}

/** Milliseconds from navigation start until the page's element watch (elementWatch) fired. */
async function timeToElements(page: Page, url: string): Promise<number> {
  await page.goto(url);
  await page.waitForFunction(() => (globalThis as PageGlobals).elementsAt !== undefined, undefined, { timeout: 30_000, polling: 50 });
  return page.evaluate<number>('window.elementsAt');
}

/** A page script: notes performance.now() when the document first holds `count` elements of the class. */
const elementWatch = (className: string, count: number) => `
  new MutationObserver((_, observer) => {
    if (document.getElementsByClassName('${className}').length < ${count}) return;
    window.elementsAt = performance.now();
    observer.disconnect();
  }).observe(document, { childList: true, subtree: true });`;

/** A page script: the realtime clock when each `live-marker-N` first shows in the document. */
const MARKER_WATCH = `
  window.markersAt = {};
  new MutationObserver((records) => {
    const at = performance.timeOrigin + performance.now();
    for (const record of records) {
      const nodes = [record.target, ...record.addedNodes];
      for (const node of nodes) {
        for (const m of (node.textContent || '').matchAll(/live-marker-(\\d+)/g)) window.markersAt[m[1]] ??= at;
      }
    }
  }).observe(document, { childList: true, subtree: true, characterData: true });`;

/** Notes when the agent (in this process) sends each log chunk holding a marker: wraps its fetch. */
function watchAgentSends(): { sentAt: Map<string, number>; restore: () => void } {
  const sentAt = new Map<string, number>();
  const original = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (/\/api\/v1\/agent\/jobs\/\d+\/log$/.test(url) && typeof init?.body === 'string') {
      const at = nowMs();
      for (const m of init.body.matchAll(/live-marker-(\d+)/g)) if (!sentAt.has(m[1])) sentAt.set(m[1], at);
    }
    return original(input, init);
  };
  return { sentAt, restore: () => (globalThis.fetch = original) };
}

export async function web(log: (line: string) => void): Promise<BenchResult> {
  if (!existsSync(CHROMIUM)) throw new Error(`the web benchmark needs ${CHROMIUM} (bash scripts/services.sh install)`);
  const sizes = await bundleSizes();
  log(
    `web: initial JavaScript ${fmt(sizes.initialKB, 1)} KB gz in ${sizes.initialFiles} file(s); largest lazy chunk ${sizes.largestLazy.name} ${fmt(sizes.largestLazy.kB, 1)} KB gz`,
  );

  const agentSends = watchAgentSends();
  const tandem = await TestTandem.start({ agents: 1, concurrency: 2 });
  const browser = await launchBrowser();
  try {
    const user = await createUser(tandem, 'bench-admin', { admin: true });
    const render: Record<number, number[]> = { 500: [], 50: [] };
    const pipelines: Record<number, number> = {};
    for (const jobs of [500, 50]) {
      const repo = `wide-${jobs}`;
      await tandem.repo({ '.tandem.yml': wideConfig(jobs / STAGES) }, { name: repo });
      pipelines[jobs] = await tandem.trigger(repo);
      const p = await tandem.pipeline(pipelines[jobs]);
      if (p.jobs.length !== jobs) throw new Error(`pipeline of ${repo} has ${p.jobs.length} jobs, not ${jobs}`);
    }
    // Alternated, so a noisy neighbour hits both alike; every load is a fresh document.
    for (let i = 0; i < LOADS; i++)
      for (const jobs of [500, 50]) {
        const { context, page } = await newContext(browser);
        try {
          await signIn(page, tandem.url, user);
          await page.addInitScript(elementWatch('job-card', jobs));
          render[jobs].push(await timeToElements(page, `${tandem.url}/pipelines/${pipelines[jobs]}`));
        } finally {
          await context.close();
        }
      }
    const [wide, narrow] = [median(render[500]), median(render[50])];
    log(`web: 500-job pipeline page ${fmt(wide, 0)} ms (p50 of ${LOADS}), 50-job ${fmt(narrow, 0)} ms`);

    // Live log: the job waits until the page follows it, then prints a marker now and then.
    await tandem.repo(
      {
        '.tandem.yml': `live:\n  script:\n    - sleep 3\n    - for i in $(seq 1 ${LIVE_LINES}); do echo "live-marker-$i"; sleep 0.5; done\n`,
      },
      { name: 'live' },
    );
    const livePipeline = await tandem.trigger('live');
    const liveJob = jobNamed(await tandem.pipeline(livePipeline), 'live');
    const { context, page } = await newContext(browser);
    const delays: number[] = [];
    try {
      await signIn(page, tandem.url, user);
      await page.addInitScript(MARKER_WATCH);
      await page.goto(`${tandem.url}/jobs/${liveJob.id}`);
      await page.getByRole('region', { name: /Log of job/ }).waitFor();
      if (agentSends.sentAt.has('1')) throw new Error('the job printed before the page followed it: raise its sleep');
      await tandem.waitForPipeline(livePipeline, undefined, 60_000);
      await page.waitForFunction((lines) => Object.keys((globalThis as PageGlobals).markersAt ?? {}).length >= lines, LIVE_LINES, {
        timeout: 10_000,
        polling: 50,
      });
      const shown = await page.evaluate<Record<string, number>>('window.markersAt');
      for (let i = 1; i <= LIVE_LINES; i++) {
        const sent = agentSends.sentAt.get(String(i));
        if (sent === undefined) throw new Error(`live-marker-${i} was never sent by the agent`);
        delays.push(shown[String(i)] - sent);
      }
    } finally {
      await context.close();
    }
    const [liveP50, liveMax] = [median(delays), Math.max(...delays)];
    log(`web: live log line on screen ${fmt(liveP50, 1)} ms after the agent sent it (p50), max ${fmt(liveMax, 1)} ms`);

    // Tests tab: a job copies a Surefire-shaped report (about 2 KB a test, one in ten failing with a
    // stack trace) that the server reads; the tab then opens on its own link.
    const testsTab: Record<number, number[]> = { 10_000: [], 1_000: [] };
    const testPipelines: Record<number, number> = {};
    for (const tests of [10_000, 1_000]) {
      const repo = `tests-${tests}`;
      await tandem.repo(
        {
          'report.xml': [...largeReport(tests)].join(''),
          '.tandem.yml':
            'unit:\n  script: [mkdir -p out, cp report.xml out/TEST-all.xml, exit 1]\n  artifacts:\n    reports:\n      junit: out/*.xml\n',
        },
        { name: repo },
      );
      testPipelines[tests] = (await tandem.waitForPipeline(await tandem.trigger(repo), undefined, 120_000)).id;
    }
    for (let i = 0; i < LOADS; i++)
      for (const tests of [10_000, 1_000]) {
        const { context, page } = await newContext(browser);
        try {
          await signIn(page, tandem.url, user);
          await page.addInitScript(elementWatch('test-case', FAILURES_PAGE));
          testsTab[tests].push(await timeToElements(page, `${tandem.url}/pipelines/${testPipelines[tests]}?tab=tests`));
        } finally {
          await context.close();
        }
      }
    const [manyTests, fewTests] = [median(testsTab[10_000]), median(testsTab[1_000])];
    log(`web: Tests tab of 10,000 tests ${fmt(manyTests, 0)} ms (p50 of ${LOADS}), of 1,000 tests ${fmt(fewTests, 0)} ms`);

    const met = (ok: boolean) => (ok ? 'yes' : 'no');
    return {
      id: 'web',
      title: 'Web UI: bundle size, a 500-job pipeline page, live log latency, the Tests tab',
      header: ['Measure', 'Value', 'Target', 'Met'],
      rows: [
        [
          'Initial JavaScript (entry + modulepreloads), gzip -9',
          `${fmt(sizes.initialKB, 1)} KB (${sizes.initialFiles} ${sizes.initialFiles === 1 ? 'file' : 'files'})`,
          `≤ ${TARGET_INITIAL_KB} KB`,
          met(sizes.initialKB <= TARGET_INITIAL_KB),
        ],
        [
          `Largest lazy chunk (${sizes.largestLazy.name.replace(/-[\w-]{8}\.js$/, '')}), gzip -9`,
          `${fmt(sizes.largestLazy.kB, 1)} KB`,
          '—',
          '—',
        ],
        [
          `500-job pipeline page: navigation → 500 job cards, p50 of ${LOADS}`,
          `${fmt(wide, 0)} ms`,
          `≤ ${TARGET_RENDER_MS} ms`,
          met(wide <= TARGET_RENDER_MS),
        ],
        [`50-job pipeline page (peer): navigation → 50 job cards, p50 of ${LOADS}`, `${fmt(narrow, 0)} ms`, '—', '—'],
        ['500 jobs / 50 jobs', `${fmt(wide / narrow)}×`, '—', '—'],
        [
          `Live log line: agent sends chunk → on screen, p50 of ${LIVE_LINES}`,
          `${fmt(liveP50, 1)} ms`,
          `≤ ${TARGET_LIVE_MS} ms`,
          met(liveP50 <= TARGET_LIVE_MS),
        ],
        ['Live log line: max', `${fmt(liveMax, 1)} ms`, '—', '—'],
        ['Live log line: p90', `${fmt(percentile(delays, 90), 1)} ms`, '—', '—'],
        [
          `Tests tab, 10,000 tests (1,000 failing): navigation → first ${FAILURES_PAGE} failures, p50 of ${LOADS}`,
          `${fmt(manyTests, 0)} ms`,
          `≤ ${TARGET_TESTS_TAB_MS} ms`,
          met(manyTests <= TARGET_TESTS_TAB_MS),
        ],
        [
          `Tests tab, 1,000 tests (peer): navigation → first ${FAILURES_PAGE} failures, p50 of ${LOADS}`,
          `${fmt(fewTests, 0)} ms`,
          '—',
          '—',
        ],
        ['10,000 tests / 1,000 tests', `${fmt(manyTests / fewTests)}×`, '—', '—'],
      ],
      notes: [
        'Sizes are of dist/web as built by `npm run build`: the entry script and the modulepreload links of index.html are what a first visit loads before any page; each page area is a chunk of its own, loaded on its first visit.',
        `The pipeline pages are loaded in a fresh chromium context each time (${LOADS} loads each, alternated), signed in as an admin; the time is the page's own \`performance.now()\` when a MutationObserver first sees all job cards, so it includes the HTML, the scripts, the session, the pipeline's JSON, the repository and the render. The jobs are \`when: manual\` (nothing runs); every fifth job of a stage needs its peer in the stage before, drawn as SVG edges.`,
        `Live log: the agent runs in the benchmark's process, whose fetch is wrapped to note the realtime clock as each log chunk is sent; the page notes \`performance.timeOrigin + performance.now()\` when a MutationObserver sees the marker line. A chunk goes agent → server (stored, published) → Server-Sent Events → the log viewer's parser and virtualized rows. The agent itself holds output for up to 200 ms before cutting a chunk and up to 500 ms more before sending it (one request for what came in that time); that batching is not in these numbers.`,
        `Tests tab: the page opened at \`/pipelines/ID?tab=tests\` in a fresh context (${LOADS} loads each, alternated), until a MutationObserver sees the first ${FAILURES_PAGE} failing tests listed; the server pages failures first, so the time depends on the failures shown, not on the report's size.`,
      ],
    };
  } finally {
    agentSends.restore();
    await browser.close();
    await tandem.close();
  }
}
