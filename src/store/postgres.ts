// PostgreSQL for the clustered setup. node-postgres connects to one host, so the host list of a
// multi-host URL (`postgresql://h1:5432,h2:5432/db`, libpq's syntax) is handled here: every pool
// connection goes to the one writable host, found by asking each host whether it is a standby.
// When that host dies or turns read-only (a failover), the pool is dropped and the writable host is
// found again; `transaction` retries transient errors by re-running the whole transaction function.
import { setTimeout as sleep } from 'node:timers/promises';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type { LogEvent, PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { DomainError } from '../errors.js';
import { lazyRequire } from '../lazy-require.js';
import { StoreError } from './errors.js';
import { planOutdated, prepareStatements } from './pg-prepared.js';
import type { Database } from './schema.js';

export interface PostgresOptions {
  /** How long `transaction` keeps retrying transient errors (a failover, a restart). */
  retryForMs?: number;
  /** Connections per process. */
  poolSize?: number;
  /** Sees every statement and failed connection (metrics); SQLite stores take it too. */
  observer?: StoreObserver;
}

/**
 * Told of every statement (Kysely's log events: duration, and the error when it failed) and of
 * every connection that could not be made. Called on the query's path, so it must be cheap.
 */
export interface StoreObserver {
  log(event: LogEvent): void;
  connectFailed(err: unknown): void;
  /** The writable host changed from an earlier one (a failover or switchover); not called for the first host. */
  hostChanged?(from: string, to: string): void;
}

export interface PgHost {
  /** `host:port` as written in the URL, for messages (never the credentials). */
  label: string;
  /** A single-host connection string for node-postgres. */
  url: string;
}

const INT8_OID = 20;
const CONNECT_TIMEOUT_MS = 3000;

// Ids, times, tokens and count(*) are int8, which node-postgres returns as strings by default.
// Tandem's values (ids, epoch milliseconds, fencing tokens) stay far below 2^53, where a JS number is
// exact, so they are parsed as numbers like SQLite gives them; a larger value is refused, not rounded.
// The parser is set on Tandem's own clients, not globally, so other users of `pg` are unaffected.
// node-postgres is loaded on first use: a SQLite store (and `tandem exec`) never needs it.
export const nodePostgres = lazyRequire<typeof pg>('pg');
let typeOverrides: pg.TypeOverrides | undefined;
function types(): pg.TypeOverrides {
  if (typeOverrides) return typeOverrides;
  typeOverrides = new (nodePostgres().TypeOverrides)();
  typeOverrides.setTypeParser(INT8_OID, (text: string) => {
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw new StoreError(`bigint value ${text} is beyond 2^53 and cannot be read exactly`);
    return n;
  });
  return typeOverrides;
}

/** The URL with its password replaced, for messages and `Store.location`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/**
 * Splits a (possibly multi-host) PostgreSQL URL into one node-postgres URL per host.
 * `target_session_attrs` may be read-write, primary or any: Tandem writes, so it always connects
 * to the writable host; asking for a standby is refused.
 */
export function parsePostgresUrl(url: string): PgHost[] {
  const m = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/is.exec(url);
  if (!m)
    throw new StoreError(`database URL ${redactUrl(url)}: expected postgresql://[user[:password]@]host[:port][,host[:port]...]/database`);
  const [, scheme, authority, rest] = m;
  const at = authority.lastIndexOf('@');
  const userinfo = at >= 0 ? authority.slice(0, at + 1) : '';
  const hostList = authority.slice(at + 1);

  const [path, query = ''] = rest.split('?', 2);
  const params = new URLSearchParams(query);
  const attrs = params.get('target_session_attrs');
  if (attrs !== null && !['read-write', 'primary', 'any'].includes(attrs)) {
    throw new StoreError(
      `database URL ${redactUrl(url)}: target_session_attrs=${attrs} is not supported: Tandem writes, so it needs read-write (the primary)`,
    );
  }
  params.delete('target_session_attrs');
  const tail = path + (params.size > 0 ? `?${params.toString()}` : '');

  // No host: node-postgres falls back to PGHOST or the local socket.
  if (hostList === '') return [{ label: 'localhost', url: scheme + userinfo + tail }];
  return hostList.split(',').map((entry, i) => {
    const hp = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/i.exec(entry);
    const port = hp?.[2] === undefined ? 5432 : Number(hp[2]);
    if (!hp || port < 1 || port > 65535) {
      throw new StoreError(`database URL ${redactUrl(url)}: host ${i + 1} "${entry}" is not host[:port]`);
    }
    return { label: `${hp[1]}:${port}`, url: `${scheme}${userinfo}${hp[1]}:${port}${tail}` };
  });
}

/** The host answered but cannot take writes (a standby, or read-only by configuration). */
class ReadOnlyHostError extends StoreError {
  readonly code = '25006';
}

class NoWritableHostError extends StoreError {}

async function assertWritable(client: pg.ClientBase, label: string): Promise<void> {
  const { rows } = await client.query<{ recovery: boolean; read_only: string }>(
    "select pg_is_in_recovery() as recovery, current_setting('transaction_read_only') as read_only",
  );
  if (rows[0].recovery) throw new ReadOnlyHostError(`${label} is a standby (in recovery)`);
  if (rows[0].read_only === 'on') throw new ReadOnlyHostError(`${label} only accepts read-only transactions`);
}

/** The first of the hosts that answers as writable; throws naming every host's problem. */
export async function probeWritable(hosts: PgHost[]): Promise<PgHost> {
  try {
    return await Promise.any(hosts.map(probe));
  } catch (err) {
    const reasons = (err as AggregateError).errors.map((e: Error) => e.message).join('; ');
    throw new NoWritableHostError(`no writable PostgreSQL host: ${reasons}`, { cause: err });
  }
}

async function probe(host: PgHost): Promise<PgHost> {
  const client = new (nodePostgres().Client)({ connectionString: host.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, types: types() });
  // A probe that loses its connection learns it from its query; without a listener the error would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await assertWritable(client, host.label);
    return host;
  } catch (err) {
    throw new StoreError(`${host.label}: ${(err as Error).message}`, { cause: err });
  } finally {
    await client.end().catch(() => undefined);
  }
}

