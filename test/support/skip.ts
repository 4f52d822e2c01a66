// Suites that need a real service (PostgreSQL, sshd, Prometheus...) skip when it is missing, and say
// so loudly; under TANDEM_REQUIRE_ALL=1 (CI) they never skip: they run and fail on the missing part.

const BANNER_LINE = '!'.repeat(78);

/** Prints the banner of a skipped suite. */
export function announceSkip(what: string, reason: string): void {
  process.stderr.write(`\n${BANNER_LINE}\n!! SKIPPING ${what}: ${reason}\n${BANNER_LINE}\n\n`);
}

/**
 * The `skip` option of suites needing one service: `missing()` says what is missing (or null when
 * all is there). Decided once per process, and announced once.
 */
export function serviceSkip(what: string, missing: () => string | null): () => string | false {
  let decided: string | false | null = null;
  return () => {
    if (decided !== null) return decided;
    const reason = process.env.TANDEM_REQUIRE_ALL === '1' ? null : missing();
    decided = reason ?? false;
    if (reason) announceSkip(what, reason);
    return decided;
  };
}
