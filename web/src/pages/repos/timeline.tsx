// An environment's release history as a timeline, newest first and paged as the API pages them
// (each release's commit, date, approver and whether it was the last good one), and the difference
// between any two of them: their files by digest when both carry a manifest, else version and commit.
import { useState } from 'react';
import { api, useApi, type Loaded } from '../../api.js';
import { Await, Empty, ErrorBox, StatusBadge, Time } from '../../components/common.js';
import { Link } from '../../router.js';
import type { Release } from '../../types.js';
import { shortSha } from '../pipelines/status.js';
import { lastGood, ReleaseCommit, releaseDate } from './deploy-parts.js';

const PAGE = 25;

interface ManifestFile {
  path: string;
  digest: string;
  size: number;
  mode: number;
}

/** GET .../releases/:id: a release with its files. */
type ReleaseDetail = Release & { files: ManifestFile[] };

export interface Releases {
  /** The newest page (kept fresh) and the older pages asked for, newest first. */
  list: Release[];
  newest: Loaded<Release[]>;
  /** Whether the API may have releases older than the list's last. */
  more: boolean;
  loadOlder: () => void;
  olderError: Error | null;
  reload: () => void;
}

export function useReleases(path: string, refreshMs: number): Releases {
  const newest = useApi<Release[]>(`${path}?limit=${PAGE}`, refreshMs);
  const [older, setOlder] = useState<{ path: string; pages: Release[]; more: boolean; error: Error | null }>({
    path,
    pages: [],
    more: true,
    error: null,
  });
  const olderPages = older.path === path ? older : { pages: [], more: true, error: null };
  const first = newest.data ?? [];
  const seen = new Set(first.map((r) => r.id));
  const list = [...first, ...olderPages.pages.filter((r) => !seen.has(r.id))];
  const oldest = list.at(-1);

  const loadOlder = () => {
    if (!oldest) return;
    api<Release[]>(`${path}?limit=${PAGE}&before=${oldest.id}`).then(
      (page) => setOlder({ path, pages: [...olderPages.pages, ...page], more: page.length === PAGE, error: null }),
      (err: unknown) => setOlder({ ...olderPages, path, error: err instanceof Error ? err : new Error(String(err)) }),
    );
  };
  const more = olderPages.pages.length === 0 ? first.length === PAGE : olderPages.more;
  return { list, newest, more, loadOlder, olderError: olderPages.error, reload: newest.reload };
}

export function ReleaseTimeline({ releases, envPath, current }: { releases: Releases; envPath: string; current: Release | null }) {
  const [compared, setCompared] = useState<number[]>([]);
  const toggle = (id: number, on: boolean) =>
    setCompared((ids) => (on ? [...ids.filter((x) => x !== id), id].slice(-2) : ids.filter((x) => x !== id)));
  const good = lastGood(releases.list, current);

  return (
    <section aria-labelledby="timeline">
      <h2 id="timeline">Releases</h2>
      <p className="muted">Newest first. Tick two releases to compare them.</p>
      <Await loaded={releases.newest} what="releases">
        {() =>
          releases.list.length === 0 ? (
            <Empty>No releases yet.</Empty>
          ) : (
            <ol className="release-timeline" aria-label="Release history">
              {releases.list.map((r) => (
                <ReleaseEvent
                  key={r.id}
                  release={r}
                  live={r.id === current?.id}
                  lastGood={r.id === good?.id}
                  compared={compared.includes(r.id)}
                  onCompare={(on) => toggle(r.id, on)}
                />
              ))}
            </ol>
          )
        }
      </Await>
      {releases.olderError ? <ErrorBox error={releases.olderError} /> : null}
      {releases.more ? (
        <button type="button" onClick={releases.loadOlder}>
          Show older releases
        </button>
      ) : null}
      {compared.length === 2 ? <ReleaseDiff envPath={envPath} ids={[Math.min(...compared), Math.max(...compared)]} /> : null}
    </section>
  );
}

/** One release on the timeline: what, which commit, when and by whom, who approved it, and why it ended. */
function ReleaseEvent({
  release: r,
  live,
  lastGood: good,
  compared,
  onCompare,
}: {
  release: Release;
  live: boolean;
  lastGood: boolean;
  compared: boolean;
  onCompare: (on: boolean) => void;
}) {
  return (
    <li className="release-event" aria-label={`Release #${r.id} ${r.version}`}>
      <span className={`release-dot badge status-${r.status}`} aria-hidden="true" />
      <div className="release-head">
        <strong>Release #{r.id}</strong> <strong className="release-version">{r.version}</strong> <StatusBadge status={r.status} />
        {r.decision ? <span className="muted"> ({r.decision})</span> : null}{' '}
        {live ? <span className="badge status-live">live now</span> : null}
        {good ? <span className="badge status-success">last good</span> : null}
        <span className="muted"> {r.kind === 'rollback' ? `rollback to #${r.rollbackOf}` : 'deploy'}</span>
      </div>
      <div>
        {r.commitTitle ? <span className="release-title">{r.commitTitle}</span> : null} <ReleaseCommit release={r} />
      </div>
      <div className="muted small">
        {releaseDate(r)} (<Time iso={r.finishedAt ?? r.createdAt} />) by {r.createdBy}
        {r.jobId === null ? null : (
          <>
            {' '}
            · <Link to={`/jobs/${r.jobId}`}>job #{r.jobId}</Link>
          </>
        )}
      </div>
      {r.approval ? (
        <div className="release-approval">
          Approved by <strong>{r.approval.by}</strong> <Time iso={r.approval.at} />
          {r.approval.comment ? <q>{r.approval.comment}</q> : null}
        </div>
      ) : null}
      {r.statusReason ? <div className="small">{r.statusReason}</div> : null}
      <label className="release-compare">
        <input type="checkbox" aria-label={`Compare release #${r.id}`} checked={compared} onChange={(e) => onCompare(e.target.checked)} />{' '}
        Compare
      </label>
    </li>
  );
}

