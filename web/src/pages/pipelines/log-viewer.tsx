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

/** Pixels per row: the CSS gives `.log-line` exactly this height. */
const ROW_HEIGHT = 18;
/** Rows rendered beyond each edge of the view, so fast scrolling rarely shows a blank. */
const OVERSCAN = 40;
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

export function LogViewer({ jobId, live, onEnd }: { jobId: number; live: boolean; onEnd: () => void }) {
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

  const scrollToLine = (line: number) => {
    const el = viewport.current;
    if (!el) return;
    el.scrollTop = Math.max(0, line * ROW_HEIGHT - el.clientHeight / 2);
    autoScrolledTo.current = el.scrollTop;
  };

  // A `#L123` link (or a reload of one) brings its line into view once the log has reached it.
  useEffect(() => {
    if (target === null || target > total || scrolledToTarget.current === target) return;
    scrolledToTarget.current = target;
    scrollToLine(target - 1);
  }, [target, total]);

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
  const firstVisible = follow ? Math.max(0, total - visibleRows) : Math.floor(scrollTop / ROW_HEIGHT);
  const first = Math.max(0, firstVisible - OVERSCAN);
  const last = Math.min(total, firstVisible + visibleRows + OVERSCAN);
  const needle = deferredQuery.toLowerCase();
  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    const number = i + 1;
    rows.push(
      <div
        key={i}
        className={`log-line${number === target ? ' target' : ''}`}
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
        style={{ height: `min(65vh, ${(total + 1) * ROW_HEIGHT + 8}px)` }}
        ref={viewport}
        onScroll={onScroll}
        tabIndex={0}
        role="region"
        aria-label={`Log of job ${jobId}`}
      >
        <div className="log-spacer" style={{ height: total * ROW_HEIGHT }}>
          <div className="log-rows" style={{ transform: `translateY(${first * ROW_HEIGHT}px)` }}>
            {rows}
          </div>
        </div>
      </div>
    </section>
  );
}
