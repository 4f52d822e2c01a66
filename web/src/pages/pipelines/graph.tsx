// A pipeline as GitLab draws it: one column per stage, a card per job (latest attempts only), and
// the `needs` between jobs as SVG curves. Cards have a fixed size, so every card's place and every
// edge follow from the job's column and row alone: no DOM measuring, linear in jobs and needs.
import { memo, useLayoutEffect, useMemo, useRef } from 'react';
import { formatDuration, StatusBadge } from '../../components/common.js';
import { Link } from '../../router.js';
import type { Job } from '../../types.js';
import { jobCardId } from './failure.js';
import { JobActionButtons, jobActions, type JobAction } from './job-actions.js';

const COLUMN_WIDTH = 232;
const COLUMN_GAP = 56;
const CARD_HEIGHT = 64;
const CARD_GAP = 10;
const HEADER_HEIGHT = 34;
/** Room left of the first column for edges between jobs of one stage (they bend out to the left). */
const LEFT_PAD = 28;

interface Column {
  stage: string;
  jobIds: number[];
}

interface Layout {
  columns: Column[];
  edges: { key: string; path: string }[];
  /** Same drawing, same signature: a status update redraws no edge. */
  signature: string;
  width: number;
  height: number;
}

/** Stages in the pipeline's order; stages only jobs name (`.pre`, `.post`) go first and last. */
function stageOrder(stages: string[], jobs: Job[]): string[] {
  const order = stages.filter((s) => jobs.some((j) => j.stage === s));
  for (const job of jobs) {
    if (order.includes(job.stage)) continue;
    if (job.stage === '.pre') order.unshift(job.stage);
    else order.push(job.stage);
  }
  return order;
}

function layoutGraph(stages: string[], jobs: Job[]): Layout {
  const order = stageOrder(stages, jobs);
  const columnOf = new Map(order.map((stage, i) => [stage, i]));
  const columns: Column[] = order.map((stage) => ({ stage, jobIds: [] }));
  const place = new Map<string, { column: number; row: number }>();
  for (const job of jobs) {
    const column = columnOf.get(job.stage) ?? 0;
    place.set(job.name, { column, row: columns[column].jobIds.length });
    columns[column].jobIds.push(job.id);
  }
  const x = (column: number) => LEFT_PAD + column * (COLUMN_WIDTH + COLUMN_GAP);
  const y = (row: number) => HEADER_HEIGHT + row * (CARD_HEIGHT + CARD_GAP) + CARD_HEIGHT / 2;
  const edges: Layout['edges'] = [];
  for (const job of jobs) {
    const to = place.get(job.name);
    if (!to) continue;
    for (const need of job.needs ?? []) {
      const from = place.get(need);
      if (!from) continue;
      const [y1, y2] = [y(from.row), y(to.row)];
      let path: string;
      if (from.column < to.column) {
        const [x1, x2] = [x(from.column) + COLUMN_WIDTH, x(to.column)];
        const mid = (x1 + x2) / 2;
        path = `M${x1} ${y1}C${mid} ${y1} ${mid} ${y2} ${x2 - 4} ${y2}`;
      } else {
        // Within a stage (or backwards): out of the left edge and into the other card's left edge.
        const [x1, x2] = [x(from.column), x(to.column)];
        path = `M${x1} ${y1}C${x1 - LEFT_PAD + 4} ${y1} ${x2 - LEFT_PAD + 4} ${y2} ${x2 - 4} ${y2}`;
      }
      edges.push({ key: `${need}>${job.name}`, path });
    }
  }
  const rows = Math.max(0, ...columns.map((c) => c.jobIds.length));
  const width = LEFT_PAD + order.length * (COLUMN_WIDTH + COLUMN_GAP);
  const height = HEADER_HEIGHT + rows * (CARD_HEIGHT + CARD_GAP);
  return {
    columns,
    edges,
    width,
    height,
    signature: `${width}x${height}:${edges.map((e) => e.key).join(' ')}:${columns.map((c) => c.jobIds.join(',')).join('|')}`,
  };
}

