// One measurement of bench/junit.ts in a process of its own, so its CPU time and peak RSS are the
// measured work's alone: the report is written to disk and stored as a blob first, the peak RSS is
// reset (Linux's clear_refs), then the work runs and its CPU time and the new peak are sent back.
// argv: mode (store | parse | whole), tests, bytes per test.
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { SaxesParser } from 'saxes';
import { FsBlobStore } from '../src/artifacts/index.js';
import { readJunit, saveJunitReports } from '../src/reports/index.js';
import { createPipeline } from '../src/scheduler/index.js';
import { openStore } from '../src/store/index.js';
import { largeReport } from '../test/reports/junit-fixtures.js';
import { compiled, insertRepoRow, job } from '../test/scheduler/helpers.js';
import { rssMiB, tempDir } from './common.js';

export interface WorkerResult {
  cpuMs: number;
  wallMs: number;
  bytes: number;
  cases: number;
  /** Peak RSS during the work above the RSS just before it. */
  extraRssMiB: number;
}

async function main(): Promise<void> {
  const [mode, testsArg, bytesArg] = process.argv.slice(2);
  const tests = Number(testsArg);
  const tmp = await tempDir('junit');
  try {
    const file = path.join(tmp.dir, 'report.xml');
    const out = createWriteStream(file);
    for (const part of largeReport(tests, Number(bytesArg))) if (!out.write(part)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    const bytes = (await readFile(file)).byteLength;

    const store = await openStore(path.join(tmp.dir, 'tandem.db'));
    const blobs = new FsBlobStore(path.join(tmp.dir, 'blobs'));
    const blob = await blobs.put(createReadStream(file));
    const repoId = await insertRepoRow(store.db, 'bench');
    const { pipelineId } = await createPipeline(store, {
      repoId,
      ref: 'main',
      isTag: false,
      sha: 'a'.repeat(40),
      beforeSha: null,
      source: 'push',
      compiled: compiled([job('unit')]),
      defaultTimeoutSeconds: 3600,
      now: Date.now(),
    });
    const { id: jobId } = await store.db.selectFrom('jobs').select('id').where('pipeline_id', '=', pipelineId).executeTakeFirstOrThrow();

    global.gc?.();
    await writeFile('/proc/self/clear_refs', '5').catch(() => undefined);
    const before = (await rssMiB(process.pid)).rss;
    const cpu = process.cpuUsage();
    const started = performance.now();
    let cases = 0;
    if (mode === 'store') {
      const saved = await saveJunitReports(store, {
        jobId,
        files: [{ path: 'report.xml', digest: blob.digest, size: blob.size }],
        open: (digest) => blobs.get(digest),
        now: Date.now(),
      });
      cases = saved.total;
    } else if (mode === 'parse') {
      await readJunit('report.xml', await blobs.get(blob.digest), () => cases++);
    } else {
      // The baseline: the whole file read into one string and given to saxes in one write.
      const text = await readFile(file, 'utf8');
      const parser = new SaxesParser();
      parser.on('opentag', (tag) => {
        if (tag.name === 'testcase') cases++;
      });
      parser.write(text).close();
    }
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const peak = (await rssMiB(process.pid)).peak;
    await store.close();
    const result: WorkerResult = { cpuMs: (used.user + used.system) / 1000, wallMs, bytes, cases, extraRssMiB: Math.max(0, peak - before) };
    process.send?.(result);
  } finally {
    await tmp.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
