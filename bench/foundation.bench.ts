/**
 * An authenticated, tenant-scoped read of one row by id through the whole stack (token check,
 * context, row-level security, permission and plan checks, rate limit, logs at info) against a
 * bare baseline: node:http + pg running the same SELECT as the owner role, with no auth and no
 * RLS. Each in its own process, warmed up, then at least five alternating rounds: medians with
 * min and max. Resident memory of the API after start and after the load.
 */
import { benchTenant, brigadeApi, bareServer, alternate, spread, rssMb, loadAll, loadNote, seconds, warmupSeconds, rounds, connections } from './processes.ts';
import { fmt } from './load.ts';

const { t, token, tenantId, branchId } = await benchTenant();
const before = loadNote();
const api = await brigadeApi(t.ownerUrl);
const bare = await bareServer(t.ownerUrl, tenantId);
try {
  const rssStart = rssMb(api.pid);
  const headers = { authorization: `Bearer ${token}` };
  const check = await fetch(`${api.url}/v1/branches/${branchId}`, { headers });
  if (check.status !== 200) throw new Error(`stack route answered ${check.status}: ${await check.text()}`);
  const results = await alternate([
    { name: 'bare', run: (s) => loadAll([`${bare.url}/branches/${branchId}`], {}, s) },
    { name: 'stack', run: (s) => loadAll([`${api.url}/v1/branches/${branchId}`], headers, s) },
  ]);
  const rssAfter = rssMb(api.pid);
  const b = results.get('bare')!;
  const s = results.get('stack')!;
  const bareRps = spread(b.map((r) => r.requestsPerSecond));
  const stackRps = spread(s.map((r) => r.requestsPerSecond));
  const ratios = spread(s.map((r, i) => r.requestsPerSecond / b[i]!.requestsPerSecond));
  const requests = s.reduce((n, r) => n + r.requestsPerSecond * seconds, 0);
  const row = (name: string, rps: ReturnType<typeof spread>, list: typeof b) =>
    `| ${name} | ${fmt(rps.median)} | ${fmt(rps.min)} – ${fmt(rps.max)} | ${spread(list.map((r) => r.p50)).median} | ${spread(list.map((r) => r.p99)).median} |`;
  process.stdout.write(`## Foundation: authenticated tenant read vs bare baseline

One row by id, ${connections} connections, autocannon in its own process, PostgreSQL on the same
machine, Brigade at \`LOG_LEVEL=info\` (every line written) and the bare server each in a process
of its own; ${warmupSeconds} s warm-up each, then ${rounds} alternating rounds of ${seconds} s.

| | requests/s (median) | min – max | p50 ms | p99 ms |
| --- | ---: | ---: | ---: | ---: |
${row('bare: node:http + pg, same SELECT, no auth, no RLS', bareRps, b)}
${row('Brigade: GET /v1/branches/:id (auth, context, RLS, permission, plan, rate limit, logs)', stackRps, s)}

**Ratio: ${fmt(ratios.median * 100, 1)}% of bare** (median of the per-round ratios; min ${fmt(ratios.min * 100, 1)}%, max ${fmt(ratios.max * 100, 1)}%; target ≥ 80%).

Resident memory of the API process: ${rssStart} MB after start, ${rssAfter} MB after about ${fmt(requests)} requests.
Machine load before: ${before}; after: ${loadNote()}.
`);
} finally {
  await api.stop();
  await bare.stop();
  await t.close();
}
