/**
 * Memory under sustained load: one API process driven by the authenticated tenant read for
 * BENCH_SOAK_SECONDS (default 600) in one-minute stretches, resident memory read after each,
 * and the V8 heap (used and total) and external memory from the API's own /metrics. Growth from
 * the first loaded minute to the last is what a leak would show; a heap whose used size stays
 * flat while RSS rises is the allocator holding freed pages, not live objects. RSS is split by
 * kind (processes.ts rssByKind) so that such a rise says whose pages they are.
 */
import { benchTenant, brigadeApi, rssMb, rssByKind, loadAll, loadNote, connections } from './processes.ts';
import { fmt } from './load.ts';

const total = Number(process.env.BENCH_SOAK_SECONDS ?? 600);
/** V8's heap spaces whose committed size the table shows (prom-client's names), in this order. */
const SPACES = ['old', 'new', 'code', 'large_object', 'trusted'];
const stretch = Math.min(60, total);
const { t, token, branchId } = await benchTenant();
const before = loadNote();
const api = await brigadeApi(t.ownerUrl);
try {
  const gauges = async () => {
    const text = await (await fetch(`${api.url}/metrics`)).text();
    const mb = (name: string) => Math.round(Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20);
    const space = (name: string) => mb(`nodejs_heap_space_size_total_bytes\\{space="${name}"\\}`);
    return {
      heapUsed: mb('nodejs_heap_size_used_bytes'),
      heapTotal: mb('nodejs_heap_size_total_bytes'),
      external: mb('nodejs_external_memory_bytes'),
      spaces: SPACES.map(space).join(' / '),
    };
  };
  type Sample = { at: number; rss: number; rps: number; heapUsed: number; heapTotal: number; external: number; spaces: string; v8Pages: number; otherAnon: number; files: number };
  const samples: Sample[] = [{ at: 0, rss: rssMb(api.pid), rps: 0, ...(await gauges()), ...rssByKind(api.pid) }];
  for (let at = stretch; at <= total; at += stretch) {
    const r = await loadAll([`${api.url}/v1/branches/${branchId}`], { authorization: `Bearer ${token}` }, stretch);
    if (r.errors || r.non2xx) throw new Error(`soak: ${r.non2xx} non-2xx and ${r.errors} errors`);
    samples.push({ at, rss: rssMb(api.pid), rps: r.requestsPerSecond, ...(await gauges()), ...rssByKind(api.pid) });
  }
  const loaded = samples.slice(1);
  const first = loaded[0]!;
  const last = loaded[loaded.length - 1]!;
  const sign = (n: number) => `${n >= 0 ? '+' : ''}${n}`;
  const grew = (k: 'rss' | 'v8Pages' | 'otherAnon') => sign(last[k] - first[k]);
  // Heap used is a sawtooth between collections: its floor (the lowest reading) in each half of the soak is what a leak would raise.
  const half = Math.ceil(loaded.length / 2);
  const floor = (xs: Sample[]) => Math.min(...xs.map((x) => x.heapUsed));
  process.stdout.write(`## Soak: resident memory over ${fmt(total / 60, 1)} minutes of load

One API process at \`LOG_LEVEL=info\`, ${connections} connections on GET /v1/branches/:id; after each ${stretch} s, RSS from /proc and the V8 heap and external memory from the API's /metrics. RSS by kind from /proc/<pid>/smaps: V8's heap pages (its 256 KiB mappings), other anonymous memory (malloc's arenas, stacks, native pools) and mapped files (the node binary, libraries). Heap total split by V8's space (committed MB): ${SPACES.join(' / ')}.

| after s | RSS MB | V8 pages MB | other anonymous MB | files MB | heap used MB | heap total MB | by space MB | external MB | requests/s in the stretch |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${samples.map((s) => `| ${s.at} | ${s.rss} | ${s.v8Pages} | ${s.otherAnon} | ${s.files} | ${s.heapUsed} | ${s.heapTotal} | ${s.spaces} | ${s.external} | ${s.at ? fmt(s.rps) : 'idle, after start'} |`).join('\n')}

**From the first loaded stretch to the last: RSS ${grew('rss')} MB (V8 pages ${grew('v8Pages')}, other anonymous ${grew('otherAnon')}); heap used's floor ${floor(loaded.slice(0, half))} MB in the first half, ${floor(loaded.slice(half))} MB in the second** (${fmt(samples.reduce((n, s) => n + s.rps * stretch, 0))} requests in all).
Machine load before: ${before}; after: ${loadNote()}.
`);
} finally {
  await api.stop();
  await t.close();
}
