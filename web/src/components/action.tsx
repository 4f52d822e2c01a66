// A change the user asked for (a form's submit, a button): busy while it runs, and the server's own
// refusal (a 403, a 409...) kept to show next to the control that caused it, the same on every page.
import { useCallback, useState } from 'react';
import { ApiError } from '../api.js';
import { ErrorBox } from './common.js';

export interface Action {
  busy: boolean;
  error: Error | null;
  /** Runs `work`; true when it succeeded, false when it failed (the error is kept). */
  run: (work: () => Promise<unknown>) => Promise<boolean>;
  clear: () => void;
}

export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const run = useCallback(async (work: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
      return true;
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setError(null), []);
  return { busy, error, run, clear };
}

/** The failure of an action, saying plainly when the server refused it for lack of permission. */
export function ActionError({ action }: { action: Action }) {
  if (!action.error) return null;
  const refused = action.error instanceof ApiError && action.error.status === 403;
  return <ErrorBox error={refused ? new Error(`Not allowed: ${action.error.message}`) : action.error} />;
}

/** What a settings form says under its buttons: the action's failure, or that it was saved. */
export function ActionOutcome({ action, saved }: { action: Action; saved: boolean }) {
  return (
    <>
      <ActionError action={action} />
      {saved ? (
        <p className="notice" role="status">
          Saved.
        </p>
      ) : null}
    </>
  );
}
