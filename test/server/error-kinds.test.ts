// The one table from refusal kinds to HTTP statuses, and the error handler that answers with it:
// an operation's DomainError reaches the client with its kind's status and its own message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { UserError } from '../../src/auth/users.js';
import { DomainError, type ErrorKind } from '../../src/errors.js';
import { errorHandler } from '../../src/server/app.js';
import { STATUS_OF_KIND, statusOf } from '../../src/server/http.js';

// STATUS_OF_KIND is a Record<ErrorKind, number>: the compiler already refuses a kind left out.
const KINDS = Object.keys(STATUS_OF_KIND) as ErrorKind[];

test('every kind has its own client or server error status', () => {
  for (const kind of KINDS) {
    const status = STATUS_OF_KIND[kind];
    assert.ok(Number.isInteger(status) && status >= 400 && status < 600, `${kind}: ${status}`);
  }
  assert.equal(new Set(KINDS.map((kind) => STATUS_OF_KIND[kind])).size, KINDS.length, 'two kinds share a status');
});

test("statusOf: a DomainError's kind, a library's statusCode, null for anything else", () => {
  assert.equal(statusOf(new UserError('conflict', 'taken')), 409);
  assert.equal(statusOf(Object.assign(new Error('too big'), { statusCode: 413 })), 413);
  assert.equal(statusOf(Object.assign(new Error('ours once'), { httpStatus: 422 })), null);
  assert.equal(statusOf(new Error('boom')), null);
});

test("a DomainError thrown by a route answers with its kind's status, its message and any Retry-After", async (t) => {
  const app = Fastify();
  t.after(() => app.close());
  app.setErrorHandler(errorHandler(1024));
  app.get<{ Params: { kind: ErrorKind } }>('/refuse/:kind', async (request) => {
    const { kind } = request.params;
    throw new DomainError(kind, `refused as ${kind}`, kind === 'rate_limited' ? 7 : undefined);
  });
  app.get('/unexpected', async () => {
    throw new Error('SELECT secret FROM somewhere');
  });

  for (const kind of KINDS) {
    const res = await app.inject({ method: 'GET', url: `/refuse/${kind}` });
    assert.equal(res.statusCode, STATUS_OF_KIND[kind], kind);
    assert.equal(res.json<{ message: string }>().message, `refused as ${kind}`);
    assert.equal(res.headers['retry-after'], kind === 'rate_limited' ? '7' : undefined);
  }
  const unexpected = await app.inject({ method: 'GET', url: '/unexpected' });
  assert.equal(unexpected.statusCode, 500);
  assert.match(unexpected.json<{ message: string }>().message, /^the server failed \(request .+; see its log\)$/);
});
