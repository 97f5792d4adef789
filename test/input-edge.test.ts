/**
 * What arrives before Brigade's handlers (a URL the router cannot decode, a path parameter past
 * its limit, headers past Node's limit, a request that never finishes) and what the problem
 * builder makes of extras: every answer is problem details with an X-Request-Id of ours.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createTestContext, aTenant, aBranch, bearer, problem, type TestContext, type Session } from './harness.ts';
import { AppError, toProblem } from '../src/platform/errors/index.ts';

let t: TestContext;
let owner: Session;
let base: string;
before(async () => {
  t = await createTestContext({ BRIGADE_REQUEST_TIMEOUT_MS: '300' });
  owner = await aTenant(t.app);
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
});
after(() => t.close());

/** Writes raw bytes to the listening app and reads the whole answer (the server closes, or the reply ends). */
function raw(request: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (data += chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    socket.write(request);
  });
}

function assertProblem(res: { status: number; headers: Record<string, unknown>; body: string }, status: number) {
  assert.equal(res.status, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  const p = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(p.status, status);
  for (const key of ['type', 'title', 'detail', 'code']) assert.equal(typeof p[key], 'string', `problem lacks ${key}`);
  return p;
}

test('a URL the router cannot decode is a 400 problem with X-Request-Id', async () => {
  const res = await t.app.inject({ method: 'GET', url: '/v1/branches/%E0%A4%A', headers: bearer(owner) });
  assert.equal(assertProblem({ status: res.statusCode, headers: res.headers, body: res.body }, 400).code, 'bad_request');
});

test('a path parameter past the router limit is a 400 problem naming the parameters', async () => {
  const res = await t.app.inject({ method: 'GET', url: `/v1/branches/${'a'.repeat(300)}`, headers: bearer(owner) });
  const p = assertProblem({ status: res.statusCode, headers: res.headers, body: res.body }, 400);
  assert.equal(p.code, 'validation_failed');
  assert.deepEqual((p.errors as { path: string }[]).map((e) => e.path), ['params']);
});

test('headers over the server limit (a 20 kB X-Request-Id) get a 431 problem whose request id is ours', async () => {
  const huge = 'r'.repeat(20_000);
  const res = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${huge}\r\n\r\n`);
  assert.equal(assertProblem(res, 431).code, 'headers_too_large');
  assert.ok(!res.body.includes(huge.slice(0, 100)) && res.headers['x-request-id'] !== huge);
});

test('an X-Request-Id too long to be sane is replaced, never echoed', async () => {
  const res = await t.app.inject({ method: 'GET', url: '/v1/me', headers: { ...bearer(owner), 'x-request-id': 'a'.repeat(5000) } });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
});

test('a request that does not arrive within BRIGADE_REQUEST_TIMEOUT_MS gets a 408 problem and the connection closes', async () => {
  // Headers begun, never finished: the server answers on its own once the timeout has passed.
  const res = await raw('POST /v1/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n');
  assert.equal(assertProblem(res, 408).code, 'request_timeout');
});

test('a bad content type, a body too large and malformed JSON are problems with X-Request-Id', async () => {
  const cases: [Record<string, string>, string, number][] = [
    [{ 'content-type': 'text/plain' }, 'hello', 415],
    [{ 'content-type': 'application/json' }, JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }), 413],
    [{ 'content-type': 'application/json' }, '{"name": ', 400],
  ];
  for (const [headers, payload, status] of cases) {
    const res = await t.app.inject({ method: 'POST', url: '/v1/branches', headers: { ...bearer(owner), ...headers }, payload });
    assertProblem({ status: res.statusCode, headers: res.headers, body: res.body }, status);
  }
});

test('a conflict about an order says its state in orderStatus; status stays the HTTP status', async () => {
  const branchId = await aBranch(t, owner.tenant.id);
  const item = await t.app.inject({ method: 'POST', url: '/v1/menu-items', headers: bearer(owner), payload: { name: 'Tea', priceMinor: 250 } });
  const order = await t.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(owner), payload: { branchId, lines: [{ menuItemId: item.json().menuItem.id, quantity: 1 }] } });
  const id = order.json().order.id as string;
  const pay = () => t.app.inject({ method: 'POST', url: `/v1/orders/${id}/pay`, headers: bearer(owner), payload: { method: 'cash', amountMinor: 250 } });
  assert.equal((await pay()).statusCode, 200);
  for (const res of [await pay(), await t.app.inject({ method: 'POST', url: `/v1/orders/${id}/void`, headers: bearer(owner), payload: { reason: 'mistake' } })]) {
    const p = problem(res);
    assert.equal(res.statusCode, 409);
    assert.equal(p.status, 409);
    assert.equal(p.orderStatus, 'paid');
  }
});

test('no extra can stand in for an RFC 9457 member of a problem', () => {
  const extras = { status: 'paid', type: 'evil', title: 't', detail: 'd', instance: 'i', code: 'c', kept: 1 };
  const p = toProblem(new AppError('conflict', 'The real detail.', extras as never), '/v1/x');
  assert.deepEqual(p, { kept: 1, type: '/problems/conflict', title: 'Conflict', status: 409, detail: 'The real detail.', code: 'conflict', instance: '/v1/x' });
});

test('a DELETE with a body of unknown fields is refused and deletes nothing', async () => {
  const branchId = await aBranch(t, owner.tenant.id, 'Kept');
  const res = await t.app.inject({ method: 'DELETE', url: `/v1/branches/${branchId}`, headers: bearer(owner), payload: { tenantId: owner.tenant.id } });
  assert.equal(res.statusCode, 400);
  assert.deepEqual(problem(res).errors, [{ path: 'tenantId', message: 'is not a known field' }]);
  const still = await t.app.inject({ method: 'GET', url: `/v1/branches/${branchId}`, headers: bearer(owner) });
  assert.equal(still.json().branch.archivedAt ?? null, null);
  // The empty body some clients always send is no body.
  assert.equal((await t.app.inject({ method: 'DELETE', url: `/v1/branches/${branchId}`, headers: bearer(owner), payload: {} })).statusCode, 204);
});

test('a request with thousands of faults gets a bounded list of errors', async () => {
  const lines = Array.from({ length: 5000 }, () => ({ menuItemId: 'nope', quantity: 'many', extra: true }));
  const res = await t.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(owner), payload: { branchId: 'nope', lines } });
  assert.equal(res.statusCode, 400);
  const errors = problem(res).errors as unknown[];
  assert.ok(errors.length >= 1 && errors.length <= 20, `${errors.length} errors`);
  // A small request still hears about every field that is wrong.
  const small = await t.app.inject({ method: 'POST', url: '/v1/orders', headers: bearer(owner), payload: { branchId: 'nope', lines: [{ menuItemId: 'nope', quantity: 'many' }] } });
  assert.deepEqual((problem(small).errors as { path: string }[]).map((e) => e.path).sort(), ['branchId', 'lines.0.menuItemId', 'lines.0.quantity']);
});
