// What waits for a person on an environment: deploy jobs waiting as manual (GET .../manual-jobs; a
// protected environment wants an approval, asked for with a confirmation and a comment), and a paused release (a canary, or a verification
// without data) to promote or abort.
import { useState } from 'react';
import { api, useApi } from '../../api.js';
import { ActionError, useAction } from '../../components/action.js';
import { StatusBadge, Time } from '../../components/common.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { useRepo } from '../../components/repo-frame.js';
import { Link, seg } from '../../router.js';
import type { Environment, Job, Release } from '../../types.js';

const REFRESH_MS = 5_000;

export function WaitingForPeople({
  env,
  envPath,
  releases,
  onChange,
}: {
  env: Environment;
  envPath: string;
  releases: Release[];
  onChange: () => void;
}) {
  const { repo, can } = useRepo();
  const waiting = useApi<Job[]>(`/api/v1/repos/${seg(repo.name)}/environments/${seg(env.name)}/manual-jobs`, REFRESH_MS);
  const waitingJobs = waiting.data ?? [];
  const paused = releases.filter((r) => r.status === 'paused' && r.decision === null);
  if (waitingJobs.length === 0 && paused.length === 0) return null;
  // A protected environment's deploys and decisions are a maintainer's (deployment.approve).
  const approver = !env.protected || can('deployment.approve');
  const refresh = () => {
    waiting.reload();
    onChange();
  };

  return (
    <section aria-labelledby="waiting" className="card waiting">
      <h2 id="waiting">Waiting for you</h2>
      <ul className="plain-list">
        {waitingJobs.map((job) => (
          <li key={job.id}>
            <WaitingDeploy
              job={job}
              envName={env.name}
              mayApprove={approver && can(env.protected ? 'deployment.approve' : 'job.play')}
              onDone={refresh}
            />
          </li>
        ))}
        {paused.map((release) => (
          <li key={release.id}>
            <PausedRelease
              release={release}
              envPath={envPath}
              mayPromote={approver && can('release.promote')}
              mayAbort={approver && can('release.abort')}
              onDone={refresh}
            />
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Approving asks first, takes the approver's comment, and records both with the deploy (the release timeline shows them). */
function WaitingDeploy({ job, envName, mayApprove, onDone }: { job: Job; envName: string; mayApprove: boolean; onDone: () => void }) {
  const action = useAction();
  const [open, setOpen] = useState(false);
  const [comment, setComment] = useState('');
  const approve = () =>
    void action
      .run(async () => {
        const trimmed = comment.trim();
        await api(`/api/v1/jobs/${job.id}/play`, { method: 'POST', body: trimmed ? { comment: trimmed } : {} });
        onDone();
      })
      .then((ok) => {
        if (!ok) return;
        setOpen(false);
        setComment('');
      });
  return (
    <>
      <StatusBadge status={job.status} /> <Link to={`/jobs/${job.id}`}>{job.name}</Link> of{' '}
      <Link to={`/pipelines/${job.pipelineId}`}>pipeline #{job.pipelineId}</Link> waits for an approval, since <Time iso={job.createdAt} />.{' '}
      {mayApprove ? (
        <button
          type="button"
          className="primary"
          onClick={() => {
            action.clear();
            setOpen(true);
          }}
          aria-label={`Approve ${job.name} of pipeline #${job.pipelineId}`}
        >
          Approve
        </button>
      ) : (
        <span className="muted">A maintainer approves it.</span>
      )}
      <ConfirmDialog
        open={open}
        title={`Approve the deploy to ${envName}?`}
        confirmLabel="Approve and deploy"
        busy={action.busy}
        onConfirm={approve}
        onCancel={() => setOpen(false)}
      >
        <p>
          {job.name} of pipeline #{job.pipelineId} starts at once and deploys to {envName}. You are recorded as its approver.
        </p>
        <label>
          Comment (optional)
          <textarea value={comment} maxLength={1000} rows={3} onChange={(e) => setComment(e.target.value)} />
        </label>
        <ActionError action={action} />
      </ConfirmDialog>
      {open ? null : <ActionError action={action} />}
    </>
  );
}

function PausedRelease({
  release,
  envPath,
  mayPromote,
  mayAbort,
  onDone,
}: {
  release: Release;
  envPath: string;
  mayPromote: boolean;
  mayAbort: boolean;
  onDone: () => void;
}) {
  const action = useAction();
  const decide = (decision: 'promote' | 'abort') =>
    void action.run(async () => {
      await api(`${envPath}/releases/${release.id}/${decision}`, { method: 'POST', body: {} });
      onDone();
    });
  return (
    <>
      <StatusBadge status="paused" /> Release #{release.id} <strong>{release.version}</strong> is paused
      {release.statusReason ? `: ${release.statusReason}` : ''}.{' '}
      {mayPromote ? (
        <button type="button" className="primary" onClick={() => decide('promote')} disabled={action.busy}>
          Promote
        </button>
      ) : null}{' '}
      {mayAbort ? (
        <button type="button" className="danger" onClick={() => decide('abort')} disabled={action.busy}>
          Abort
        </button>
      ) : null}
      {!mayPromote && !mayAbort ? <span className="muted">A maintainer decides.</span> : null}
      <ActionError action={action} />
    </>
  );
}
