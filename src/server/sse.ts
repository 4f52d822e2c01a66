// Server-Sent Events on a raw Fastify reply: headers, periodic comments to keep proxies from closing
// idle streams, and cleanup when the client goes away.
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseStream {
  /**
   * Every event's data is JSON, a log chunk's text included: the stream's framing ends lines at
   * CR as well as LF, so raw text with a progress bar's `\r` would reach a standard client (a
   * browser's EventSource) cut apart.
   */
  send(event: string, data: unknown, id?: number | string): void;
  close(): void;
  /** Aborted when the client disconnects or the stream is closed. */
  signal: AbortSignal;
}

/** `keepAliveMs`: how often a comment is written when nothing else is (default 15 s). */
export function openSse(request: FastifyRequest, reply: FastifyReply, opts: { keepAliveMs?: number } = {}): SseStream {
  const controller = new AbortController();
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write(': connected\n\n');
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), opts.keepAliveMs ?? 15_000);
  const close = () => {
    if (controller.signal.aborted) return;
    clearInterval(keepAlive);
    controller.abort();
    res.end();
  };
  request.raw.on('close', close);
  return {
    signal: controller.signal,
    close,
    send(event, data, id) {
      if (controller.signal.aborted) return;
      let frame = `event: ${event}\n`;
      if (id !== undefined) frame += `id: ${id}\n`;
      res.write(`${frame}data: ${JSON.stringify(data)}\n\n`);
    },
  };
}
