import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-node';
import { createTestContext, aTenant, bearer, type TestContext } from './harness.ts';
import { startTracing } from '../src/platform/telemetry.ts';

let t: TestContext;
const exporter = new InMemorySpanExporter();
before(async () => {
  t = await createTestContext({}, { tracing: await startTracing(exporter) });
});
after(() => t.close());

test("a request's trace carries the tenant and the user it served", async () => {
  const owner = await aTenant(t.app);
  exporter.reset();
  const res = await t.app.inject({ method: 'GET', url: '/v1/me', headers: { ...bearer(owner), 'x-request-id': 'trace-me' } });
  assert.equal(res.statusCode, 200);
  await t.platform.tracing!.flush();
  const spans = exporter.getFinishedSpans();
  const requestSpan = spans.find((s) => s.attributes['brigade.tenant_id'] === owner.tenant.id);
  assert.ok(requestSpan, `no span carries the tenant; spans: ${spans.map((s) => `${s.name} ${JSON.stringify(s.attributes)}`).join('\n')}`);
  assert.equal(requestSpan.attributes['enduser.id'], owner.user.id);
});
