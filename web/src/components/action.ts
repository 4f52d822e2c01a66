// A change the user asked for (a form's submit, a button): busy while it runs, its error kept for
// the page to show, so every form reports failures the same way.
import { useCallback, useState } from 'react';

export interface Action {
  busy: boolean;
  error: Error | null;
  /** Runs `work`; resolves true when it succeeded (the error is kept otherwise). */
  run: (work: () => Promise<unknown>) => Promise<boolean>;
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
  return { busy, error, run };
}