const NODE_CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
// admin_shutdown, crash_shutdown, cannot_connect_now (starting up / shutting down), connection exceptions, read-only.
const NEW_HOST_SQLSTATES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '25006']);
// serialization_failure and deadlock_detected: the same host, just run the transaction again.
const RETRY_SQLSTATES = new Set(['40001', '40P01']);

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Searches the error and its causes. */
function someCause(err: unknown, test: (e: unknown) => boolean): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) if (test(e)) return true;
  return false;
}

/**
 * Every pooled connection stayed busy for as long as the pool waits: the replica is overloaded for
 * the moment, not broken. A request then gets 503 with Retry-After (agents back off and may try
 * another replica), not a 500.
 */
function poolExhausted(err: unknown): boolean {
  return err instanceof Error && /timeout exceeded when trying to connect/.test(err.message);
}

/**
 * The connection or the host is gone or read-only: find the writable host again. Or the
 * connections' prepared plans are outdated by a migration: replace them as well.
 */
export function needsNewHost(err: unknown): boolean {
  return someCause(err, (e) => {
    if (planOutdated(e)) return true;
    const code = codeOf(e);
    if (e instanceof NoWritableHostError || (code !== undefined && (NODE_CONNECTION_ERRORS.has(code) || NEW_HOST_SQLSTATES.has(code))))
      return true;
    // node-postgres reports a dropped socket without a code.
    return e instanceof Error && /Connection terminated|not queryable|connection timeout/i.test(e.message);
  });
}

/** Worth re-running the whole transaction: it was rolled back and may succeed now. */
export function isTransient(err: unknown): boolean {
  return needsNewHost(err) || someCause(err, (e) => RETRY_SQLSTATES.has(codeOf(e) ?? ''));
}

interface CurrentPool {
  pool: pg.Pool;
  host: PgHost;
  generation: number;
}

/**
 * Kysely's pool interface over a pg.Pool for the writable host. A new pool (a new generation) is
 * made when the current one is invalidated; the old one ends once its checked-out clients return.
 */
class WritableHostPool implements PostgresPool {
  #current: CurrentPool | null = null;
  #finding: Promise<CurrentPool> | null = null;
  #generation = 0;
  #closed = false;
  #lastHost: string | null = null;
  readonly #watched = new WeakSet<pg.PoolClient>();

  constructor(
    private readonly hosts: PgHost[],
    private readonly poolSize: number,
    /** How long a connection request waits for a writable host (a failover in progress). */
    private readonly waitForHostMs: number,
    private readonly observer: StoreObserver | undefined,
  ) {}

  /** The generation connections come from now; pass it to `invalidate` after an error. */
  get generation(): number {
    return this.#generation;
  }

