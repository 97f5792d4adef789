/**
 * `npm test`: every *.test.ts under src/ and test/, each file in its own process against real
 * PostgreSQL and Redis. Ends with one line CI reads: "N passed, N failed". A skipped or todo
 * test counts as failed: nothing is done until it runs.
 */
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

async function findTests(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') out.push(...(await findTests(full)));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

// `test/run.ts --dir test/faults`: the fault suite (its own servers, minutes long) runs only so,
// as does `--dir test/scale` (scripts/scale-out.sh starts its cluster); `npm test` runs the rest.
const args = process.argv.slice(2);
const dirAt = args.indexOf('--dir');
const dirs = dirAt >= 0 ? [args[dirAt + 1]!] : ['src', 'test'];
const filter = dirAt >= 0 ? args.filter((_, i) => i !== dirAt && i !== dirAt + 1) : args;
const ownServers = [path.resolve('test/faults'), path.resolve('test/scale')];
const files = (await Promise.all(dirs.map((d) => findTests(path.resolve(d))))).flat().sort()
  .filter((f) => dirAt >= 0 || !ownServers.some((d) => f.startsWith(d + path.sep)))
  .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)));

// The longest files start first, so the short ones fill the other slots around them instead of
// leaving one long file running alone at the end.
const slowFirst = ['billing.chaos.test.ts', 'startup.test.ts', 'embedded.test.ts', 'console.test.ts'];
const rank = (f: string) => {
  const i = slowFirst.indexOf(path.basename(f));
  return i < 0 ? slowFirst.length : i;
};
files.sort((a, b) => rank(a) - rank(b));

let passed = 0;
let failed = 0;
const stream = run({ files, concurrency: Number(process.env.TEST_CONCURRENCY ?? 2), timeout: dirAt >= 0 ? 540_000 : 600_000 });
stream.on('test:pass', (e) => {
  if (e.details.type === 'suite') return;
  if (e.skip || e.todo) failed++;
  else passed++;
});
stream.on('test:fail', (e) => {
  // A suite's failure is counted only when its own hooks failed; its tests count themselves.
  const kind = (e.details.error as { failureType?: string } | undefined)?.failureType;
  if (e.details.type === 'suite' && kind !== 'hookFailed') return;
  failed++;
});
const report = stream.compose(new spec());
report.pipe(process.stdout, { end: false });
await new Promise((resolve) => report.once('end', resolve));
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
