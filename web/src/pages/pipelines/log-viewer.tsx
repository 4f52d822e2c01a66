// A job's log: the whole of it for a finished job, followed live (Server-Sent Events) for one still
// running. Only the rows in view are in the DOM (fixed row height under a spacer of the log's full
// height), so a 100,000-line log scrolls as smoothly as a short one.
import {
  useDeferredValue,
  useEffect,
  useEffectEvent,
  useLayoutEffect,
  useMemo,
  useReducer,
  useRef,
  useState,
  type KeyboardEvent,
  type ReactNode,
} from 'react';
import { request } from '../../api.js';
import { ErrorBox } from '../../components/common.js';
import { navigate, useLocation } from '../../router.js';
import { followLog } from './log-stream.js';
import { appendLog, EMPTY_LOG, lineAt, lineCount, type LogLine, type ParsedLog, type Span } from './ansi.js';
import { failureFolds, foldedRows, rowOfLine, type Fold } from './log-folds.js';

/** Pixels per row: the CSS gives `.log-line` exactly this height. */
const ROW_HEIGHT = 18;
/** Rows rendered beyond each edge of the view, so fast scrolling rarely shows a blank. */
const OVERSCAN = 40;
const NO_FOLDS: Fold[] = [];
const linesText = (n: number) => `${n.toLocaleString()} ${n === 1 ? 'line' : 'lines'}`;
/** Past this many matches the search stops counting (the count shows "+"). */
const MAX_MATCHES = 50_000;

type LogAction = { type: 'append'; text: string } | { type: 'reset'; text: string };

function logReducer(log: ParsedLog, action: LogAction): ParsedLog {
  return appendLog(action.type === 'reset' ? EMPTY_LOG : log, action.text);
}

interface Match {
  line: number;
  start: number;
}

function findMatches(log: ParsedLog, query: string): Match[] {
  if (query === '') return [];
  const needle = query.toLowerCase();
  const found: Match[] = [];
  const count = lineCount(log);
  for (let line = 0; line < count && found.length < MAX_MATCHES; line++) {
    const text = lineAt(log, line).text.toLowerCase();
    for (let at = text.indexOf(needle); at !== -1 && found.length < MAX_MATCHES; at = text.indexOf(needle, at + needle.length))
      found.push({ line, start: at });
  }
  return found;
}

/** The line's spans with the query's occurrences marked (`current`: the start of the selected match). */
function renderLine(line: LogLine, needle: string, current: number | null): ReactNode {
  const spans: Span[] = line.spans ?? [{ text: line.text, className: '' }];
  if (needle === '')
    return spans.map((s, i) =>
      s.className ? (
        <span key={i} className={s.className}>
          {s.text}
        </span>
      ) : (
        s.text
      ),
    );
  const lower = line.text.toLowerCase();
  const ranges: [number, number][] = [];
  for (let at = lower.indexOf(needle); at !== -1; at = lower.indexOf(needle, at + needle.length)) ranges.push([at, at + needle.length]);
  const out: ReactNode[] = [];
  let offset = 0;
  for (const span of spans) {
    const end = offset + span.text.length;
    let cut = offset;
    for (const [from, to] of ranges) {
      if (to <= cut || from >= end) continue;
      const a = Math.max(from, cut);
      const b = Math.min(to, end);
      if (a > cut)
        out.push(
          <span key={out.length} className={span.className}>
            {line.text.slice(cut, a)}
          </span>,
        );
      out.push(
        <mark key={out.length} className={`${span.className}${from === current ? ' current' : ''}`}>
          {line.text.slice(a, b)}
        </mark>,
      );
      cut = b;
    }
    if (cut < end)
      out.push(
        <span key={out.length} className={span.className}>
          {line.text.slice(cut, end)}
        </span>,
      );
    offset = end;
  }
  return out;
}

