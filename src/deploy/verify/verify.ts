// verifyRelease: a release's checks run until they pass for the bake or one fails.
// Behaviour: docs/pipeline-reference.md#how-a-release-is-verified.
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
