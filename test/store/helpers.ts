import { fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openStore, type Store, type StoreDialect } from '../../src/store/index.js';
import { postgresForFile, postgresSkipReason } from '../support/postgres.js';
import { serviceSkip } from '../support/skip.js';

/**
 * Forks a sibling script of the calling test as a separate Node process: its `.ts` source under tsx,
 * its compiled `.js` under dist. The test runner's own flags are not passed on.
 */
export function forkSibling(callerUrl: string, baseName: string, args: string[]): ChildProcess {
  const ext = callerUrl.endsWith('.ts') ? '.ts' : '.js';
  const script = fileURLToPath(new URL(`./${baseName}${ext}`, callerUrl));
  return fork(script, args, {
    execArgv: process.execArgv.filter((a) => !a.startsWith('--test')),
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Resolves with the child's first IPC message; rejects if it exits first. */
export function firstMessage<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as T));
    child.once('exit', (code) => reject(new Error(`child exited with code ${code} before answering`)));
  });
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

export interface Backend {
  name: StoreDialect;
  /** Set when this backend's suites are skipped (PostgreSQL is not installed). */
  skip: string | false;
  /** A new empty database: its URL (a SQLite file, or a database on this file's PostgreSQL server). */
  fresh(): Promise<{ url: string; cleanup(): Promise<void> }>;
}

let cached: Backend[] | null = null;

/**
 * Why PostgreSQL is left out on purpose, or false. `TANDEM_TEST_BACKENDS=sqlite` (set by
 * `npm run test:unit`, never by CI) keeps the inner loop to SQLite even where PostgreSQL is installed.
 */
const postgresLeftOut = serviceSkip('the PostgreSQL runs of the store suites', () =>
  process.env.TANDEM_TEST_BACKENDS === 'sqlite' ? 'TANDEM_TEST_BACKENDS=sqlite (the unit loop); npm test runs them' : null,
);

/**
 * The store backends to run a suite on: SQLite, and PostgreSQL (one server per test file, a fresh
 * database per test). Call at the top level of a test file.
 */
export function backends(): Backend[] {
  if (cached) return cached;
  const server = postgresForFile(after);
  cached = [
    {
      name: 'sqlite',
      skip: false,
      async fresh() {
        const dir = await mkdtemp(join(tmpdir(), 'tandem-store-'));
        return { url: join(dir, 'tandem.db'), cleanup: () => rm(dir, { recursive: true, force: true }) };
      },
    },
    {
      name: 'postgres',
      skip: postgresLeftOut() || postgresSkipReason(),
      async fresh() {
        // The server and its databases go away together after the file's tests.
        return { url: await (await server()).createDatabase(), cleanup: async () => undefined };
      },
    },
  ];
  return cached;
}

/**
 * A fresh database of `backend` and a store open on it for each test of the calling suite, handed
 * to `use`; closed and dropped after the test. Call inside a describe.
 */
export function freshStoreEach(backend: Backend, use: (store: Store) => void): void {
  let db: { url: string; cleanup(): Promise<void> };
  let store: Store;
  beforeEach(async () => {
    db = await backend.fresh();
    store = await openStore(db.url);
    use(store);
  });
  afterEach(async () => {
    await store.close();
    await db.cleanup();
  });
}
