// Memory: a `tandem server` process idle, then holding 10,000 finished pipelines (written straight
// into its SQLite file through the scheduler's createPipeline) and serving a few API pages.
import path from 'node:path';
import { compilePipeline } from '../src/pipeline/index.js';
import { createPipeline } from '../src/scheduler/index.js';
import { openStore } from '../src/store/index.js';
import { makeRemote } from '../test/support/git.js';
import { fmt, LiveServer, rssMiB, sleep, tempDir, timed, type BenchResult } from './common.js';

const PIPELINES = 10_000;
const PIPELINE_FILE = `stages: [build, test]
build:
  stage: build
  script: [make]
test:
  stage: test
  parallel: 2
  script: [make test]
`;

export async function memory(log: (line: string) => void): Promise<BenchResult> {
  const tmp = await tempDir('memory');
  const dataDir = path.join(tmp.dir, 'data');
  const server = await LiveServer.start('server', dataDir);
  try {
    await sleep(2000);
    const idle = await rssMiB(server.pid);
    log(`memory: idle server RSS ${fmt(idle.rss, 1)} MiB`);

    const remote = await makeRemote(tmp.dir);
    const sha = await remote.commit({ '.gitlab-ci.yml': PIPELINE_FILE }, 'initial');
    await remote.push('main');
    const repo = await server.api<{ id: number }>('POST', '/api/v1/repos', { name: 'bench', url: remote.bare });
    const compiled = await compilePipeline('.gitlab-ci.yml', PIPELINE_FILE, {
      readFile: async () => null,
      variables: {},
      changedFiles: async () => null,
    });
    if (!compiled.ok) throw new Error('the bench pipeline does not compile');

    // A second connection to the server's database file, as SQLite in WAL mode allows.
    const store = await openStore(path.join(dataDir, 'tandem.db'));
    const insert = await timed(async () => {
      const start = Date.now() - PIPELINES * 60_000;
      for (let i = 0; i < PIPELINES; i++) {
        await createPipeline(store, {
          repoId: repo.id,
          ref: 'main',
          isTag: false,
          sha,
          beforeSha: null,
          source: 'push',
          compiled: compiled.pipeline,
          defaultTimeoutSeconds: 3600,
          now: start + i * 60_000,
        });
      }
      // History, not a queue: every pipeline finished a while ago.
      await store.db
        .updateTable('jobs')
        .set((eb) => ({ status: 'success', started_at: eb.ref('created_at'), finished_at: eb('created_at', '+', 30_000), exit_code: 0 }))
        .execute();
      await store.db
        .updateTable('pipelines')
        .set((eb) => ({ status: 'success', started_at: eb.ref('created_at'), finished_at: eb('created_at', '+', 45_000) }))
        .execute();
    });
    await store.close();
    log(`memory: ${PIPELINES} pipelines stored in ${fmt(insert.ms / 1000, 1)} s`);

    const pages = await timed(async () => {
      let before: number | undefined;
      for (let page = 0; page < 5; page++) {
        const list = await server.api<{ id: number }[]>(
          'GET',
          `/api/v1/repos/bench/pipelines?limit=100${before ? `&before=${before}` : ''}`,
        );
        if (list.length !== 100) throw new Error(`page ${page} of the pipeline list has ${list.length} entries, not 100`);
        before = list[list.length - 1].id;
        for (const p of list.slice(0, 5)) await server.api('GET', `/api/v1/pipelines/${p.id}`);
      }
      await server.api('GET', '/api/v1/repos/bench/pipelines?limit=500');
    });
    await sleep(1000);
    const loaded = await rssMiB(server.pid);
    log(`memory: RSS after ${PIPELINES} pipelines ${fmt(loaded.rss, 1)} MiB`);
    return {
      id: 'memory',
      title: `Memory: \`tandem server\` RSS, idle and with ${PIPELINES.toLocaleString('en')} stored pipelines`,
      header: ['state', 'RSS MiB', 'peak RSS MiB', '× idle'],
      rows: [
        ['idle (2 s after start, empty database)', fmt(idle.rss, 1), fmt(idle.peak, 1), '1.00'],
        [
          `${PIPELINES.toLocaleString('en')} pipelines (${compiled.pipeline.jobs.length * PIPELINES} jobs), after 5 pages + 25 pipeline views + 1 page of 500`,
          fmt(loaded.rss, 1),
          fmt(loaded.peak, 1),
          fmt(loaded.rss / idle.rss),
        ],
      ],
      notes: [
        `Storing the pipelines took ${fmt(insert.ms / 1000, 1)} s (${fmt(insert.ms / PIPELINES, 2)} ms per createPipeline, one transaction each, from a second process); the API pages took ${fmt(pages.ms, 0)} ms.`,
      ],
    };
  } finally {
    await server.stop();
    await tmp.remove();
  }
}
