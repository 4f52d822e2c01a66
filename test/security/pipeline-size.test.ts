// Attacks on the server through the size of a pipeline: 100,000 jobs held the event loop for
// minutes (deaf to SIGTERM) and a 50×50×50 matrix overflowed the stack (HTTP 500). Pipelines now
// have GitLab's limits, are compiled in a worker thread with a time limit and memory caps, and the
// state machine walks a pipeline in linear time.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PIPELINE_COMPILE_WORKER } from '../../src/deploy/index.js';
import { compiledJob, compileIsolated, keepSpareCompileWorker } from '../../src/pipeline/index.js';
import { walkInDependencyOrder } from '../../src/scheduler/advance.js';
import type { Job } from '../../src/store/schema.js';
import { compileErrors, compileOk, PUSH_MAIN } from '../pipeline/helpers.js';
import { TestTandem } from '../support/tandem.js';
import { HEAVY, HUNDRED_THOUSAND_JOBS, MATRIX_50_CUBED } from './hostile-pipelines.js';

const FAST_MS = 2000;

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

describe('pipeline size limits', () => {
  it('100,000 jobs (500 × parallel: 200) are refused at once: at most 2,000 by default', async () => {
    const { value: errors, ms } = await timed(() => compileErrors(HUNDRED_THOUSAND_JOBS));
    assert.ok(ms < FAST_MS, `took ${ms} ms`);
    assert.ok(
      errors.some((e) => e.message.includes('defines 100,000 jobs') && e.message.includes('at most 2,000')),
      JSON.stringify(errors),
    );
  });

  it('100,000 jobs written out (1.7 MB) are refused in seconds, not after comparing every key with every other', async () => {
    const file = Array.from({ length: 100_000 }, (_, i) => `${i.toString(36)}: {script: e}\n`).join('');
    const { value: errors, ms } = await timed(() => compileErrors(file));
    assert.ok(ms < 20_000, `took ${ms} ms`);
    assert.ok(
      errors.some((e) => e.message.includes('defines 100,000 jobs')),
      JSON.stringify(errors),
    );
    const duplicate = await compileOk('a: {script: e}\nb: {script: e}\na: {script: f}\n');
    assert.ok(
      duplicate.warnings.some((e) => e.line === 3 && e.column === 1 && e.message.includes('duplicate key')),
      JSON.stringify(duplicate),
    );
  });

  it('the job limit is the caller’s (maxPipelineJobs) and counts parallel jobs', async () => {
    const file = 'a:\n  script: [echo]\n  parallel: 3\nb:\n  script: [echo]\n';
    const over = await compileIsolated('.gitlab-ci.yml', file, {
      variables: PUSH_MAIN,
      readFile: async () => null,
      changedFiles: async () => null,
      maxJobs: 3,
      worker: PIPELINE_COMPILE_WORKER,
    });
    assert.ok(
      !over.ok && !over.skipped && over.errors.some((e) => e.message.includes('defines 4 jobs') && e.message.includes('at most 3')),
      JSON.stringify(over),
    );
    assert.equal((await compileOk(file)).jobs.length, 4);
  });

  it('a 50×50×50 matrix is a positioned error (125,000 jobs, at most 200), not a stack overflow', async () => {
    const { value: errors, ms } = await timed(() => compileErrors(MATRIX_50_CUBED));
    assert.ok(ms < FAST_MS, `took ${ms} ms`);
    const error = errors.find((e) => e.message.includes('makes 125,000 jobs; at most 200'));
    assert.ok(error, JSON.stringify(errors));
    assert.deepEqual([error.line, error.column], [4, 5]);
  });
});

describe('compiling in a worker thread', () => {
  const heavy = HEAVY;
  const context = {
    variables: PUSH_MAIN,
    readFile: async (p: string) => (p === 'ci/more.yml' ? 'more:\n  script: [echo more]\n' : null),
    changedFiles: async () => null,
    listFiles: async () => ['ci/more.yml'],
    worker: PIPELINE_COMPILE_WORKER,
  };

  it('gives the same result as compiling in place, reading included files through the parent', async () => {
    const file = 'include: "ci/*.yml"\nj:\n  script: [echo]\n  rules:\n    - exists: ["ci/*.yml"]\n';
    const isolated = await compileIsolated('.gitlab-ci.yml', file, context);
    assert.ok(isolated.ok, JSON.stringify(isolated));
    assert.deepEqual(
      isolated.pipeline.jobs.map((j) => j.name),
      ['more', 'j'],
    );
  });

  it('a compilation past its time limit is stopped with a clear error while the event loop keeps ticking', async () => {
    let ticks = 0;
    let worstGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worstGap = Math.max(worstGap, now - last);
      last = now;
      ticks++;
    }, 10);
    try {
      const { value: result, ms } = await timed(() => compileIsolated('.gitlab-ci.yml', heavy, context, { timeoutMs: 300, memoryMb: 512 }));
      assert.ok(!result.ok && !result.skipped, JSON.stringify(result).slice(0, 300));
      assert.match(result.errors[0].message, /pipeline compilation exceeded 0\.3 s and was stopped/);
      assert.ok(ms < 300 + FAST_MS, `stopped after ${ms} ms`);
      assert.ok(ticks >= 10, `the interval fired ${ticks} times`);
      assert.ok(worstGap < 250, `the event loop stalled for ${worstGap} ms`);
    } finally {
      clearInterval(timer);
    }
  });

  it('with a worker started ahead, each compilation still gets a fresh worker of its own', async () => {
    keepSpareCompileWorker(PIPELINE_COMPILE_WORKER);
    const stopped = await compileIsolated('.gitlab-ci.yml', heavy, context, { timeoutMs: 300, memoryMb: 512 });
    assert.ok(!stopped.ok && !stopped.skipped);
    // The stopped compilation's worker is gone; the next ones take the spare and the one after it.
    for (const name of ['first', 'second']) {
      const result = await compileIsolated('.gitlab-ci.yml', `${name}:\n  script: [echo]\n`, context);
      assert.ok(result.ok, JSON.stringify(result));
      assert.deepEqual(
        result.pipeline.jobs.map((j) => j.name),
        [name],
        'nothing of the previous compilation is left in the worker',
      );
    }
  });

  it('a compilation past its memory cap is stopped with a clear error, and the server process lives on', async () => {
    const result = await compileIsolated('.gitlab-ci.yml', heavy, context, { timeoutMs: 20_000, memoryMb: 24 });
    assert.ok(!result.ok && !result.skipped, JSON.stringify(result).slice(0, 300));
    assert.match(result.errors[0].message, /pipeline compilation exceeded its memory limit \(24 MB\)/);
  });
});

