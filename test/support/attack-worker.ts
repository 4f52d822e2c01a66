// The client side of the resource attacks in test/security/http-*.test.ts, run in a worker thread
// so that its sockets cost the server's event loop nothing the real attacker's would not. Started
// by startAttack (attacks.ts): it reports `ready` once the attack is established, holds it, and on
// `stop` closes every socket and reports what it saw.
import { connect, type Socket } from 'node:net';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { AttackReport, AttackSpec } from './attacks.js';

const spec = workerData as AttackSpec;
// A real attacker's CPU is its own; here it shares the machine (and the test's other processes do
// too). On Linux a priority set from a thread is that thread's alone: the server keeps precedence.
try {
  setPriority(0, 19);
} catch {
  // Not permitted here: the measurement only gets harder.
}
const target = new URL(spec.url);
const sockets = new Set<Socket>();
const report: AttackReport = { opened: 0, closedByServer: 0, statuses: {}, bytesSent: 0, closedAfterMs: [] };
let stopping = false;

function statusOf(data: Buffer): string | null {
  return /^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'))?.[1] ?? null;
}

/** One connection from the attack's source address; `onOpen` starts its part (again on each reconnection when `spec.repeatAfterMs` is set). */
function open(onOpen: (socket: Socket) => void): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host: target.hostname, port: Number(target.port), localAddress: spec.sourceAddress });
    sockets.add(socket);
    let answered = false;
    socket.on('connect', () => {
      report.opened++;
      onOpen(socket);
      resolve();
    });
    socket.on('data', (data) => {
      const status = statusOf(data);
      if (status === null || answered) return;
      answered = true;
      report.statuses[status] = (report.statuses[status] ?? 0) + 1;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      if (!stopping) {
        report.closedByServer++;
        report.closedAfterMs.push(Date.now() - started);
        if (spec.repeatAfterMs !== undefined) setTimeout(() => void open(onOpen), spec.repeatAfterMs);
      }
      resolve();
    });
  });
}

/** Writes a byte at a time, `intervalMs` apart, until the socket closes. */
function trickle(socket: Socket, text: string, intervalMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || !socket.writable) return clearInterval(timer);
    socket.write(text[at % text.length]);
    report.bytesSent++;
    at++;
  }, intervalMs);
  socket.once('close', () => clearInterval(timer));
}

async function start(): Promise<void> {
  const host = `${target.hostname}:${target.port}`;
  const batch: Promise<void>[] = [];
  for (let i = 0; i < spec.connections; i++) {
    batch.push(
      open((socket) => {
        switch (spec.kind) {
          case 'slow-headers':
            // A request line and then header bytes, one at a time: the headers never end.
            socket.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n`);
            trickle(socket, 'X-Slow: aaaaaaaaaaaaaaaaaaaa\r\n', spec.trickleMs ?? 1000);
            break;
          case 'slow-body':
            // Complete headers of a public route, then its body a byte at a time.
            socket.write(
              `POST ${spec.path ?? '/api/v1/session'} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
            );
            trickle(socket, ' ', spec.trickleMs ?? 1000);
            break;
          case 'idle':
            break;
          case 'large-body': {
            // A big body for a route that needs credentials, sent without them, as fast as it goes.
            const size = spec.bodyBytes ?? 15 * 1024 * 1024;
            socket.write(
              `POST ${spec.path ?? '/api/v1/repos'} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
            );
            const chunk = Buffer.alloc(64 * 1024, 0x20);
            let sent = 0;
            const pump = () => {
              while (sent < size && !socket.destroyed) {
                const n = Math.min(chunk.length, size - sent);
                sent += n;
                report.bytesSent += n;
                if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void socket.once('drain', pump);
              }
            };
            pump();
            break;
          }
          case 'event-streams':
            socket.write(
              `GET ${spec.path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${spec.token}\r\nAccept: text/event-stream\r\n\r\n`,
            );
            break;
        }
      }),
    );
    // Connections are opened in groups, as fast as the kernel takes them, without a thundering herd.
    if (batch.length % 50 === 0) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  // Give the server a moment to answer (429, 401) before reporting the attack in place.
  await new Promise((r) => setTimeout(r, spec.settleMs ?? 300));
  parentPort!.postMessage({ type: 'ready', report });
}

parentPort!.on('message', (message: string) => {
  if (message === 'report') parentPort!.postMessage({ type: 'report', report });
  if (message !== 'stop') return;
  stopping = true;
  for (const socket of sockets) socket.destroy();
  parentPort!.postMessage({ type: 'done', report });
});

start().catch((err: unknown) => parentPort!.postMessage({ type: 'error', message: (err as Error).message }));
