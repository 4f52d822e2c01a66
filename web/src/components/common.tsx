// Small pieces every page uses: status badges, times, loading and error states, page frames.
import { useEffect, useState, type ReactNode } from 'react';
import type { Loaded } from '../api.js';

const STATUS_ICON: Record<string, string> = {
  success: '✔',
  passed: '✔',
  live: '✔',
  failed: '✖',
  canceled: '⊘',
  skipped: '»',
  running: '◔',
  deploying: '◔',
  verifying: '◔',
  pending: '○',
  created: '○',
  queued: '○',
  waiting: '○',
  manual: '▶',
  scheduled: '◷',
  paused: '❚❚',
  rolled_back: '↶',
  superseded: '⤼',
  firing: '!',
  resolved: '✔',
};

/** A status as GitLab shows it: icon and word, coloured by the `status-*` class (never colour alone). */
export function StatusBadge({ status, title }: { status: string; title?: string }) {
  return (
    <span className={`badge status-${status}`} title={title ?? status}>
      <span aria-hidden="true">{STATUS_ICON[status] ?? '•'}</span> {status.replace(/_/g, ' ')}
    </span>
  );
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function timeAgo(iso: string, now = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  for (const [unit, size] of UNITS)
    if (Math.abs(seconds) >= size || unit === 'second') return relative.format(Math.round(seconds / size), unit);
  return iso;
}

/** "3 minutes ago", with the exact time on hover and for screen readers' `dateTime`. */
export function Time({ iso }: { iso: string | null | undefined }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 30_000);
    return () => clearInterval(timer);
  }, []);
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={new Date(iso).toLocaleString()}>
      {timeAgo(iso)}
    </time>
  );
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${BYTE_UNITS[unit]}`;
}

export function ErrorBox({ error }: { error: Error }) {
  return (
    <div role="alert" className="error-box">
      {error.message}
    </div>
  );
}

export function Loading({ what }: { what?: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading{what ? ` ${what}` : ''}…
    </p>
  );
}

/** Renders a loaded value, or its loading or error state. */
export function Await<T>({ loaded, what, children }: { loaded: Loaded<T>; what?: string; children: (data: T) => ReactNode }) {
  if (loaded.data !== undefined) return <>{children(loaded.data)}</>;
  if (loaded.error) return <ErrorBox error={loaded.error} />;
  return <Loading what={what} />;
}

/** A page: its title in the document and as the one h1, optional actions beside it. */
export function Page({
  title,
  actions,
  children,
  crumbs,
}: {
  title: string;
  actions?: ReactNode;
  crumbs?: ReactNode;
  children: ReactNode;
}) {
  useEffect(() => {
    document.title = `${title} · Tandem`;
  }, [title]);
  return (
    <section className="page">
      {crumbs ? (
        <nav aria-label="Breadcrumb" className="crumbs">
          {crumbs}
        </nav>
      ) : null}
      <header className="page-header">
        <h1>{title}</h1>
        {actions ? <div className="actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty muted">{children}</p>;
}

/**
 * A list as a table, or `empty` when the list has none. `columns` are the header cells' contents
 * (a visually hidden one labels a column of buttons); `row` renders an item's `<tr>`, key included.
 */
export function DataTable<T>({
  rows,
  empty,
  columns,
  row,
}: {
  rows: readonly T[];
  empty: ReactNode;
  columns: ReactNode[];
  row: (item: T) => ReactNode;
}) {
  if (rows.length === 0) return <>{empty}</>;
  return (
    <div className="table-wrap">
      <table>
        <thead>
          <tr>
            {columns.map((column, i) => (
              // Headers are a fixed list: their place is their identity.
              <th scope="col" key={i}>
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{rows.map(row)}</tbody>
      </table>
    </div>
  );
}
