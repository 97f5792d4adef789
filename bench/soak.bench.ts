/**
 * Memory under sustained load: one API process driven by the authenticated tenant read for
 * BENCH_SOAK_SECONDS (default 600) in one-minute stretches, resident memory read after each,
 * and the V8 heap (used and total) and external memory from the API's own /metrics. Growth from
 * the first loaded minute to the last is what a leak would show; a heap whose used size stays
 * flat while RSS rises is the allocator holding freed pages, not live objects.
 */
import { benchTenant, brigadeApi, rssMb, loadAll, loadNote, connections } from './processes.ts';
import { fmt } from './load.ts';

const total = Number(process.env.BENCH_SOAK_SECONDS ?? 600);
const stretch = Math.min(60, total);
const { t, token, branchId } = await benchTenant();
const before = loadNote();
const api = await brigadeApi(t.ownerUrl);
try {
  const gauges = async () => {
    const text = await (await fetch(`${api.url}/metrics`)).text();
    const mb = (name: string) => Math.round(Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20);
    return { heapUsed: mb('nodejs_heap_size_used_bytes'), heapTotal: mb('nodejs_heap_size_total_bytes'), external: mb('nodejs_external_memory_bytes') };
  };
  const samples: { at: number; rss: number; rps: number; heapUsed: number; heapTotal: number; external: number }[] = [{ at: 0, rss: rssMb(api.pid), rps: 0, ...(await gauges()) }];
  for (let at = stretch; at <= total; at += stretch) {
    const r = await loadAll([`${api.url}/v1/branches/${branchId}`], { authorization: `Bearer ${token}` }, stretch);
    if (r.errors || r.non2xx) throw new Error(`soak: ${r.non2xx} non-2xx and ${r.errors} errors`);
    samples.push({ at, rss: rssMb(api.pid), rps: r.requestsPerSecond, ...(await gauges()) });
  }
  const loaded = samples.slice(1);
  const growth = loaded[loaded.length - 1]!.rss - loaded[0]!.rss;
  const heapGrowth = loaded[loaded.length - 1]!.heapUsed - loaded[0]!.heapUsed;
  const sign = (n: number) => `${n >= 0 ? '+' : ''}${n}`;
  process.stdout.write(`## Soak: resident memory over ${fmt(total / 60, 1)} minutes of load

One API process at \`LOG_LEVEL=info\`, ${connections} connections on GET /v1/branches/:id; after each ${stretch} s, RSS from /proc and the V8 heap and external memory from the API's /metrics.

| after s | RSS MB | heap used MB | heap total MB | external MB | requests/s in the stretch |
| ---: | ---: | ---: | ---: | ---: | ---: |
${samples.map((s) => `| ${s.at} | ${s.rss} | ${s.heapUsed} | ${s.heapTotal} | ${s.external} | ${s.at ? fmt(s.rps) : 'idle, after start'} |`).join('\n')}

**Growth from the first loaded stretch to the last: RSS ${sign(growth)} MB, heap used ${sign(heapGrowth)} MB** (${fmt(samples.reduce((n, s) => n + s.rps * stretch, 0))} requests in all).
Machine load before: ${before}; after: ${loadNote()}.
`);
} finally {
  await api.stop();
  await t.close();
}
