// Follows a job log's Server-Sent Events over fetch, which tells a refusal (403, 404: stop) from a
// server going away (retry) where EventSource cannot. Each chunk's data is a JSON string (raw text
// would lose its `\r`s to SSE's line framing). Reconnects send Last-Event-ID (the last chunk's seq),
// so the server resumes after it: no chunk twice.
import { ApiError } from '../../api.js';

const RETRY_MS = 1000;

export interface LogStreamHandlers {
  onChunk: (text: string) => void;
  /** The server said the job is over (the stream ends for good). */
  onEnd: () => void;
  /** A failure the stream will not retry (no access, no such job), or null once it flows again. */
  onError: (error: Error | null) => void;
}

interface Frame {
  event: string;
  id: string | null;
  data: string;
}

function parseFrame(frame: string): Frame | null {
  let event = 'message';
  let id: string | null = null;
  const data: string[] = [];
  for (const line of frame.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
    if (field === 'event') event = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  return data.length === 0 ? null : { event, id, data: data.join('\n') };
}

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Streams job `jobId`'s log until the job is over or `signal` aborts. */
export async function followLog(jobId: number, signal: AbortSignal, handlers: LogStreamHandlers): Promise<void> {
  let lastId: string | null = null;
  while (!signal.aborted) {
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (lastId !== null) headers['last-event-id'] = lastId;
      const res = await fetch(`/api/v1/jobs/${jobId}/log/stream`, { headers, credentials: 'same-origin', signal });
      if (!res.ok || !res.body) {
        const error = new ApiError(res.status, `The live log could not be opened: ${(await res.text()) || res.statusText}`);
        // Access and existence do not change by retrying; a busy or restarting server may.
        if (res.status < 500) return handlers.onError(error);
        throw error;
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const frame = parseFrame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (!frame) continue;
          if (frame.event === 'end') {
            await reader.cancel();
            return handlers.onEnd();
          }
          if (frame.event !== 'log') continue;
          if (frame.id !== null) lastId = frame.id;
          handlers.onError(null);
          handlers.onChunk(JSON.parse(frame.data) as string);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      handlers.onError(err instanceof Error ? err : new Error(String(err)));
    }
    await pause(RETRY_MS, signal);
  }
}
