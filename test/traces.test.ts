import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { createTestContext, aTenant, bearer, eventually, type TestContext } from './harness.ts';
import { startTracing } from '../src/platform/telemetry.ts';
import { createLogger } from '../src/platform/log.ts';
import { jobRegistry } from '../src/jobs.ts';
import { startJobs, type JobsRuntime } from '../src/platform/jobs/index.ts';

/**
 * Traces across the whole path, exported over OTLP/HTTP to a real receiver this test runs:
 * the request, its PostgreSQL and Redis calls, and the job it enqueued (through the outbox)
 * share one trace id and carry the tenant, as do their log lines.
 */
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: string } }[];
}

const spans: OtlpSpan[] = [];
const receiver = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    if (req.url === '/v1/traces' && String(req.headers['content-type']).includes('json')) {
      const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
const lines: Record<string, unknown>[] = [];
const sink = new Writable({ write: (chunk, _enc, done) => (String(chunk).split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l))), done()) });

let t: TestContext;
let runtime: JobsRuntime;
before(async () => {
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/v1/traces`;
  t = await createTestContext({}, { tracing: await startTracing(new OTLPTraceExporter({ url })), log: createLogger('info', sink) });
  runtime = await startJobs(t.platform, jobRegistry(), { pollMs: 200, schedulers: false });
});
after(async () => {
  await runtime.close();
  await t.close();
  await new Promise((r) => receiver.close(r));
});

const attr = (s: OtlpSpan, key: string) => s.attributes.find((a) => a.key === key)?.value.stringValue;

test('every log line and span of a request and of the job it enqueued carries the same tenant id and trace id', async () => {
  const owner = await aTenant(t.app, 'Traced Bistro');
  await t.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(owner) });
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/members',
    headers: { ...bearer(owner), 'x-request-id': 'trace-invite-1' },
    payload: { name: 'Ivy Invited', email: `ivy+${Date.now()}@example.com`, roles: [{ role: 'accountant' }] },
  });
  assert.equal(res.statusCode, 201, res.body);
  const requestLines = lines.filter((l) => l.requestId === 'trace-invite-1');
  assert.ok(requestLines.length >= 1);
  const traceId = requestLines[0]!.traceId as string;
  assert.match(traceId, /^[0-9a-f]{32}$/);
  for (const l of requestLines) assert.deepEqual([l.tenantId, l.traceId], [owner.tenant.id, traceId], JSON.stringify(l));

  // The invitation mail job: its log lines, and its span, in the same trace.
  const jobLines = await eventually(async () => {
    const found = lines.filter((l) => l.jobId && l.traceId === traceId);
    return found.some((l) => String(l.msg).startsWith('mail caught')) ? found : null;
  }, 'the invitation job to log its mail');
  for (const l of jobLines) assert.equal(l.tenantId, owner.tenant.id, JSON.stringify(l));

  await t.platform.tracing!.flush();
  const trace = await eventually(async () => {
    await t.platform.tracing!.flush();
    const mine = spans.filter((s) => s.traceId === traceId);
    return mine.some((s) => s.name.startsWith('job mail.')) ? mine : null;
  }, 'the job span to reach the receiver');
  const names = trace.map((s) => s.name);
  assert.ok(names.includes('request'), names.join(', '));
  assert.ok(names.some((n) => n.startsWith('pg ')), 'PostgreSQL spans');
  assert.ok(trace.filter((s) => s.name.startsWith('pg ')).some((s) => spans.find((p) => p.spanId === s.parentSpanId)?.name.startsWith('job ')), 'the job made its own PostgreSQL calls');
  for (const s of trace) assert.equal(attr(s, 'brigade.tenant_id'), owner.tenant.id, `${s.name} carries the tenant`);
  const job = trace.find((s) => s.name.startsWith('job mail.'))!;
  assert.ok(attr(job, 'brigade.job_id'));
  assert.ok(trace.some((s) => attr(s, 'brigade.request_id') === 'trace-invite-1'));

  // Redis: a traced unit of work that reaches Redis gets a client span.
  await t.platform.redis.ping();
  const viaRequest = await t.app.inject({ method: 'GET', url: '/readyz', headers: { 'x-request-id': 'trace-ready' } });
  assert.equal(viaRequest.statusCode, 200);
  await eventually(async () => {
    await t.platform.tracing!.flush();
    return spans.some((s) => s.name === 'redis ping');
  }, 'a Redis span');
});
