/**
 * An authenticated, tenant-scoped read of one row by id through the whole stack (token check,
 * context store, row-level security, permission check, logging) against a bare baseline in the
 * same run: node:http + pg running the same SELECT as the owner role, with no auth and no RLS.
 */
import http from 'node:http';
import pg from 'pg';
import { createTestContext, aTenant, aBranch } from '../test/harness.ts';
import { load, fmt } from './load.ts';
import pino from 'pino';
import { createLogger } from '../src/platform/log.ts';
import { billingModule } from '../src/modules/billing/index.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
// Log lines are part of the stack's cost, so they are written (to /dev/null, not the terminal).
const t = await createTestContext({ LOG_LEVEL: 'info', BRIGADE_TENANT_RATE_LIMIT: '1000000' }, { log: createLogger('info', pino.destination('/dev/null')) });
try {
  const owner = await aTenant(t.app, 'Bench Bistro');
  // The rate limiter runs, but on a plan without a rate of its own: only the ceiling above applies.
  await t.platform.tenancy.withSystem('bench: plan', (trx) => trx.updateTable('subscriptions').set({ plan: 'enterprise', status: 'active' }).where('tenant_id', '=', owner.tenant.id).execute());
  billingModule(t.platform).service.invalidate(owner.tenant.id);
  const branchId = await aBranch(t, owner.tenant.id, 'Bench Branch');
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const stackUrl = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}/v1/branches/${branchId}`;

  const barePool = new pg.Pool({ connectionString: t.ownerUrl, max: 20 });
  const bare = http.createServer(async (req, res) => {
    const id = req.url!.split('/').pop();
    const r = await barePool.query('SELECT id, name, address, timezone, archived_at, created_at FROM branches WHERE tenant_id = $1 AND id = $2', [owner.tenant.id, id]);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ branch: r.rows[0] }));
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const bareUrl = `http://127.0.0.1:${(bare.address() as { port: number }).port}/branches/${branchId}`;

  const check = await fetch(stackUrl, { headers: { authorization: `Bearer ${owner.token}` } });
  if (check.status !== 200) throw new Error(`stack route answered ${check.status}: ${await check.text()}`);

  await load(bareUrl, { seconds: 2 });
  await load(stackUrl, { seconds: 2, headers: { authorization: `Bearer ${owner.token}` } });
  const baseline = await load(bareUrl, { seconds });
  const stack = await load(stackUrl, { seconds, headers: { authorization: `Bearer ${owner.token}` } });
  if (stack.non2xx || stack.errors) throw new Error(`stack run had ${stack.non2xx} non-2xx and ${stack.errors} errors`);

  const ratio = stack.requestsPerSecond / baseline.requestsPerSecond;
  process.stdout.write(`## Foundation: authenticated tenant read vs bare baseline

One row by id, 16 connections, ${seconds}s each, autocannon in its own process, PostgreSQL on the same machine.

| | requests/s | p50 ms | p99 ms |
| --- | ---: | ---: | ---: |
| bare: node:http + pg, same SELECT, no auth, no RLS | ${fmt(baseline.requestsPerSecond)} | ${baseline.p50} | ${baseline.p99} |
| Brigade: GET /v1/branches/:id (auth, context, RLS, permission, logs) | ${fmt(stack.requestsPerSecond)} | ${stack.p50} | ${stack.p99} |

**Ratio: ${fmt(ratio * 100, 1)}% of bare throughput** (target ≥ 60%).

Round trips per request: bare 1; Brigade 1 to PostgreSQL once the token is warm — \`set_config\`
and the SELECT pipelined as one implicit transaction (\`readAsTenant\`); the token check is served
from the in-process session cache, which triggers and LISTEN/NOTIFY empty the moment a session,
member or role changes (docs/decisions/0003-round-trips.md). A cold token adds one round trip
(\`brigade_authenticate($1)\`). The per-tenant rate limit counts locally and reaches Redis off the
request path. Without these it would be 6 round trips (auth, Redis, BEGIN, set_config, SELECT, COMMIT).
`);
  await new Promise((r) => bare.close(r));
  await barePool.end();
} finally {
  await t.close();
}
