// Server-Sent Events on a raw Fastify reply: headers, periodic comments to keep proxies from closing
// idle streams, and cleanup when the client goes away; and the caps on how many may be open.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/index.js';
import { ApiError } from './http.js';

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

/** Why a stream was refused: its principal holds too many, or this replica does. */
export type StreamRefusal = 'streams_per_principal' | 'streams_total';

/**
 * Caps the event streams open on this replica, per principal (a user's tokens and sessions count
 * together) and in total: each holds a socket and a subscription. Beyond a cap, 429 with Retry-After.
 */
export class EventStreamLimits {
  private readonly open = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly limits: { perPrincipal: number; total: number },
    private readonly onRefused: (reason: StreamRefusal) => void = () => undefined,
  ) {}

  /** Takes a place for a new stream of the principal (or throws 429); the function returned gives it back, once. */
  admit(principal: Principal): () => void {
    const key = principalKey(principal);
    const held = this.open.get(key) ?? 0;
    if (held >= this.limits.perPrincipal)
      throw this.refuse(
        'streams_per_principal',
        `${describe(principal)} has ${held} event streams open, the most allowed (maxEventStreamsPerPrincipal); close one and retry`,
      );
    if (this.total >= this.limits.total)
      throw this.refuse(
        'streams_total',
        `this server has ${this.total} event streams open, the most allowed (maxEventStreams); retry later`,
      );
    this.open.set(key, held + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left === 0) this.open.delete(key);
      else this.open.set(key, left);
    };
  }

  private refuse(reason: StreamRefusal, message: string): ApiError {
    this.onRefused(reason);
    return Object.assign(new ApiError(429, message), { retryAfterSeconds: 10 });
  }
}

function principalKey(principal: Principal): string {
  switch (principal.kind) {
    case 'user':
      return `user:${principal.userId}`;
    case 'agent':
      return `agent:${principal.agentId}`;
    case 'job':
      return `job:${principal.jobId}`;
    case 'anonymous':
      return 'anonymous';
  }
}

function describe(principal: Principal): string {
  return principal.kind === 'user'
    ? `user ${principal.username}`
    : principal.kind === 'anonymous'
      ? 'an anonymous caller'
      : `this ${principal.kind}`;
}