/** The log's text: fetched whole when the job is over, else streamed (the stream replays what came before). */
function useLogText(jobId: number, streaming: boolean, onEnd: () => void): { log: ParsedLog; error: Error | null; ended: boolean } {
  const [log, dispatch] = useReducer(logReducer, EMPTY_LOG);
  const [error, setError] = useState<Error | null>(null);
  const [ended, setEnded] = useState(!streaming);
  const ending = useEffectEvent(onEnd);
  useEffect(() => {
    const abort = new AbortController();
    if (!streaming) {
      request(`/api/v1/jobs/${jobId}/log`, { signal: abort.signal })
        .then((res) => res.text())
        .then(
          (text) => dispatch({ type: 'reset', text }),
          (err: unknown) => {
            if (!abort.signal.aborted) setError(err instanceof Error ? err : new Error(String(err)));
          },
        );
      return () => abort.abort();
    }
    void followLog(jobId, abort.signal, {
      onChunk: (text) => dispatch({ type: 'append', text }),
      onEnd: () => {
        setEnded(true);
        ending();
      },
      onError: setError,
    });
    return () => abort.abort();
  }, [jobId, streaming]);
  return { log, error, ended };
}

/**
 * `failingLine` (1-based, a failed job's): the log opens there, the sections before it folded and
 * the failing command with its last lines in view; "Expand all" shows every line again.
 */
