// One run of one check. A probe reports what it saw against what was expected; it never decides the
// release's fate (the runner counts streaks). Probes stop when `signal` aborts (the check's timeout or
// the end of verification) by throwing; the runner tells a timeout from the end.
import { spawn } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { Check, CommandCheck, Condition, HttpCheck, PrometheusCheck, TcpCheck } from './types.js';
import { compileUntrustedRegex } from '../../pipeline/index.js';

export type Outcome =
  | { status: 'pass'; detail: string; output?: string[] }
  | { status: 'fail'; detail: string; output?: string[] }
  /** A metric query found nothing to judge; the check's noData decides what that means. */
  | { status: 'no-data'; detail: string };

export interface ProbeContext {
  signal: AbortSignal;
  env: Record<string, string>;
  cwd: string;
}

export async function probe(check: Check, ctx: ProbeContext): Promise<Outcome> {
  // The probes below wait for an abort event, which an already aborted signal never fires.
  ctx.signal.throwIfAborted();
  switch (check.kind) {
    case 'http':
      return probeHttp(check, ctx);
    case 'tcp':
      return probeTcp(check, ctx);
    case 'command':
      return probeCommand(check, ctx);
    case 'prometheus':
      return probePrometheus(check, ctx);
  }
}

const MAX_BODY = 1 << 20;
const MAX_OUTPUT = 64 * 1024;

interface HttpAnswer {
  status: number;
  body: string;
  ms: number;
}

/** A GET on a fresh connection (no keep-alive pool): the answer must come from whoever listens now. */
function httpGet(url: URL, signal: AbortSignal): Promise<HttpAnswer> {
  const started = performance.now();
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      { method: 'GET', agent: false, signal, headers: { 'user-agent': 'tandem-verify', accept: '*/*' } },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < MAX_BODY) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8'),
            ms: performance.now() - started,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function probeHttp(check: HttpCheck, ctx: ProbeContext): Promise<Outcome> {
  let answer: HttpAnswer;
  try {
    answer = await httpGet(new URL(check.url), ctx.signal);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    return { status: 'fail', detail: `expected an answer, got ${errorText(err)}` };
  }
  const problems: string[] = [];
  const statusOk = check.expectStatus ? check.expectStatus.includes(answer.status) : answer.status >= 200 && answer.status < 300;
  if (!statusOk) problems.push(`expected status ${check.expectStatus ? check.expectStatus.join(' or ') : '2xx'}, got ${answer.status}`);
  if (check.body !== null && !compileUntrustedRegex(check.body, '').test(answer.body))
    problems.push(`expected the body to match /${check.body}/, got ${quote(answer.body)}`);
  if (check.maxLatencyMs !== null && answer.ms > check.maxLatencyMs) {
    problems.push(`expected an answer within ${formatMs(check.maxLatencyMs)}, took ${formatMs(answer.ms)}`);
  }
  if (problems.length > 0) return { status: 'fail', detail: problems.join('; ') };
  return { status: 'pass', detail: `status ${answer.status} in ${formatMs(answer.ms)}` };
}

function probeTcp(check: TcpCheck, ctx: ProbeContext): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ host: check.host, port: check.port });
    const onAbort = (): void => {
      socket.destroy();
      reject(ctx.signal.reason);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const settle = (outcome: Outcome): void => {
      ctx.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    };
    socket.once('connect', () => settle({ status: 'pass', detail: `connected in ${formatMs(performance.now() - started)}` }));
    socket.once('error', (err) => settle({ status: 'fail', detail: `expected the port to accept connections, got ${errorText(err)}` }));
  });
}