  /** The writable host in use, or the last one between connections. */
  get host(): string | null {
    return this.#current?.host.label ?? this.#lastHost;
  }

  /**
   * A connection to the writable host. During a failover there may be none for a few seconds:
   * the request waits for one (nothing was sent yet, so waiting is always safe), which keeps plain
   * queries outside `transaction` working across a failover too.
   */
  async connect(): Promise<PostgresPoolClient> {
    const deadline = Date.now() + this.waitForHostMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#connectOnce();
      } catch (err) {
        if (this.#closed || !needsNewHost(err) || Date.now() >= deadline) {
          if (!this.#closed) this.observer?.connectFailed(err);
          throw poolExhausted(err)
            ? new DomainError(
                'unavailable',
                'the database has no free connection for this request now (the server is overloaded): retry shortly',
                1,
              )
            : err;
        }
        await sleep(Math.min(500, 25 * 2 ** attempt) * (0.5 + Math.random() / 2));
      }
    }
  }

  async #connectOnce(): Promise<PostgresPoolClient> {
    const current = await this.#use();
    try {
      const client = await current.pool.connect();
      if (!this.#watched.has(client)) {
        this.#watched.add(client);
        // A checked-out client whose server goes away emits 'error'; unheard, it would crash the process.
        client.on('error', () => this.invalidate(current.generation));
        prepareStatements(client, () => this.invalidate(current.generation));
      }
      return client as unknown as PostgresPoolClient;
    } catch (err) {
      if (needsNewHost(err)) this.invalidate(current.generation);
      throw err;
    }
  }

  invalidate(generation: number): void {
    const current = this.#current;
    if (!current || current.generation > generation) return;
    this.#current = null;
    current.pool.end().catch(() => undefined);
  }

  async end(): Promise<void> {
    this.#closed = true;
    const current = this.#current ?? (await this.#finding?.catch(() => null));
    this.#current = null;
    await current?.pool.end();
  }

  #use(): Promise<CurrentPool> {
    if (this.#closed) return Promise.reject(new StoreError('the database connection is closed'));
    if (this.#current) return Promise.resolve(this.#current);
    this.#finding ??= this.#find().finally(() => (this.#finding = null));
    return this.#finding;
  }

  async #find(): Promise<CurrentPool> {
    const host = await probeWritable(this.hosts);
    if (this.#lastHost !== null && this.#lastHost !== host.label) this.observer?.hostChanged?.(this.#lastHost, host.label);
    this.#lastHost = host.label;
    const generation = ++this.#generation;
    const pool = new (nodePostgres().Pool)({
      connectionString: host.url,
      types: types(),
      max: this.poolSize,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      // Every new connection checks it still landed on a writable server (a demoted primary may be back as a standby).
      onConnect: (client) => assertWritable(client, host.label),
    });
    // An idle connection that dies (a restart, a failover) reports here.
    pool.on('error', () => this.invalidate(generation));
    this.#current = { pool, host, generation };
    return this.#current;
  }
}

export interface PostgresConnection {
  db: Kysely<Database>;
  location: string;
  /** The writable host in use (host:port), or the last one between connections; null before the first. */
  host(): string | null;
  transaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Runs `op`, retrying transient errors like `transaction` does (for work that is already atomic), for `forMs` or the configured time. */
  retrying<T>(op: () => Promise<T>, forMs?: number): Promise<T>;
  close(): Promise<void>;
}

type Outcome = 'committed' | 'aborted';

/** The server's current timeline (it changes when a standby is promoted), as the hex of its WAL file names. */
const CURRENT_TIMELINE = sql<string>`substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)`;

