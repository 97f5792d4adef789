/**
 * docs/scaling.md's figures: throughput of the authenticated tenant read with 1, 2 and 4 API
 * processes (each its own `brigade serve`, the load split between them as a load balancer
 * would), against the bare baseline measured in the same rounds, and where it stops scaling on
 * this machine. Written into docs/scaling.md (the first line tells bench/run.ts).
 */
import os from 'node:os';
import { benchTenant, brigadeApi, bareServer, alternate, spread, rssMb, loadAll, loadNote, seconds, warmupSeconds, rounds, connections, type Server } from './processes.ts';
import { fmt } from './load.ts';

const counts = (process.env.BENCH_API_PROCESSES ?? '1,2,4').split(',').map(Number);
const { t, token, tenantId, branchId } = await benchTenant();
const before = loadNote();
const bare = await bareServer(t.ownerUrl, tenantId);
const headers = { authorization: `Bearer ${token}` };
const lines: string[] = [];
const medians: number[] = [];
try {
  for (const n of counts) {
    const apis: Server[] = [];
    try {
      for (let i = 0; i < n; i++) apis.push(await brigadeApi(t.ownerUrl));
      const results = await alternate([
        { name: 'bare', run: (s) => loadAll([`${bare.url}/branches/${branchId}`], {}, s) },
        { name: 'stack', run: (s) => loadAll(apis.map((a) => `${a.url}/v1/branches/${branchId}`), headers, s) },
      ]);
      const stack = spread(results.get('stack')!.map((r) => r.requestsPerSecond));
      const bareRps = spread(results.get('bare')!.map((r) => r.requestsPerSecond));
      medians.push(stack.median);
      const rss = apis.map((a) => rssMb(a.pid));
      lines.push(`| ${n} | ${fmt(stack.median)} | ${fmt(stack.min)} – ${fmt(stack.max)} | ${fmt((stack.median / medians[0]!) * 100, 0)}% | ${fmt(bareRps.median)} | ${fmt((stack.median / bareRps.median) * 100, 1)}% | ${rss.join(', ')} |`);
    } finally {
      await Promise.all(apis.map((a) => a.stop()));
    }
  }
  const best = medians.indexOf(Math.max(...medians));
  process.stdout.write(`<!-- doc: docs/scaling.md -->
## Measured: API processes on one machine

GET /v1/branches/:id (auth, context, RLS, permission, plan, rate limit, logs at info), ${connections}
connections split evenly between the processes, PostgreSQL and the load generator on the same
${os.cpus().length}-core machine; ${warmupSeconds} s warm-up, then ${rounds} alternating rounds of ${seconds} s
against the bare baseline (node:http + pg, one process).

| API processes | requests/s (median) | min – max | vs 1 process | bare (same rounds) | of bare | RSS per process MB |
| ---: | ---: | ---: | ---: | ---: | ---: | --- |
${lines.join('\n')}

${best === counts.length - 1
    ? `Throughput still grows at ${counts[best]} processes on this machine.`
    : `Throughput peaks at ${counts[best]} process${counts[best] === 1 ? '' : 'es'} here: past that, the API processes, PostgreSQL and the load generator
compete for the machine's ${os.cpus().length} cores. On separate machines each API process adds its own share until PostgreSQL is the limit.`}
Machine load before: ${before}; after: ${loadNote()}.
`);
} finally {
  await bare.stop();
  await t.close();
}