function probeCommand(check: CommandCheck, ctx: ProbeContext): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    // A group of its own, so a timeout ends the whole script, not only the shell.
    const child = spawn('sh', ['-c', check.command], { cwd: ctx.cwd, env: ctx.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-MAX_OUTPUT);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const onAbort = (): void => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err) => {
      ctx.signal.removeEventListener('abort', onAbort);
      resolve({ status: 'fail', detail: `expected the command to run, got ${errorText(err)} (in ${ctx.cwd})` });
    });
    child.once('close', (code, signal) => {
      ctx.signal.removeEventListener('abort', onAbort);
      if (ctx.signal.aborted) {
        reject(ctx.signal.reason);
        return;
      }
      const lines = output
        .split('\n')
        .map((l) => l.trimEnd())
        .filter((l) => l !== '');
      if (code === 0) {
        resolve({ status: 'pass', detail: 'exit status 0', output: lines });
        return;
      }
      const last = lines.at(-1);
      const seen = code === null ? `killed by ${signal}` : `exit status ${code}`;
      resolve({ status: 'fail', detail: `expected exit status 0, got ${seen}${last ? `: ${quote(last)}` : ''}`, output: lines });
    });
  });
}

interface PromSample {
  labels: Record<string, string>;
  value: number;
}

async function probePrometheus(check: PrometheusCheck, ctx: ProbeContext): Promise<Outcome> {
  const base = check.url.endsWith('/') ? check.url : `${check.url}/`;
  const url = new URL('api/v1/query', base);
  url.searchParams.set('query', check.query);
  let answer: HttpAnswer;
  try {
    answer = await httpGet(url, ctx.signal);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    return { status: 'fail', detail: `expected Prometheus at ${check.url} to answer, got ${errorText(err)}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(answer.body);
  } catch {
    return {
      status: 'fail',
      detail: `expected a Prometheus API answer from ${url.origin}, got status ${answer.status}: ${quote(answer.body)}`,
    };
  }
  const reply = json as { status?: unknown; errorType?: unknown; error?: unknown; data?: { resultType?: unknown; result?: unknown } };
  if (reply.status === 'error') return { status: 'fail', detail: `query error (${String(reply.errorType)}): ${String(reply.error)}` };
  if (reply.status !== 'success' || !reply.data)
    return { status: 'fail', detail: `expected a Prometheus API answer, got status ${answer.status}: ${quote(answer.body)}` };

  let samples: PromSample[];
  if (reply.data.resultType === 'vector') {
    samples = (reply.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      labels: r.metric,
      value: promNumber(r.value[1]),
    }));
  } else if (reply.data.resultType === 'scalar') {
    samples = [{ labels: {}, value: promNumber((reply.data.result as [number, string])[1]) }];
  } else {
    return { status: 'fail', detail: `expected the query to return an instant vector or a scalar, got a ${String(reply.data.resultType)}` };
  }
  // A NaN sample (0/0, a ratio without traffic) has nothing to judge, like a missing series.
  const judged = samples.filter((s) => !Number.isNaN(s.value));
  if (judged.length === 0)
    return { status: 'no-data', detail: samples.length === 0 ? 'the query returned no series' : 'the query returned only NaN' };
  const bad = judged.filter((s) => !satisfies(s.value, check.condition));
  const expected = `${check.condition.op} ${check.condition.value}`;
  if (bad.length > 0) {
    const more = bad.length > 1 ? ` and ${bad.length - 1} more of ${judged.length} series` : '';
    return { status: 'fail', detail: `expected ${expected}, got ${bad[0].value}${formatLabels(bad[0].labels)}${more}` };
  }
  return { status: 'pass', detail: `${judged.map((s) => `${s.value}${formatLabels(s.labels)}`).join(', ')} ${expected}` };
}

/** Prometheus writes infinities as "+Inf"/"-Inf", which Number() does not read. */
function promNumber(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

export function satisfies(value: number, c: Condition): boolean {
  switch (c.op) {
    case '<':
      return value < c.value;
    case '<=':
      return value <= c.value;
    case '>':
      return value > c.value;
    case '>=':
      return value >= c.value;
    case '==':
      return value === c.value;
    case '!=':
      return value !== c.value;
  }
}

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : ` {${entries.map(([k, v]) => `${k}="${v}"`).join(', ')}}`;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
}

function quote(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > 120 ? `${flat.slice(0, 120)}…` : flat);
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  // Node reports a refused IPv4+IPv6 attempt as an AggregateError with an empty message.
  if (!e.message && e.code) return e.code;
  return e.message || String(err);
}
