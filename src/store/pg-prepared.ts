// PostgreSQL parses and plans every statement sent unnamed, and a claim or a completion is a dozen
// short statements: planning was a third to a half of their time (measured in this repository's
// issue 19 work: claim -25%, completion -45% once prepared). So each pooled connection prepares a
// statement the first time it sends it (a node-postgres named query) and only binds and executes it
// afterwards. Plans are per connection and end with it (the pool closes idle connections).
import { createHash } from 'node:crypto';
import type pg from 'pg';

/** Distinct statement texts that get a name; the rest (rare shapes, long IN lists) go unnamed. */
const MAX_NAMED = 1000;
const MAX_NAMED_LENGTH = 16 * 1024;
const names = new Map<string, string>();

function nameOf(text: string): string | undefined {
  const known = names.get(text);
  if (known !== undefined || names.size >= MAX_NAMED || text.length > MAX_NAMED_LENGTH) return known;
  const name = `tandem_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
  names.set(text, name);
  return name;
}

/**
 * A prepared `select *` fails with this once a migration (another replica's, in a rolling upgrade)
 * added a column: the statement's result type changed. The connection's plans are then all stale.
 */
export function planOutdated(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === '0A000' && typeof e.message === 'string' && e.message.includes('cached plan must not change result type');
}

type Query = (...args: unknown[]) => Promise<unknown>;

const lastResult = (result: unknown): unknown => (Array.isArray(result) ? result.at(-1) : result);

/**
 * Makes `client` prepare the statements Kysely sends (text and parameters). After a plan went
 * stale the client sends everything unnamed, a failed statement outside a transaction is sent again
 * unnamed at once (it failed before it ran), and `onStale` replaces the pool's connections; inside
 * a transaction the error rolls it back and the store's retry runs it again on a fresh connection.
 */
export function prepareStatements(client: pg.PoolClient, onStale: () => void): void {
  const query = client.query.bind(client) as Query;
  let stale = false;
  let inTransaction = false;
  const patched: Query = async (text, values, ...rest) => {
    if (typeof text !== 'string' || !Array.isArray(values) || rest.length > 0) return query(text, values, ...rest);
    const verb = text.trimStart().slice(0, 17).toLowerCase();
    if (verb.startsWith('start transaction') || verb.startsWith('begin')) inTransaction = true;
    else if (verb.startsWith('commit') || verb.startsWith('rollback')) inTransaction = false;
    // Statements without parameters are transaction control, DDL and a few probes: nothing to gain.
    const name = stale || values.length === 0 ? undefined : nameOf(text);
    // Several statements in one text (no parameters: the simple protocol) give one result each;
    // Kysely reads one, so it gets the last statement's.
    if (name === undefined) return lastResult(await query(text, values));
    try {
      return await query({ name, text, values });
    } catch (err) {
      if (!planOutdated(err)) throw err;
      stale = true;
      onStale();
      if (inTransaction) throw err;
      return query(text, values);
    }
  };
  (client as unknown as { query: Query }).query = patched;
}
