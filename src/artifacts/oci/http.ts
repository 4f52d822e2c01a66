// One HTTP(S) request to a registry or its token service: a fresh connection, a time limit, a body
// size limit, an optional extra CA, and no redirect followed (credentials would go with it).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';

export interface RegistryHttpOptions {
  /** PEM of extra CA certificates, trusted besides Node's own roots. */
  ca?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface RegistryAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Thrown when no answer came (refused, TLS, timeout) or the body was too large. */
export class RegistryTransportError extends Error {
  override name = 'RegistryTransportError';
}

export function registryRequest(
  url: URL,
  method: 'GET' | 'HEAD',
  headers: Record<string, string>,
  maxBodyBytes: number,
  opts: RegistryHttpOptions,
): Promise<RegistryAnswer> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const signal = opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]) : AbortSignal.timeout(opts.timeoutMs);
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method,
        agent: false,
        signal,
        headers: { 'user-agent': 'tandem', ...headers },
        ...(opts.ca && url.protocol === 'https:' ? { ca: [...rootCertificates, opts.ca] } : {}),
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBodyBytes) {
            res.destroy(new RegistryTransportError(`${method} ${url.host}${url.pathname}: answer larger than ${maxBodyBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (err) => reject(transportError(err, method, url, opts)));
      },
    );
    req.on('error', (err) => reject(transportError(err, method, url, opts)));
    req.end();
  });
}

function transportError(err: Error, method: string, url: URL, opts: RegistryHttpOptions): Error {
  if (err instanceof RegistryTransportError) return err;
  const timedOut = err.name === 'AbortError' && !opts.signal?.aborted;
  const code = (err as NodeJS.ErrnoException).code;
  const reason = timedOut ? `no answer within ${opts.timeoutMs / 1000} s` : `${code ? `${code}: ` : ''}${err.message}`;
  return new RegistryTransportError(`${method} ${url.host}${url.pathname}: ${reason}`, { cause: err });
}
