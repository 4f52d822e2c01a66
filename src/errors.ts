// The one base class of refused operations. An operation (src/<domain>/…) says what kind of refusal
// it is, never an HTTP status: the HTTP layer maps kinds to statuses in one table
// (STATUS_OF_KIND in src/server/http.ts), and the CLI and the agent read the same kinds.

/**
 * - malformed: the request cannot be used as sent (a header given twice, a body that is not JSON, a sign-in
 *   answer that fails its checks)
 * - invalid: the input is wrong (a field, a ref that does not resolve)
 * - unauthenticated: no or stale credentials
 * - forbidden: known caller, not allowed
 * - not_found: the thing named does not exist
 * - gone: the thing named existed but no longer does (an expired code)
 * - conflict: the state does not allow it now (a stale claim, a release in progress)
 * - too_large: over a configured size limit
 * - rate_limited: too many at once; try again later
 * - unavailable: a dependency is down or the replica is draining
 * - upstream: a remote (a forge, a git host) failed
 * - misconfigured: this server's own setup is wrong (a setting, a missing program): its operator must fix it
 */
export type ErrorKind =
  | 'malformed'
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'gone'
  | 'conflict'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'upstream'
  | 'misconfigured';

export class DomainError extends Error {
  override name = 'DomainError';
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** Seconds after which a retry may succeed (rate_limited, unavailable). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
