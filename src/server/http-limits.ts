// What keeps slow or numerous clients from holding a replica's sockets and memory: a deadline for a
// request body, and caps on open connections per client address and in total. Header timeouts and
// keep-alive timeouts are Node's own (set in app.ts). Responses may last long (long-polls, SSE):
// only the time to receive a request is bounded.
import type { Server } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './http.js';

/**
 * Whether a request has body bytes not yet received (a length above zero, or chunked). A response
 * sent then (a refused caller, a 413, a 408) closes the connection: Node would otherwise read the
 * rest only to discard it, and the sender could keep the connection busy.
 */
export function bodyUnread(request: FastifyRequest): boolean {
  const { headers } = request.raw;
  const declared =
    headers['content-length'] !== undefined ? Number(headers['content-length']) > 0 : headers['transfer-encoding'] !== undefined;
  return declared && !request.raw.complete;
}

/** The one content type whose body is handed to its handler as a stream (artifact uploads, app.ts). */
function isStreamed(request: FastifyRequest): boolean {
  return /^application\/octet-stream\b/i.test(request.headers['content-type'] ?? '');
}

/**
 * The request body as a stream that fails with 408 when it is late: a buffered body must arrive
 * whole within `timeoutMs`; a streamed upload (which may be large and legitimately slow) fails only
 * when no byte arrives for `timeoutMs`. For Fastify's preParsing hook.
 */
export function withBodyDeadline(request: FastifyRequest, reply: FastifyReply, payload: Readable, timeoutMs: number): Readable {
  if (!bodyUnread(request)) return payload;
  // The caller has been checked (preParsing runs after the route's access check): a client that
  // waits for it (Expect: 100-continue) may send its body now. See continueAfterCheck.
  if (/^100-continue$/i.test(request.headers.expect ?? '')) reply.raw.writeContinue();
  const streamed = isStreamed(request);
  const watched = new PassThrough();
  // The reader (the body parser, an upload handler) has its own listener; once a response went out
  // without reading the body, the deadline's error has no one to tell and must not crash the process.
  watched.on('error', () => undefined);
  const expire = () => {
    // The socket is left open for the 408 (sent with Connection: close); the rest of the body is never read.
    payload.unpipe(watched);
    payload.pause();
    const seconds = Math.round(timeoutMs / 1000);
    watched.destroy(
      new ApiError(408, streamed ? `request body: no data for ${seconds} s` : `request body not received within ${seconds} s`),
    );
  };
  const timer = setTimeout(expire, timeoutMs);
  if (streamed) payload.on('data', () => timer.refresh());
  payload.once('end', () => clearTimeout(timer));
  payload.once('close', () => clearTimeout(timer));
  watched.once('close', () => clearTimeout(timer));
  reply.raw.once('close', () => clearTimeout(timer));
  payload.pipe(watched);
  return watched;
}

/**
 * A request with `Expect: 100-continue` gets no 100 Continue before its caller is checked (Node
 * would send it at once): refused callers are answered before they send their bodies at all.
 */
export function continueAfterCheck(server: Server): void {
  server.on('checkContinue', (request, response) => server.emit('request', request, response));
}

export interface ConnectionLimits {
  perAddress: number;
  total: number;
  /** Addresses or CIDRs not counted per address (load balancers: every client comes through them). */
  exempt: readonly string[];
  /** Called for each connection refused, with the reason. */
  onRefused?(reason: 'address' | 'total'): void;
}

const NAMED_RANGES: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** A block list of addresses, CIDRs and proxy-addr's names (loopback, linklocal, uniquelocal); throws on anything else. */
export function addressList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries.flatMap((e) => NAMED_RANGES[e] ?? [e])) {
    const [address, prefix] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix)))
      throw new Error(`trustedProxies: "${entry}" is not an address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

/** An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; it is one address either way. */
function clientAddress(socket: Socket): string | null {
  const address = socket.remoteAddress;
  if (!address) return null;
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

const TOO_MANY = JSON.stringify({
  error: 'too many requests',
  message: 'too many open connections from this address; close some and retry',
});

/**
 * Caps the server's open connections: beyond `total`, Node drops new ones; beyond `perAddress`
 * from one client address, a connection is answered 429 and closed before any request is read.
 */
export function limitConnections(server: Server, limits: ConnectionLimits): void {
  server.maxConnections = limits.total;
  server.on('drop', () => limits.onRefused?.('total'));
  const exempt = addressList(limits.exempt);
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = clientAddress(socket);
    if (address === null || exempt.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6')) return;
    const count = (open.get(address) ?? 0) + 1;
    if (count > limits.perAddress) {
      limits.onRefused?.('address');
      socket.end(
        `HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: ${TOO_MANY.length}\r\n\r\n${TOO_MANY}`,
        () => socket.destroy(),
      );
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
