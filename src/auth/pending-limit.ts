// Anyone may start a sign-in (a device code, an OpenID Connect or SAML redirect), and each start is
// a row that waits for its answer: the rows one client address has waiting are capped, so one
// caller cannot fill the tables. The cap is counted in the database, so it holds across replicas.
import { DomainError } from '../errors.js';
import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';

/** The tables of sign-ins waiting for an answer; each row has the client address and its expiry. */
export type PendingSignInTable = 'device_logins' | 'sso_oidc_logins' | 'sso_saml_requests';

/**
 * Starts one address may have waiting in each table: far more than one person needs (a start
 * waits at most 10 minutes), few enough that the tables stay small. Behind a NAT or a proxy, set
 * trustedProxies so that each client is its own address.
 */
export const MAX_PENDING_PER_ADDRESS = 20;

export class TooManyPendingError extends DomainError {
  override name = 'TooManyPendingError';
  constructor(
    message: string,
    /** When the oldest of the address's waiting starts expires. */
    override readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message, retryAfterSeconds);
  }
}

/** Refuses (429, with Retry-After) a start from an address that has `max` unexpired starts in `table`; `what` names them in the message. */
export async function refuseOverPendingLimit(
  db: Kysely<Database>,
  table: PendingSignInTable,
  input: { address: string; now: number; max: number; what: string },
): Promise<void> {
  const waiting = await db
    .selectFrom(table)
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min<number>('expires_at').as('first_expiry')])
    .where('address', '=', input.address)
    .where('expires_at', '>', input.now)
    .executeTakeFirstOrThrow();
  if (Number(waiting.n) < input.max) return;
  const wait = Math.max(1, Math.ceil((Number(waiting.first_expiry) - input.now) / 1000));
  throw new TooManyPendingError(
    `too many ${input.what} from address ${input.address}: finish some or let them expire (try again in ${wait} s)`,
    wait,
  );
}