interface FileChanges {
  added: ManifestFile[];
  removed: ManifestFile[];
  changed: { before: ManifestFile; after: ManifestFile }[];
}

function fileChanges(before: ManifestFile[], after: ManifestFile[]): FileChanges {
  const old = new Map(before.map((f) => [f.path, f]));
  const now = new Map(after.map((f) => [f.path, f]));
  return {
    added: after.filter((f) => !old.has(f.path)),
    removed: before.filter((f) => !now.has(f.path)),
    changed: after.flatMap((f) => {
      const was = old.get(f.path);
      return was && (was.digest !== f.digest || was.mode !== f.mode) ? [{ before: was, after: f }] : [];
    }),
  };
}

const FIELDS: { label: string; of: (r: ReleaseDetail) => string }[] = [
  { label: 'Version', of: (r) => r.version },
  { label: 'Commit', of: (r) => r.sha },
  { label: 'Ref', of: (r) => r.ref },
  { label: 'Kind', of: (r) => (r.kind === 'rollback' ? `rollback to #${r.rollbackOf}` : 'deploy') },
  { label: 'Status', of: (r) => r.status },
  { label: 'Image', of: (r) => r.image ?? '(none)' },
  { label: 'Release digest', of: (r) => r.digest },
];

function ReleaseDiff({ envPath, ids: [olderId, newerId] }: { envPath: string; ids: [number, number] }) {
  const older = useApi<ReleaseDetail>(`${envPath}/releases/${olderId}`);
  const newer = useApi<ReleaseDetail>(`${envPath}/releases/${newerId}`);
  return (
    <section aria-labelledby="release-diff" className="card release-diff">
      <h3 id="release-diff">
        Release #{olderId} → #{newerId}
      </h3>
      <Await loaded={older} what={`release #${olderId}`}>
        {(a) => (
          <Await loaded={newer} what={`release #${newerId}`}>
            {(b) => <DiffBody before={a} after={b} />}
          </Await>
        )}
      </Await>
    </section>
  );
}

function DiffBody({ before, after }: { before: ReleaseDetail; after: ReleaseDetail }) {
  const manifests = before.files.length > 0 && after.files.length > 0;
  const changes = manifests ? fileChanges(before.files, after.files) : null;
  return (
    <>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Field</th>
              <th>#{before.id}</th>
              <th>#{after.id}</th>
            </tr>
          </thead>
          <tbody>
            {FIELDS.map(({ label, of }) => {
              const [x, y] = [of(before), of(after)];
              return (
                <tr key={label} className={x === y ? undefined : 'differs'}>
                  <th scope="row">
                    {label}
                    {x === y ? null : <span className="visually-hidden"> (differs)</span>}
                  </th>
                  <td className="mono wrap-anywhere">{x}</td>
                  <td className="mono wrap-anywhere">
                    {x === y ? null : (
                      <span aria-hidden="true" className="differs-mark">
                        ≠{' '}
                      </span>
                    )}
                    {y}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {changes === null ? (
        <p className="muted">A release here carries no file manifest: compared by version and commit only.</p>
      ) : before.digest === after.digest ? (
        <p>Both releases have the same files.</p>
      ) : (
        <FileChangeList changes={changes} />
      )}
    </>
  );
}

function FileChangeList({ changes }: { changes: FileChanges }) {
  const digest = (f: ManifestFile) => <code title={f.digest}>{shortSha(f.digest)}</code>;
  return (
    <ul className="file-changes">
      {changes.added.map((f) => (
        <li key={`+${f.path}`}>
          <span className="badge status-success">added</span> <code>{f.path}</code> {digest(f)}
        </li>
      ))}
      {changes.removed.map((f) => (
        <li key={`-${f.path}`}>
          <span className="badge status-failed">removed</span> <code>{f.path}</code> {digest(f)}
        </li>
      ))}
      {changes.changed.map(({ before, after }) => (
        <li key={`~${after.path}`}>
          <span className="badge status-running">changed</span> <code>{after.path}</code> {digest(before)} → {digest(after)}
          {before.mode !== after.mode ? ` (mode ${before.mode.toString(8)} → ${after.mode.toString(8)})` : null}
        </li>
      ))}
    </ul>
  );
}