export function LogViewer({
  jobId,
  live,
  onEnd,
  failingLine = null,
}: {
  jobId: number;
  live: boolean;
  onEnd: () => void;
  failingLine?: number | null;
}) {
  // Whether to stream is decided once per job: a job that ends while followed keeps its stream to the end.
  const [streaming] = useState(live);
  const { log, error, ended } = useLogText(jobId, streaming, onEnd);
  const location = useLocation();
  const target = Number(/^#L(\d+)$/.exec(location.hash)?.[1] ?? 0) || null;
  const [follow, setFollow] = useState(streaming && target === null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(600);
  const [query, setQuery] = useState('');
  const [selected, setSelected] = useState({ query: '', index: 0 });
  const viewport = useRef<HTMLDivElement>(null);
  // Where the viewer itself last scrolled to: a scroll above it is the user's, and stops following.
  const autoScrolledTo = useRef(0);
  const scrolledToTarget = useRef<number | null>(null);

  const total = lineCount(log);
  // Only a whole log is folded: one followed live keeps every line as it arrives.
  const failure = useMemo(() => (streaming || failingLine === null ? null : failureFolds(log, failingLine)), [streaming, failingLine, log]);
  const folds = failure?.folds ?? NO_FOLDS;
  const [openFolds, setOpenFolds] = useState<ReadonlySet<number>>(new Set());
  const [allOpen, setAllOpen] = useState(false);
  const rows = useMemo(() => (allOpen ? null : foldedRows(total, folds, openFolds)), [allOpen, total, folds, openFolds]);
  const rowCount = rows === null ? total : rows.length;
  const rowOf = (line: number) => rowOfLine(rows, folds, line);
  const lineAtRow = (row: number) => {
    if (rows === null || rows.length === 0) return row;
    const value = rows[Math.min(row, rows.length - 1)];
    return value >= 0 ? value : folds[-1 - value].from;
  };
  const isHidden = (line: number) => rows !== null && rows[rowOf(line)] !== line;
  const openFold = (index: number) => setOpenFolds((open) => new Set(open).add(index));
  const scrolledToFailure = useRef(false);
  // When every fold opens or closes at once, this line stays where it is in the box (the failing
  // command when it is in view, else the top line), or is brought to its middle (a folded line asked for).
  const keepLine = useRef<{ line: number; offset: number } | null>(null);
  const deferredQuery = useDeferredValue(query);
  const matches = useMemo(() => findMatches(log, deferredQuery), [log, deferredQuery]);
  const matchIndex = selected.query === deferredQuery ? Math.min(selected.index, Math.max(0, matches.length - 1)) : 0;
  const currentMatch = matches.length > 0 ? matches[matchIndex] : null;

  useEffect(() => {
    const el = viewport.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setViewHeight(el.clientHeight));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useLayoutEffect(() => {
    const el = viewport.current;
    if (!follow || !el) return;
    el.scrollTop = el.scrollHeight;
    autoScrolledTo.current = el.scrollTop;
  }, [follow, total]);

  // A line folded away is shown with every other line: a search match or a `#L` link asks for it.
  const scrollToLine = (line: number) => {
    const el = viewport.current;
    if (!el) return;
    if (isHidden(line)) {
      // Scrolled once every line is there (the box is still folded now).
      keepLine.current = { line, offset: Math.floor(el.clientHeight / 2) };
      setAllOpen(true);
      return;
    }
    el.scrollTop = Math.max(0, rowOf(line) * ROW_HEIGHT - el.clientHeight / 2);
    autoScrolledTo.current = el.scrollTop;
  };

  const scrollToTarget = useEffectEvent(scrollToLine);
  // A `#L123` link (or a reload of one) brings its line into view once the log has reached it.
  useEffect(() => {
    if (target === null || target > total || scrolledToTarget.current === target) return;
    scrolledToTarget.current = target;
    scrollToTarget(target - 1);
  }, [target, total]);

  useLayoutEffect(() => {
    const el = viewport.current;
    if (!el || keepLine.current === null) return;
    el.scrollTop = Math.max(0, rowOfLine(rows, folds, keepLine.current.line) * ROW_HEIGHT - keepLine.current.offset);
    keepLine.current = null;
    autoScrolledTo.current = el.scrollTop;
    setScrollTop(el.scrollTop);
  }, [rows, folds]);

  // A failed job's log opens with its failing command near the top of the box and its last lines below.
  useLayoutEffect(() => {
    const el = viewport.current;
    if (!el || failingLine === null || failure === null || failure.end === 0 || scrolledToFailure.current || target !== null) return;
    scrolledToFailure.current = true;
    const firstRow = rowOfLine(rows, folds, failingLine - 1);
    const lastRow = rowOfLine(rows, folds, failure.end - 1);
    el.scrollTop = Math.max(0, (firstRow - 2) * ROW_HEIGHT);
    autoScrolledTo.current = el.scrollTop;
    setScrollTop(el.scrollTop);
    // And the page, when the box starts too low in a small window: just enough to show the command's
    // last lines, never past the command itself.
    const top = el.getBoundingClientRect().top - el.scrollTop;
    const commandTop = top + firstRow * ROW_HEIGHT;
    const lastBottom = Math.min(top + (lastRow + 1) * ROW_HEIGHT, el.getBoundingClientRect().bottom);
    if (lastBottom > window.innerHeight) window.scrollBy(0, Math.max(0, Math.min(lastBottom - window.innerHeight + 8, commandTop - 8)));
  }, [failingLine, failure, target, rows, folds]);

  const onScroll = () => {
    const el = viewport.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_HEIGHT;
    if (follow && !atBottom && el.scrollTop < autoScrolledTo.current - 2) setFollow(false);
  };

  const select = (step: number) => {
    if (matches.length === 0) return;
    const index = (matchIndex + step + matches.length) % matches.length;
    setSelected({ query: deferredQuery, index });
    setFollow(false);
    scrollToLine(matches[index].line);
  };
  const onSearchKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    select(e.shiftKey ? -1 : 1);
  };

  // While following, the window is the log's end whatever the last scroll event said.
  const visibleRows = Math.ceil(viewHeight / ROW_HEIGHT);
  const firstVisible = follow ? Math.max(0, rowCount - visibleRows) : Math.floor(scrollTop / ROW_HEIGHT);
  const first = Math.max(0, firstVisible - OVERSCAN);
  const last = Math.min(rowCount, firstVisible + visibleRows + OVERSCAN);
  const needle = deferredQuery.toLowerCase();
  // Section folds by their title line, for the toggle that row carries.
  const foldAfter = new Map<number, number>();
  if (rows !== null) folds.forEach((f, index) => f.kind === 'section' && !openFolds.has(index) && foldAfter.set(f.from - 1, index));
  const elements: ReactNode[] = [];
  for (let r = first; r < last; r++) {
    const i = rows === null ? r : rows[r];
    if (i < 0) {
      const index = -1 - i;
      const fold = folds[index];
      elements.push(
        <div key={`fold-${index}`} className="log-line log-fold">
          <span className="log-number" />
          <button type="button" className="log-fold-toggle" onClick={() => openFold(index)}>
            <span aria-hidden="true">▸ </span>
            {linesText(fold.to - fold.from)} more
          </button>
        </div>,
      );
      continue;
    }
    const number = i + 1;
    const folded = foldAfter.get(i);
    elements.push(
      <div
        key={i}
        className={`log-line${number === target ? ' target' : ''}${number === failingLine ? ' failing' : ''}`}
        data-line={number}
        aria-current={number === target ? 'location' : undefined}
      >
        <a
          className="log-number"
          href={`#L${number}`}
          aria-label={`Line ${number}`}
          onClick={(e) => {
            e.preventDefault();
            setFollow(false);
            navigate(`${location.pathname}${location.search}#L${number}`, { replace: true });
          }}
        >
          {number}
        </a>
        {folded !== undefined ? (
          <button
            type="button"
            className="log-fold-toggle"
            onClick={() => openFold(folded)}
            aria-expanded={false}
            title="Show this section's lines"
          >
            <span aria-hidden="true">▸ </span>
            {linesText(folds[folded].to - folds[folded].from)}
          </button>
        ) : null}
        <span className="log-text">{renderLine(lineAt(log, i), needle, currentMatch?.line === i ? currentMatch.start : null)}</span>
      </div>,
    );
  }

  return (
    <section aria-labelledby="log-heading" className="log-section">
      <h2 id="log-heading">Log</h2>
      <div className="log-toolbar">
        <label className="log-search">
          Search the log
          <input
            type="search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={onSearchKey}
            placeholder="Enter: next, Shift+Enter: previous"
          />
        </label>
        <span className="muted" role="status" aria-live="polite">
          {deferredQuery === ''
            ? ''
            : matches.length === 0
              ? 'No matches'
              : `${matchIndex + 1} of ${matches.length}${matches.length >= MAX_MATCHES ? '+' : ''}`}
        </span>
        <button type="button" onClick={() => select(-1)} disabled={matches.length === 0}>
          Previous
        </button>
        <button type="button" onClick={() => select(1)} disabled={matches.length === 0}>
          Next
        </button>
        <label className="inline-check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        {folds.length > 0 ? (
          <button
            type="button"
            onClick={() => {
              const box = viewport.current;
              if (box) {
                const failingRow = failingLine === null ? -1 : rowOf(failingLine - 1) * ROW_HEIGHT - box.scrollTop;
                keepLine.current =
                  failingLine !== null && failingRow >= 0 && failingRow < box.clientHeight
                    ? { line: failingLine - 1, offset: failingRow }
                    : { line: lineAtRow(Math.floor(box.scrollTop / ROW_HEIGHT)), offset: 0 };
              }
              setAllOpen((open) => !open);
            }}
          >
            {allOpen ? 'Fold earlier sections' : 'Expand all'}
          </button>
        ) : null}
        <a className="button" href={`/api/v1/jobs/${jobId}/log`} download={`job-${jobId}.log`}>
          Download
        </a>
        <span className="muted">
          {total.toLocaleString()} lines{ended ? '' : ' so far'}
        </span>
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {/* A short log gets a short box; a long one scrolls within two thirds of the window. */}
      <div
        className="log-viewport"
        style={{ height: `min(65vh, ${(rowCount + 1) * ROW_HEIGHT + 8}px)` }}
        ref={viewport}
        onScroll={onScroll}
        tabIndex={0}
        role="region"
        aria-label={`Log of job ${jobId}`}
      >
        <div className="log-spacer" style={{ height: rowCount * ROW_HEIGHT }}>
          <div className="log-rows" style={{ transform: `translateY(${first * ROW_HEIGHT}px)` }}>
            {elements}
          </div>
        </div>
      </div>
    </section>
  );
}
