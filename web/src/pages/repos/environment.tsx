// One environment: what is live, what waits for a person (an approval, a paused canary), its release
// timeline with a diff of any two releases, and a one-click rollback that follows the rollback until
// it is live.
import { useEffect, useEffectEvent, useState } from 'react';
import { api, useApi } from '../../api.js';
import { Await, Empty, StatusBadge, Time } from '../../components/common.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { RepoFrame, useRepo } from '../../components/repo-frame.js';
import { Link, seg } from '../../router.js';
import type { Environment, Release } from '../../types.js';
import { ActionError, useAction } from '../../components/action.js';
import { ImageRef } from '../../components/image-ref.js';
import { shortSha } from '../pipelines/status.js';
import { WaitingForPeople } from './approvals.js';
import {
  DeployLock,
  EnvironmentTraits,
  inProgress,
  lastGood,
  lockHolder,
  releaseChoice,
  releaseDate,
  ReleaseLine,
  rollbackCandidates,
} from './deploy-parts.js';
import { ReleaseTimeline, useReleases } from './timeline.js';

/** Polling when nothing moves, and while a release is on its way (so "live" shows within seconds). */
const IDLE_MS = 5_000;
const ACTIVE_MS = 1_500;

export function EnvironmentPage({ name, env }: { name: string; env: string }) {
  return (
    <RepoFrame name={name} title={`Environment ${env}`}>
      <EnvironmentDetail envName={env} />
    </RepoFrame>
  );
}

/** Calls `tick` every `everyMs` while `active`. */
function usePollWhile(active: boolean, everyMs: number, tick: () => void): void {
  const onTick = useEffectEvent(tick);
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => onTick(), everyMs);
    return () => clearInterval(timer);
  }, [active, everyMs]);
}

function EnvironmentDetail({ envName }: { envName: string }) {
  const { repo } = useRepo();
  const envPath = `/api/v1/repos/${seg(repo.name)}/environments`;
  const envs = useApi<Environment[]>(envPath, IDLE_MS);
  const releases = useReleases(`${envPath}/${seg(envName)}/releases`, IDLE_MS);
  const env = envs.data?.find((e) => e.name === envName);
  const moving = (env !== undefined && lockHolder(env) !== null) || releases.list.some(inProgress);
  const refresh = () => {
    envs.reload();
    releases.reload();
  };
  usePollWhile(moving, ACTIVE_MS, refresh);

  return (
    <Await loaded={envs} what="the environment">
      {() =>
        env === undefined ? (
          <Empty>
            {repo.name} has no environment named “{envName}”. <Link to={`/repos/${seg(repo.name)}/environments`}>All environments</Link>
          </Empty>
        ) : (
          <>
            <LiveNow env={env} envPath={`${envPath}/${seg(envName)}`} releases={releases.list} onChange={refresh} />
            <WaitingForPeople env={env} envPath={`${envPath}/${seg(envName)}`} releases={releases.list} onChange={refresh} />
            <ReleaseTimeline releases={releases} envPath={`${envPath}/${seg(envName)}`} current={env.current} />
          </>
        )
      }
    </Await>
  );
}

