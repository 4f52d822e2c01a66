// What can be done to a job (retry, cancel, play), offered only when its status allows it and the
// caller holds the permission; the pipeline graph and the job page use the same buttons.
import { memo, useState } from 'react';
import { api } from '../../api.js';
import type { Job } from '../../types.js';

export type JobAction = 'retry' | 'cancel' | 'play';

const ALLOWED_IN: Record<JobAction, ReadonlySet<string>> = {
  retry: new Set(['success', 'failed', 'canceled']),
  cancel: new Set(['created', 'pending', 'running', 'scheduled']),
  play: new Set(['manual', 'scheduled']),
};
const LABEL: Record<JobAction, string> = { retry: 'Retry', cancel: 'Cancel', play: 'Play' };

/** The actions `job` allows now that the caller may take (`can`: holds the repository permission). */
export function jobActions(job: Job, can: (permission: string) => boolean): JobAction[] {
  if (job.retried) return [];
  return (['play', 'cancel', 'retry'] as const).filter((a) => ALLOWED_IN[a].has(job.status) && can(`job.${a}`));
}

/** POSTs the action; resolves to the job the server shows afterwards (a retry's new attempt). */
export function runJobAction(job: Job, action: JobAction): Promise<Job> {
  return api<Job>(`/api/v1/jobs/${job.id}/${action}`, { method: 'POST' });
}

/** Buttons for `actions` on `job`; each names the job for screen readers ("Retry build"). */
export const JobActionButtons = memo(function JobActionButtons({
  job,
  actions,
  onDone,
  onError,
}: {
  job: Job;
  actions: JobAction[];
  onDone: (action: JobAction, result: Job) => void;
  onError: (error: Error) => void;
}) {
  const [busy, setBusy] = useState(false);
  if (actions.length === 0) return null;
  const run = (action: JobAction) => {
    setBusy(true);
    runJobAction(job, action)
      .then(
        (result) => onDone(action, result),
        (err: unknown) => onError(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => setBusy(false));
  };
  return (
    <span className="job-actions">
      {actions.map((action) => (
        <button
          key={action}
          type="button"
          className="small"
          disabled={busy}
          aria-label={`${LABEL[action]} ${job.name}`}
          onClick={() => run(action)}
        >
          {LABEL[action]}
        </button>
      ))}
    </span>
  );
});
