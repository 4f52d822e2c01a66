// What waits for a person on an environment: deploy jobs waiting as manual (GET .../manual-jobs; a
// protected environment wants an approval), and a paused release (a canary, or a verification
// without data) to promote or abort.
import { api, useApi } from '../../api.js';
import { ActionError, useAction } from '../../components/action.js';
import { StatusBadge, Time } from '../../components/common.js';
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
            <WaitingDeploy job={job} mayApprove={approver && can(env.protected ? 'deployment.approve' : 'job.play')} onDone={refresh} />
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

function WaitingDeploy({ job, mayApprove, onDone }: { job: Job; mayApprove: boolean; onDone: () => void }) {
  const action = useAction();
  const approve = () =>
    void action.run(async () => {
      await api(`/api/v1/jobs/${job.id}/play`, { method: 'POST' });
      onDone();
    });
  return (
    <>
      <StatusBadge status={job.status} /> <Link to={`/jobs/${job.id}`}>{job.name}</Link> of{' '}
      <Link to={`/pipelines/${job.pipelineId}`}>pipeline #{job.pipelineId}</Link> waits for an approval, since <Time iso={job.createdAt} />.{' '}
      {mayApprove ? (
        <button
          type="button"
          className="primary"
          onClick={approve}
          disabled={action.busy}
          aria-label={`Approve ${job.name} of pipeline #${job.pipelineId}`}
        >
          Approve
        </button>
      ) : (
        <span className="muted">A maintainer approves it.</span>
      )}
      <ActionError action={action} />
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