const Edges = memo(
  function Edges({ layout }: { layout: Layout }) {
    return (
      <svg className="needs-edges" width={layout.width} height={layout.height} aria-hidden="true" focusable="false">
        <defs>
          <marker id="needs-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" orient="auto">
            <path d="M0 0L8 4L0 8z" />
          </marker>
        </defs>
        {layout.edges.map((e) => (
          <path key={e.key} d={e.path} markerEnd="url(#needs-arrow)" />
        ))}
      </svg>
    );
  },
  (before, after) => before.layout.signature === after.layout.signature,
);

interface CardProps {
  job: Job;
  permissions: ReadonlySet<string>;
  onDone: (action: JobAction, result: Job) => void;
  onError: (error: Error) => void;
}

const JobCard = memo(function JobCard({ job, permissions, onDone, onError }: CardProps) {
  const actions = jobActions(job, (p) => permissions.has(p));
  return (
    <li
      id={jobCardId(job.id)}
      className={`job-card${job.status === 'failed' ? ' failed' : ''}`}
      style={{ height: CARD_HEIGHT, marginBottom: CARD_GAP }}
    >
      <div className="job-card-top">
        <StatusBadge status={job.status} />
        <Link to={`/jobs/${job.id}`} className="job-name" title={job.name}>
          {job.name}
        </Link>
      </div>
      <div className="job-card-bottom">
        <span className="muted">
          {formatDuration(job.duration)}
          {job.attempt > 1 ? ` · attempt ${job.attempt}` : ''}
          {job.quarantinedTests ? ' · quarantined flaky tests' : job.allowFailure ? ' · may fail' : ''}
        </span>
        {job.needs && job.needs.length > 0 ? <span className="visually-hidden">needs {job.needs.join(', ')}</span> : null}
        <JobActionButtons job={job} actions={actions} onDone={onDone} onError={onError} />
      </div>
    </li>
  );
});

/** The graph of a pipeline's latest attempts; `permissions` decide which job buttons show. */
export function PipelineGraph({ stages, jobs, permissions, onDone, onError }: { stages: string[]; jobs: Job[] } & Omit<CardProps, 'job'>) {
  const latest = useMemo(() => jobs.filter((j) => !j.retried), [jobs]);
  const layout = useMemo(() => layoutGraph(stages, latest), [stages, latest]);
  const byId = new Map(latest.map((j) => [j.id, j]));
  const wrap = useRef<HTMLDivElement>(null);
  const firstFailed = layout.columns.findIndex((c) => c.jobIds.some((id) => byId.get(id)?.status === 'failed'));
  const revealedColumn = useRef(-1);
  // A failed job is never left off screen: when the graph is wider than its box, it scrolls
  // sideways once so the first stage with a failure is in view (later scrolls are the reader's).
  useLayoutEffect(() => {
    const el = wrap.current;
    if (!el || firstFailed === -1 || revealedColumn.current === firstFailed) return;
    revealedColumn.current = firstFailed;
    const left = LEFT_PAD + firstFailed * (COLUMN_WIDTH + COLUMN_GAP);
    if (left < el.scrollLeft || left + COLUMN_WIDTH > el.scrollLeft + el.clientWidth)
      el.scrollLeft = Math.max(0, left + COLUMN_WIDTH - el.clientWidth + COLUMN_GAP / 2);
  }, [firstFailed]);
  return (
    <div className="pipeline-graph-wrap" ref={wrap}>
      <div
        className="pipeline-graph"
        style={{
          width: layout.width,
          height: layout.height,
          paddingLeft: LEFT_PAD,
          gridTemplateColumns: `repeat(${layout.columns.length}, ${COLUMN_WIDTH}px)`,
          columnGap: COLUMN_GAP,
        }}
      >
        <Edges layout={layout} />
        {layout.columns.map((column) => {
          const failures = column.jobIds.filter((id) => byId.get(id)?.status === 'failed').length;
          return (
            <section key={column.stage} className="stage-column" aria-label={`Stage ${column.stage}`}>
              <h3 style={{ height: HEADER_HEIGHT }}>
                {column.stage}
                {failures > 0 ? (
                  <span className="stage-failed">
                    {' '}
                    <span aria-hidden="true">✖</span> {failures} failed
                  </span>
                ) : null}
              </h3>
              <ul>
                {column.jobIds.map((id) => {
                  const job = byId.get(id);
                  return job ? <JobCard key={id} job={job} permissions={permissions} onDone={onDone} onError={onError} /> : null;
                })}
              </ul>
            </section>
          );
        })}
      </div>
    </div>
  );
}
