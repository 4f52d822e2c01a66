// Helpers shared by the end-to-end tests: bounded polling, Server-Sent Events reading and signed
// webhook deliveries built the way each provider builds them.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { TestTandem } from '../support/tandem.js';

/** Makes a new user a developer of `repo` only: a member of it who is none of another repository's. */
export async function addOutsider(tandem: TestTandem, repo: string, username = 'outsider'): Promise<void> {
  const user = await tandem.api('POST', '/api/v1/users', { username, password: 'a-long-password-1' });
  assert.equal(user.status, 201, user.text);
  const member = await tandem.api('PUT', `/api/v1/repos/${repo}/members/${username}`, { role: 'developer' });
  assert.equal(member.status, 200, member.text);
}

/** Polls `probe` until it returns a value other than undefined; throws naming `what` after timeoutMs. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface SseEvent {
  event: string;
  id: string | null;
  /** The event's data, decoded (every Tandem event carries JSON; a log chunk is a JSON string). */
  data: unknown;
  /** Date.now() when the event arrived, to tell live delivery from a replayed backlog. */
  receivedAt: number;
}

/** The text of a log stream's chunks, in order. */
export function logText(events: SseEvent[]): string {
  return events
    .filter((e) => e.event === 'log')
    .map((e) => e.data as string)
    .join('');
}

/**
 * Reads an SSE stream until the server closes it (or `stop` says so), bounded by timeoutMs.
 * `opened` resolves once the response headers arrived, i.e. the server is subscribed.
 */
export function readSse(
  url: string,
  token: string,
  opts: { timeoutMs?: number; stop?: (e: SseEvent) => boolean; lastEventId?: string } = {},
): { opened: Promise<void>; events: Promise<SseEvent[]> } {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs ?? 15_000);
  let markOpen!: () => void;
  const opened = new Promise<void>((resolve) => (markOpen = resolve));
  const events = (async () => {
    const out: SseEvent[] = [];
    try {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
      // A reconnecting EventSource sends the id of the last event it got.
      if (opts.lastEventId !== undefined) headers['last-event-id'] = opts.lastEventId;
      const res = await fetch(url, { headers, signal: abort.signal });
      if (res.status !== 200 || !res.body) throw new Error(`SSE ${url}: HTTP ${res.status} ${await res.text()}`);
      markOpen();
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const bytes of res.body) {
        // Lines end at CR, LF or CRLF, as the SSE standard (and a browser's EventSource) reads them.
        buffer += decoder.decode(bytes as Uint8Array, { stream: true }).replace(/\r\n?/g, '\n');
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { event: 'message', id: null, data: null, receivedAt: Date.now() };
          const data: string[] = [];
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) event.event = line.slice(7);
            else if (line.startsWith('id: ')) event.id = line.slice(4);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0 && event.event === 'message') continue; // a comment (keep-alive)
          event.data = JSON.parse(data.join('\n'));
          out.push(event);
          if (opts.stop?.(event)) return out;
        }
      }
      return out;
    } catch (err) {
      if (abort.signal.aborted)
        throw new Error(`SSE ${url} did not end within ${opts.timeoutMs ?? 15_000} ms; got ${JSON.stringify(out.map((e) => e.event))}`);
      throw err;
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  })();
  // The caller awaits `events`; an early failure must not also surface as an unhandled `opened`.
  events.catch(() => markOpen());
  return { opened, events };
}

export type Provider = 'github' | 'gitlab' | 'gitea' | 'bitbucket';

export interface Delivery {
  headers: Record<string, string>;
  body: string;
}

/** A signed push delivery of `ref` moving from `before` to `after`, shaped and signed as the provider does it. */
export function pushDelivery(
  provider: Provider,
  secret: string,
  push: { ref: string; before: string; after: string; deliveryId: string },
): Delivery {
  const hmac = (body: string) => createHmac('sha256', secret).update(body).digest('hex');
  const json = { 'content-type': 'application/json' };
  const isTag = push.ref.startsWith('refs/tags/');
  const shortName = push.ref.replace(/^refs\/(heads|tags)\//, '');
  switch (provider) {
    case 'github': {
      const body = JSON.stringify({
        ref: push.ref,
        before: push.before,
        after: push.after,
        deleted: false,
        head_commit: { id: push.after },
      });
      return {
        body,
        headers: { ...json, 'x-github-event': 'push', 'x-github-delivery': push.deliveryId, 'x-hub-signature-256': `sha256=${hmac(body)}` },
      };
    }
    case 'gitlab': {
      const body = JSON.stringify({
        object_kind: isTag ? 'tag_push' : 'push',
        ref: push.ref,
        before: push.before,
        after: push.after,
        checkout_sha: push.after,
      });
      return {
        body,
        headers: {
          ...json,
          'x-gitlab-event': isTag ? 'Tag Push Hook' : 'Push Hook',
          'x-gitlab-event-uuid': push.deliveryId,
          'x-gitlab-token': secret,
        },
      };
    }
    case 'gitea': {
      const body = JSON.stringify({ ref: push.ref, before: push.before, after: push.after, head_commit: { id: push.after } });
      return { body, headers: { ...json, 'x-gitea-event': 'push', 'x-gitea-delivery': push.deliveryId, 'x-gitea-signature': hmac(body) } };
    }
    case 'bitbucket': {
      const side = (hash: string) => ({ type: isTag ? 'tag' : 'branch', name: shortName, target: { hash } });
      const body = JSON.stringify({
        push: { changes: [{ new: side(push.after), old: /^0+$/.test(push.before) ? null : side(push.before) }] },
      });
      return {
        body,
        headers: { ...json, 'x-event-key': 'repo:push', 'x-request-uuid': push.deliveryId, 'x-hub-signature': `sha256=${hmac(body)}` },
      };
    }
  }
}

/** POSTs a delivery to the provider's hook URL of `repo`; returns status and parsed body. */
export async function deliver(
  baseUrl: string,
  provider: Provider,
  repo: string,
  delivery: Delivery,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}/api/v1/hooks/${provider}/${repo}`, {
    method: 'POST',
    headers: delivery.headers,
    body: delivery.body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