describe('the pipeline state machine', () => {
  it('walks 100,000 jobs in dependency order with linear work (it listed every earlier job for each job)', () => {
    // Stored specs are read through the validated jobs.spec reader: each is a whole compiled job.
    const spec = (name: string, stageIndex: number, needs: string[] | null): string =>
      JSON.stringify(
        compiledJob({
          name,
          stage: `s${stageIndex}`,
          stageIndex,
          position: { file: '.gitlab-ci.yml', line: 1, column: 1 },
          needs: needs?.map((job) => ({ job, artifacts: true, optional: false })) ?? null,
        }),
      );
    const jobs = Array.from({ length: 100_000 }, (_, i) => {
      const stage = Math.floor(i / 25_000);
      const chained = i % 25_000 > 0 && i % 2 === 0;
      return {
        id: i + 1,
        name: `j${i}`,
        stage_index: stage,
        status: 'created',
        spec: spec(`j${i}`, stage, chained ? [`j${i - 2}`] : null),
      } as unknown as Job;
    });
    const order: number[] = [];
    let sawEarlier = 0;
    // Work is counted, not timed: the quadratic walk folded every earlier job into each job's
    // predecessors (~3.75 billion folds here); a linear one folds each job about once per stage
    // summary and once per need.
    let folds = 0;
    walkInDependencyOrder(
      jobs,
      0,
      (n) => {
        folds += 1;
        return n + 1;
      },
      (job, spec, preds) => {
        order.push(job.id);
        if (job.stage_index === 3 && spec.needs === null) sawEarlier = preds;
      },
    );
    assert.ok(folds <= 2 * jobs.length, `${folds} folds for ${jobs.length} jobs`);
    assert.equal(order.length, 100_000);
    assert.equal(sawEarlier, 75_000, 'a stage-ordered job of the last stage waits for every job of the earlier stages');
    const position = new Map(order.map((id, i) => [id, i]));
    for (let i = 2; i < 25_000; i += 2) assert.ok((position.get(i + 1) as number) > (position.get(i - 1) as number), 'a need comes first');
  });
});

describe('the server under pipeline-size attacks', () => {
  let tandem: TestTandem;
  before(async () => {
    tandem = await TestTandem.start({ agents: 0 });
  });
  after(async () => {
    await tandem.close();
  });

  // The server's responsiveness while such files arrive is measured in http-responsiveness.test.ts.
  it('100,000 jobs and a 50×50×50 matrix make failed pipelines with the reason, not a 500', async () => {
    const attacks: [string, string][] = [
      [HUNDRED_THOUSAND_JOBS, 'defines 100,000 jobs'],
      [MATRIX_50_CUBED, 'makes 125,000 jobs'],
    ];
    for (const [file, reason] of attacks) {
      const repo = await tandem.repo({ '.gitlab-ci.yml': file });
      const res = await tandem.api<{ id: number }>('POST', `/api/v1/repos/${repo.name}/pipelines`, {});
      assert.equal(res.status, 201, res.text);
      const pipeline = await tandem.pipeline(res.body.id);
      assert.equal(pipeline.status, 'failed');
      assert.match(JSON.stringify(pipeline), new RegExp(reason));
    }
  });
});

describe('compiling in a worker thread, when the repository cannot be read', () => {
  it('fails with the reading error itself, as compiling in place does', async () => {
    class GitDown extends Error {}
    const failing = {
      variables: PUSH_MAIN,
      readFile: async () => Promise.reject(new GitDown('git is down')),
      changedFiles: async () => null,
      worker: PIPELINE_COMPILE_WORKER,
    };
    await assert.rejects(
      compileIsolated('.gitlab-ci.yml', 'include: ci/a.yml\nj:\n  script: [echo]\n', failing),
      (err) => err instanceof GitDown,
    );
  });
});
