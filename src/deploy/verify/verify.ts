// How a release is verified
// -------------------------
// - Every check runs at once, then again every `interval` (measured from the start of its previous
//   run; a run slower than the interval is followed by the next one right away, never overlapped).
//   All checks run concurrently and independently. Each run is bounded by the check's `timeout`.
// - A check fails the release as soon as it has `failures` consecutive failed runs (default 3,
//   default interval 5s, default timeout min(interval, 10s)). A pass resets the streak.
// - Verification passes once the bake time has elapsed AND every check's latest run passed (so every
//   check has passed at least once since the start; a check in the middle of a failure streak holds
//   the verdict until it passes again or reaches its threshold). The verdict is taken the moment the
//   last condition becomes true (the bake timer firing, or a run finishing), never an interval later.
//   Bake 0 therefore means "each check passes once".
// - Prometheus checks: an instant query; every sample of the vector must satisfy the condition. An
//   empty vector, or one with only NaN samples, is "no data": with no_data `fail` it is a failed run,
//   `pass` a passed run, `pause` ends verification at once with status 'paused' (a human decides).
//   An unreachable Prometheus or a query error is a failed run carrying the error text.
// - Aborting the signal cancels every run in flight (commands are killed with their process group)
//   and verifyRelease rejects with the signal's reason. No probe outlives the call.
// - Logged, one line each: every failed run (check, streak/threshold, expected vs seen), the first
//   pass of each check and a pass that ends a streak, and the verdict. A command's output is logged
//   with its run's line.
import { setTimeout as sleep } from 'node:timers/promises';
import { formatMs, probe, type Outcome } from './probes.js';
import type { Check, VerifyOptions, VerifyResult } from './types.js';

interface CheckState {
  check: Check;
  /** The latest run passed. */
  passing: boolean;
  everPassed: boolean;
  streak: number;
}

export async function verifyRelease(checks: Check[], opts: VerifyOptions): Promise<VerifyResult> {
  opts.signal.throwIfAborted();
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const { log } = opts;
  const stop = new AbortController();
  const signal = AbortSignal.any([opts.signal, stop.signal]);
  const states: CheckState[] = checks.map((check) => ({ check, passing: false, everPassed: false, streak: 0 }));

  let done = false;
  let settle!: (result: VerifyResult) => void;
  const verdict = new Promise<VerifyResult>((resolve) => (settle = resolve));
  const finish = (result: VerifyResult): void => {
    if (done) return;
    done = true;
    stop.abort();
    const took = formatMs(result.durationMs);
    if (result.status === 'passed') {
      log(
        `verify: PASSED in ${took}: ${states.length} check${states.length === 1 ? '' : 's'} passing, bake ${formatMs(opts.bakeMs)} elapsed`,
      );
    } else {
      log(`verify: ${result.status === 'failed' ? 'FAILED' : 'PAUSED'} in ${took}: ${result.check}: ${result.reason}`);
    }
    settle(result);
  };

  let bakeDone = false;
  const passIfReady = (): void => {
    if (bakeDone && states.every((s) => s.passing)) finish({ status: 'passed', durationMs: elapsed() });
  };
  // libuv rounds its clock to milliseconds, so a timer may fire up to one early: the bake ends when
  // the measured time says so, never before.
  const endBake = (): void => {
    const left = opts.bakeMs - (performance.now() - started);
    if (left > 0) {
      bakeTimer = setTimeout(endBake, Math.ceil(left));
      return;
    }
    bakeDone = true;
    passIfReady();
  };
  let bakeTimer = setTimeout(endBake, opts.bakeMs);

  const record = (state: CheckState, outcome: Outcome): void => {
    if (done) return;
    const { check } = state;
    let result: 'pass' | 'fail' = outcome.status === 'no-data' ? 'fail' : outcome.status;
    let detail = outcome.detail;
    if (outcome.status === 'no-data' && check.kind === 'prometheus') {
      if (check.noData === 'pause') {
        finish({ status: 'paused', check: check.name, reason: `no data: ${detail} (no_data: pause)`, durationMs: elapsed() });
        return;
      }
      result = check.noData;
      detail = `no data: ${detail} (no_data: ${check.noData})`;
    }
    const output = 'output' in outcome ? (outcome.output ?? []) : [];
    if (result === 'pass') {
      if (!state.everPassed || state.streak > 0) {
        for (const line of output) log(`  ${check.name} | ${line}`);
        log(
          `verify: ok ${check.name}: ${detail}${state.streak > 0 ? ` (after ${state.streak} failure${state.streak === 1 ? '' : 's'})` : ''}`,
        );
      }
      state.passing = true;
      state.everPassed = true;
      state.streak = 0;
      passIfReady();
      return;
    }
    state.passing = false;
    state.streak++;
    for (const line of output) log(`  ${check.name} | ${line}`);
    log(`verify: FAIL ${check.name} (${state.streak}/${check.failures}): ${detail}`);
    if (state.streak >= check.failures) {
      finish({
        status: 'failed',
        check: check.name,
        reason: `${state.streak} consecutive failure${state.streak === 1 ? '' : 's'}, last: ${detail}`,
        durationMs: elapsed(),
      });
    }
  };

  const runCheck = async (state: CheckState): Promise<void> => {
    const { check } = state;
    while (!done && !signal.aborted) {
      const runStarted = performance.now();
      const timeout = AbortSignal.timeout(check.timeoutMs);
      let outcome: Outcome;
      try {
        outcome = await probe(check, { signal: AbortSignal.any([signal, timeout]), env: opts.env, cwd: opts.cwd });
      } catch (err) {
        if (done || signal.aborted) return;
        outcome = timeout.aborted
          ? { status: 'fail', detail: `expected an answer within ${formatMs(check.timeoutMs)} (timeout), got none` }
          : { status: 'fail', detail: `the check could not run: ${(err as Error).message}` };
      }
      record(state, outcome);
      const wait = check.intervalMs - (performance.now() - runStarted);
      if (wait > 0 && !done) await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
  };

  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(opts.signal.reason);
  });
  opts.signal.addEventListener('abort', onAbort, { once: true });
  const runs = states.map(runCheck);
  try {
    return await Promise.race([verdict, aborted]);
  } catch (err) {
    log(`verify: aborted after ${formatMs(elapsed())}`);
    throw err;
  } finally {
    done = true;
    clearTimeout(bakeTimer);
    opts.signal.removeEventListener('abort', onAbort);
    stop.abort();
    await Promise.allSettled(runs);
  }
}