export function connectPostgres(url: string, options: PostgresOptions = {}): PostgresConnection {
  const location = redactUrl(url);
  const retryForMs = options.retryForMs ?? 10_000;
  const pool = new WritableHostPool(parsePostgresUrl(url), options.poolSize ?? 10, retryForMs, options.observer);
  const observer = options.observer;
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: observer ? (event) => observer.log(event) : undefined });

  async function retrying<T>(op: (deadline: number) => Promise<T>, forMs = retryForMs): Promise<T> {
    const deadline = Date.now() + forMs;
    for (let attempt = 1; ; attempt++) {
      const generation = pool.generation;
      try {
        return await op(deadline);
      } catch (err) {
        if (!isTransient(err)) throw err;
        if (needsNewHost(err)) pool.invalidate(generation);
        if (Date.now() >= deadline) {
          throw new StoreError(`database ${location}: still failing after ${attempt} attempts in ${forMs} ms: ${(err as Error).message}`, {
            cause: err,
          });
        }
        // Exponential backoff with jitter, so replicas retrying after a failover do not stampede.
        await sleep(Math.min(1000, 20 * 2 ** attempt) * (0.5 + Math.random() / 2));
      }
    }
  }

  // After the connection dropped during COMMIT the transaction may or may not have committed; asking
  // the server about its transaction id decides whether re-running it would apply it twice.
  //
  // Only on the timeline the transaction ran on: a promoted standby goes on numbering transactions
  // from where its copy of the WAL ended, so once it has run a few of its own, the id of a commit it
  // never received belongs to another transaction there, which txid_status reports as committed.
  // On a new timeline the outcome is therefore unknown, and the caller is told so rather than told
  // of a commit that may be lost (the agent protocol re-sends; its writes are idempotent).
  async function commitOutcome(xid: string, timeline: string, deadline: number): Promise<Outcome> {
    for (;;) {
      const generation = pool.generation;
      try {
        const { rows } = await sql<{ status: string | null; durable: boolean; timeline: string }>`
          select txid_status(${xid}::bigint) as status, ${CURRENT_TIMELINE} as timeline,
                 -- With synchronous replication, a commit is durable only once a synchronous standby has it:
                 -- a primary restarted in place (before Patroni promotes its standby) reports a commit the
                 -- standby never confirmed, and that commit is gone after the promotion.
                 current_setting('synchronous_standby_names') = ''
                   or exists (select 1 from pg_stat_replication
                              where sync_state in ('sync', 'quorum') and flush_lsn >= pg_current_wal_flush_lsn()) as durable`.execute(db);
        const { status, durable } = rows[0];
        if (rows[0].timeline !== timeline)
          throw new StoreError(
            `database ${location}: lost the connection while committing transaction ${xid}, and the primary changed (timeline ${timeline} → ${rows[0].timeline}): whether it committed is unknown`,
          );
        if (status === 'aborted' || (status === 'committed' && durable)) return status;
        if (status === null) throw new StoreError(`database ${location}: the outcome of transaction ${xid} is unknown (too old)`);
      } catch (err) {
        // A promoted standby that never received the transaction: it did not commit there.
        if (codeOf(err) === '22023') return 'aborted';
        if (!isTransient(err)) throw err;
        if (needsNewHost(err)) pool.invalidate(generation);
      }
      if (Date.now() >= deadline)
        throw new StoreError(
          `database ${location}: lost the connection while committing transaction ${xid}, and could not learn whether it committed`,
        );
      await sleep(100);
    }
  }

  // One round trip opens the transaction and gives it its id, which deciding a lost commit's outcome
  // needs: reading the id after the work instead cost a round trip of its own in every transaction
  // (a job's claim and completion are one each). The price: a transaction that writes nothing gets
  // an id too, so its commit writes a commit record (a replica's idle duties, a claim that found
  // nothing). Several statements in one text go by the simple protocol, which pg-prepared.ts answers
  // with the last one's rows.
  async function attempt<T>(fn: (trx: Kysely<Database>) => Promise<T>, deadline: number): Promise<T> {
    const ran = await db.connection().execute(async (conn) => {
      const { xid, timeline } = (
        await sql<{ xid: string; timeline: string }>`start transaction isolation level read committed;
          select txid_current()::text as xid, ${CURRENT_TIMELINE} as timeline`.execute(conn)
      ).rows[0];
      let result: T;
      try {
        result = await fn(conn);
      } catch (err) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw err;
      }
      try {
        await sql`commit`.execute(conn);
        return { result };
      } catch (err) {
        // A COMMIT that failed ended the transaction; one whose connection died may have committed.
        if (!needsNewHost(err)) throw err;
        return { result, lostCommit: { err, xid, timeline } };
      }
    });
    // Asked once the dead connection is back in the pool, on another.
    if (!ran.lostCommit) return ran.result;
    const { err, xid, timeline } = ran.lostCommit;
    if ((await commitOutcome(xid, timeline, deadline)) === 'committed') return ran.result;
    throw err;
  }

  return {
    db,
    location,
    host: () => pool.host,
    transaction: (fn) => retrying((deadline) => attempt(fn, deadline)),
    retrying: (op, forMs) => retrying(() => op(), forMs),
    close: () => db.destroy(),
  };
}