function LiveNow({ env, envPath, releases, onChange }: { env: Environment; envPath: string; releases: Release[]; onChange: () => void }) {
  const { can } = useRepo();
  const protect = useAction();
  const setProtected = () =>
    void protect.run(async () => {
      await api(envPath, { method: 'PUT', body: { protected: !env.protected } });
      onChange();
    });
  // On a protected environment, asking for a rollback approves its deploy: a maintainer's call.
  const mayRollBack = can('environment.rollback') && (!env.protected || can('deployment.approve'));

  return (
    <section aria-labelledby="live-now" className="card live-now">
      <h2 id="live-now">Live now</h2>
      <EnvironmentTraits env={env} />
      {env.current ? (
        <p className="current-release">
          <StatusBadge status={env.current.status} /> <ReleaseLine release={env.current} />{' '}
          {env.current.kind === 'rollback' ? <span className="muted">(a rollback to release #{env.current.rollbackOf})</span> : null}{' '}
          {env.current.jobId !== null ? <Link to={`/jobs/${env.current.jobId}`}>deploy job #{env.current.jobId}</Link> : null}
          <br />
          {env.current.image ? (
            <>
              <span className="release-image">
                Image: <ImageRef image={env.current.image} />
                {env.current.imageUrl ? (
                  <>
                    {' '}
                    <a href={env.current.imageUrl} target="_blank" rel="noreferrer noopener">
                      in the registry
                    </a>
                  </>
                ) : null}
              </span>
              <br />
            </>
          ) : null}
          <span className="release-target">
            Target: {env.current.target.kind}
            {env.current.target.hosts.length > 0 ? ' on ' : ''}
            {env.current.target.hosts.map((host, i) => (
              <span key={host}>
                {i > 0 ? ', ' : ''}
                <code>{host}</code>
              </span>
            ))}{' '}
            <span className="muted">({env.current.target.strategy})</span>
          </span>
        </p>
      ) : (
        <p className="muted">Nothing is live here yet.</p>
      )}
      <HostsTable env={env} />
      {env.latest ? (
        <p>
          Latest: <StatusBadge status={env.latest.status} /> <strong>{env.latest.version}</strong> (release #{env.latest.id})
          {env.latest.statusReason ? <span className="muted"> — {env.latest.statusReason}</span> : null}
        </p>
      ) : null}
      <p>
        Deploy lock: <DeployLock env={env} />
      </p>
      <div className="actions">
        {mayRollBack ? <RollbackButton env={env} envPath={envPath} releases={releases} onChange={onChange} /> : null}
        {can('environment.update') ? (
          <button type="button" onClick={setProtected} disabled={protect.busy}>
            {env.protected ? 'Unprotect' : 'Protect'}
          </button>
        ) : null}
      </div>
      <ActionError action={protect} />
    </section>
  );
}

/** Which release each host runs, as the deploying agents reported it: a paused canary shows both. */
function HostsTable({ env }: { env: Environment }) {
  if (env.hosts.length === 0) return null;
  return (
    <div className="table-wrap">
      <table className="environment-hosts">
        <caption>Hosts</caption>
        <thead>
          <tr>
            <th>Host</th>
            <th>Release</th>
            <th>Image</th>
            <th>Since</th>
          </tr>
        </thead>
        <tbody>
          {env.hosts.map((h) => (
            <tr key={h.name}>
              <td className="mono">{h.name}</td>
              <td>
                <strong>{h.version}</strong> (release #{h.releaseId})
                {h.releaseId === env.current?.id ? null : <span className="muted"> — not the live release</span>}
              </td>
              <td>{h.image ? <ImageRef image={h.image} /> : <span className="muted">files</span>}</td>
              <td>
                <Time iso={h.updatedAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RollbackButton({
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
  const action = useAction();
  const [open, setOpen] = useState(false);
  const [target, setTarget] = useState<number | null>(null);
  const [requested, setRequested] = useState<(Release & { pipelineId: number }) | null>(null);
  const candidates = rollbackCandidates(releases, env.current);
  // The default is the server's: the newest earlier release that was live before the current one.
  const previous = lastGood(releases, env.current);
  const chosen = candidates.find((r) => r.id === target) ?? previous;

  const start = () => {
    action.clear();
    setTarget(previous?.id ?? null);
    setOpen(true);
  };
  const confirm = () => {
    if (!chosen) return;
    void action
      .run(async () => {
        setRequested(await api<Release & { pipelineId: number }>(`${envPath}/rollback`, { method: 'POST', body: { to: chosen.id } }));
        onChange();
      })
      .then((ok) => ok && setOpen(false));
  };
  const progress = requested ? releases.find((r) => r.id === requested.id) : undefined;

  return (
    <>
      <button
        type="button"
        className="danger"
        onClick={start}
        disabled={!previous}
        title={previous ? undefined : 'No earlier release to roll back to'}
      >
        Rollback
      </button>
      {requested ? (
        <p className="notice rollback-status" role="status">
          Rolling back to <strong>{requested.version}</strong>:{' '}
          <Link to={`/pipelines/${requested.pipelineId}`}>pipeline #{requested.pipelineId}</Link>, release #{requested.id}{' '}
          <StatusBadge status={progress?.status ?? requested.status} />
        </p>
      ) : null}
      <ConfirmDialog
        open={open}
        title={`Roll ${env.name} back?`}
        confirmLabel={chosen ? `Roll back to ${chosen.version}` : 'Roll back'}
        danger
        busy={action.busy}
        onConfirm={confirm}
        onCancel={() => setOpen(false)}
      >
        <p>
          Live now:{' '}
          {env.current ? (
            <>
              <strong>{env.current.version}</strong> (<code>{shortSha(env.current.sha)}</code>, release #{env.current.id})
            </>
          ) : (
            'nothing'
          )}
        </p>
        <label>
          Roll back to
          <select value={chosen?.id ?? ''} onChange={(e) => setTarget(Number(e.target.value))}>
            {candidates.map((r) => (
              <option key={r.id} value={r.id}>
                {releaseChoice(r, r.id === previous?.id)}
              </option>
            ))}
          </select>
        </label>
        {chosen ? (
          <>
            <dl className="rollback-choice">
              <dt>Release</dt>
              <dd>
                #{chosen.id} <strong>{chosen.version}</strong>
                {chosen.id === previous?.id ? <span className="badge status-success">last good</span> : null}
              </dd>
              <dt>Commit</dt>
              <dd>
                {chosen.commitTitle ?? <span className="muted">(title not recorded)</span>} <code>{shortSha(chosen.sha)}</code>
              </dd>
              <dt>Deployed</dt>
              <dd>
                {releaseDate(chosen)} by {chosen.createdBy}
              </dd>
            </dl>
            <p>
              A rollback pipeline deploys the stored files of release #{chosen.id} (<code>{shortSha(chosen.sha)}</code>) to {env.name},
              without checking out git.
            </p>
          </>
        ) : null}
        {lockHolder(env) ? (
          <p className="muted">Release #{lockHolder(env)?.id} holds the environment now: the rollback waits for it to finish.</p>
        ) : null}
        <ActionError action={action} />
      </ConfirmDialog>
    </>
  );
}
