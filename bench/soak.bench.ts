/**
 * Memory under sustained load: one API process driven by the authenticated tenant read for
 * BENCH_SOAK_SECONDS (default 600) in one-minute stretches, resident memory read after each.
 * Growth from the first loaded minute to the last is what a leak would show.
 */
import { benchTenant, brigadeApi, rssMb, loadAll, loadNote, connections } from './processes.ts';
import { fmt } from './load.ts';

const total = Number(process.env.BENCH_SOAK_SECONDS ?? 600);
const stretch = Math.min(60, total);
const { t, token, branchId } = await benchTenant();
const before = loadNote();
const api = await brigadeApi(t.ownerUrl);
try {
  const samples: { at: number; rss: number; rps: number }[] = [{ at: 0, rss: rssMb(api.pid), rps: 0 }];
  for (let at = stretch; at <= total; at += stretch) {
    const r = await loadAll([`${api.url}/v1/branches/${branchId}`], { authorization: `Bearer ${token}` }, stretch);
    if (r.errors || r.non2xx) throw new Error(`soak: ${r.non2xx} non-2xx and ${r.errors} errors`);
    samples.push({ at, rss: rssMb(api.pid), rps: r.requestsPerSecond });
  }
  const loaded = samples.slice(1);
  const growth = loaded[loaded.length - 1]!.rss - loaded[0]!.rss;
  process.stdout.write(`## Soak: resident memory over ${fmt(total / 60, 1)} minutes of load

One API process at \`LOG_LEVEL=info\`, ${connections} connections on GET /v1/branches/:id, memory read from /proc after each ${stretch} s.

| after s | RSS MB | requests/s in the stretch |
| ---: | ---: | ---: |
${samples.map((s) => `| ${s.at} | ${s.rss} | ${s.at ? fmt(s.rps) : 'idle, after start'} |`).join('\n')}

**Growth from the first loaded stretch to the last: ${growth >= 0 ? '+' : ''}${growth} MB** (${fmt(samples.reduce((n, s) => n + s.rps * stretch, 0))} requests in all).
Machine load before: ${before}; after: ${loadNote()}.
`);
} finally {
  await api.stop();
  await t.close();
}
