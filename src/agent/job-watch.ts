// Watches a running job from outside: heartbeats extend its lease and bring the server's cancel,
// a stale claim stops it at once, and the agent's own shutdown aborts it.
import { setTimeout as sleep } from 'node:timers/promises';

export interface JobWatch {
  /** Aborted when the job must stop: canceled on the server, its claim lost, or the agent shutting down hard. */
  readonly signal: AbortSignal;
  canceledByServer(): boolean;
  /** Another agent owns the job now: report nothing. */
  lostClaim(): boolean;
  /** Ends the heartbeats without waiting for one in flight. */
  stop(): void;
}

export function watchJob(
  heartbeat: () => Promise<{ cancelRequested: boolean }>,
  heartbeatMs: number,
  agentSignal: AbortSignal | undefined,
): JobWatch {
  const cancel = new AbortController();
  agentSignal?.addEventListener('abort', () => cancel.abort(), { once: true });
  let canceledByServer = false;
  let lostClaim = false;
  // One heartbeat in flight at a time: during a server outage a request retries for a while, and
  // piling up more behind it would only flood the server when it comes back.
  const beating = new AbortController();
  void (async () => {
    while (!beating.signal.aborted) {
      await sleep(heartbeatMs, undefined, { signal: beating.signal }).catch(() => undefined);
      if (beating.signal.aborted) return;
      try {
        const r = await heartbeat();
        if (r.cancelRequested && !cancel.signal.aborted) {
          canceledByServer = true;
          cancel.abort();
        }
      } catch (err) {
        // A stale claim means another agent owns the job now: stop at once, report nothing.
        if ((err as { status?: number }).status === 409) {
          lostClaim = true;
          cancel.abort();
        }
      }
    }
  })();
  return {
    signal: cancel.signal,
    canceledByServer: () => canceledByServer,
    lostClaim: () => lostClaim,
    // Not awaited: a heartbeat stuck retrying against a lost server must not hold up the result.
    stop: () => beating.abort(),
  };
}
